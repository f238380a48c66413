#!/usr/bin/env bash
# The main job: builds gpuinfer, lists the devices, generates the sample CNN and runs it on the
# default device (first OpenCL GPU, else the first OpenCL device, else the reference backend),
# then checks it node by node against the reference backend.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product gpuinfer
bin=.build/release/gpuinfer
"$bin" devices
.venv/bin/python Models/make_sample_cnn.py --out Tests/data/generated
"$bin" run Tests/data/generated/sample_cnn.onnx --input input=Tests/data/generated/sample_cnn_input_b1.npy --output-dir Tests/data/generated/demo-out
"$bin" verify Tests/data/generated/sample_cnn.onnx --device 0 --input input=Tests/data/generated/sample_cnn_input_b1.npy
