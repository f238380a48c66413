#!/usr/bin/env bash
# The GPU-style kernels on the Oclgrind GPU simulator (Debian `oclgrind`, installed by
# scripts/setup.sh): GPUSimulatorTests with Oclgrind as the only OpenCL device, OpenCL API checks
# and data-race detection on. Fails when a test fails, when the suite did not run, or on any
# simulator message (invalid access, data race, work-group divergence, API error). Expects the
# tests built (`swift build --build-tests`) and the test data generated (scripts/test.sh does both).
set -euo pipefail
cd "$(dirname "$0")/.."
lib=/usr/lib/oclgrind/liboclgrind-rt-icd.so
if [ ! -f "$lib" ]; then
    echo "error: $lib not found: install oclgrind (scripts/setup.sh)" >&2
    exit 1
fi
icd=.build/oclgrind-icd
mkdir -p "$icd"
echo "$lib" > "$icd/oclgrind.icd"
log=.build/gpu-simulator.log
# The --uninitialized plugin (OCLGRIND_UNINITIALIZED) aborts on LLVM's freeze instruction in
# Debian's Oclgrind 21.10: it stays off.
status=0
OCL_ICD_VENDORS="$PWD/$icd" OCLGRIND_CHECK_API=1 OCLGRIND_DATA_RACES=1 GPUINFER_TEST_DEVICE=0 \
    swift test --skip-build --filter GPUSimulatorTests > "$log" 2>&1 || status=$?
grep -E "✔|✘|passed|failed" "$log" | grep -v "Test case passing" | tail -8
if grep -nE "Invalid (read|write)|data race|Work-group divergence|Uninitialized|runtime error detected|Unsupported instruction|Oclgrind - " "$log"; then
    echo "error: the GPU simulator reported the errors above (full log: $log)" >&2
    exit 1
fi
if [ "$status" != 0 ]; then
    echo "error: GPU simulator tests failed (exit $status; full log: $log)" >&2
    exit 1
fi
if ! grep -q "Suite GPUSimulatorTests passed" "$log" || grep -q "GPUSimulatorTests.*skipped" "$log"; then
    echo "error: GPUSimulatorTests did not run on the Oclgrind device (full log: $log)" >&2
    exit 1
fi
echo "GPU simulator: GPUSimulatorTests passed on Oclgrind with no simulator errors"
