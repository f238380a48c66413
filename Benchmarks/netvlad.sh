#!/usr/bin/env bash
# NetVLAD throughput at batch 1 and 8 on each OpenCL device (and the cpu reference backend with
# CPU=1), one JSON line per run. Needs Models/generated/netvlad.onnx (scripts/demo.sh writes it).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product gpuinfer >/dev/null
bin=.build/release/gpuinfer
devices=$("$bin" devices | awk 'NR > 1 && $1 ~ /^[0-9]+$/ { print $1 }')
[ "${CPU:-0}" = 1 ] && devices="$devices cpu"
for device in $devices; do
    for batch in 1 8; do
        "$bin" bench netvlad --device "$device" --batch "$batch" --iterations "${ITERATIONS:-3}" --warmup 0 --json
    done
done
