#!/usr/bin/env bash
# The whole test suite: generates the test data (ONNX conformance cases, sample CNN, the real
# model from the rapidocr wheel, bad inputs, real weights) with the venv, runs the Python weight
# readers' tests (Tests/Python), `swift test` on PoCL (every op
# in both kernel styles), then the GPU-style kernels on the Oclgrind GPU simulator
# (scripts/test-gpu-simulator.sh: API checks and data-race detection, any simulator error fails).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Tests/generate-test-data.sh
# The Python weight readers (TensorFlow checkpoints and frozen graphs, against TensorFlow's own files).
.venv/bin/python -m unittest discover -s Tests/Python
swift build --build-tests
# End-to-end tests of the built binary with Python drivers (scripts/ray_index.py: Ray sharding, merge).
.venv/bin/python -m unittest discover -s Tests/Integration
swift test --skip-build
scripts/test-gpu-simulator.sh
