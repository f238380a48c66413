#!/usr/bin/env bash
# The whole test suite: generates the test data (ONNX conformance cases, sample CNN, the real
# model from the rapidocr wheel, bad inputs) with the venv, then runs `swift test` on PoCL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Tests/generate-test-data.sh
swift build --build-tests
swift test --skip-build
