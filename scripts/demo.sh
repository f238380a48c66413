#!/usr/bin/env bash
# The main job: builds gpuinfer, lists the devices, generates the sample CNN and runs it on the
# default device (first OpenCL GPU, else the first OpenCL device, else the reference backend),
# compares the result with onnxruntime, then verifies it node by node against the reference.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product gpuinfer
bin=.build/release/gpuinfer
gen=Tests/data/generated
"$bin" devices
.venv/bin/python Models/make_sample_cnn.py --out "$gen"
"$bin" run "$gen/sample_cnn.onnx" --input "input=$gen/sample_cnn_b3_input.npy" --output-dir "$gen/demo-out"
.venv/bin/python - "$gen" <<'PY'
import sys, numpy as np
gen = sys.argv[1]
ours, ort = np.load(f"{gen}/demo-out/probs.npy"), np.load(f"{gen}/sample_cnn_b3_probs.npy")
for i, p in enumerate(ours):
    print(f"image {i}: top class {int(p.argmax())} (p = {p.max():.4f})")
err = float(np.abs(ours - ort).max())
print(f"max |gpuinfer - onnxruntime| over the probabilities: {err:.2e}")
sys.exit(0 if err <= 1e-5 else 1)
PY
if "$bin" devices | grep -qE '^0 '; then
    "$bin" verify "$gen/sample_cnn.onnx" --device 0 --input "input=$gen/sample_cnn_b1_input.npy"
fi
