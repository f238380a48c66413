#!/usr/bin/env bash
# The whole test suite: generates the test data (ONNX conformance cases, sample CNN, the real
# model from the rapidocr wheel, bad inputs) with the venv, runs `swift test` on PoCL (every op
# in both kernel styles), then the GPU-style kernels on the Oclgrind GPU simulator
# (scripts/test-gpu-simulator.sh: API checks and data-race detection, any simulator error fails).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Tests/generate-test-data.sh
swift build --build-tests
swift test --skip-build
scripts/test-gpu-simulator.sh
