#!/usr/bin/env bash
# SSDLite-MobileNetV2 throughput at batch 1 and 8 on each OpenCL device, timing the sample photo
# (Pillow + OpenCV preprocessing, the same tensor as the tests) with --profile, so that the JSON
# carries the fused detection output's device time (node `detection_output`) next to the total.
# Needs Models/generated/ssdlite_mobilenet_v2.onnx (scripts/demo.sh or Models/ssdlite.py writes it).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product gpuinfer >/dev/null
bin=.build/release/gpuinfer
[ -f Models/generated/ssdlite_mobilenet_v2.onnx ] || .venv/bin/python Models/ssdlite.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv/bin/python - "$tmp" <<'PY'
import sys, numpy as np, cv2
from PIL import Image
rgb = np.asarray(Image.open("Models/samples/grace_hopper.jpg").convert("RGB"))
x = cv2.resize(rgb, (300, 300), interpolation=cv2.INTER_LINEAR).astype(np.float32).transpose(2, 0, 1)[None]
for b in (1, 8):
    np.save(f"{sys.argv[1]}/photo_b{b}.npy", np.repeat(x, b, axis=0))
PY
devices=$("$bin" devices | awk 'NR > 1 && $1 ~ /^[0-9]+$/ { print $1 }')
for device in $devices; do
    for batch in 1 8; do
        "$bin" bench ssdlite_mobilenet_v2 --device "$device" --input "image_tensor=$tmp/photo_b$batch.npy" \
            --iterations "${ITERATIONS:-10}" --warmup 1 --profile --json
    done
done
