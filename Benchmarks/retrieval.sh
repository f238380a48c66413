#!/usr/bin/env bash
# Retrieval speed: search queries/s on a synthetic 100,000 × 4096 database (random unit vectors,
# 1.6 GB) with `gpuinfer bench-search`, and indexing images/s with `gpuinfer index` over a folder
# of N copies of transformed sample photos (default model netvlad; MODEL=path.onnx for another).
# With AB=1 each is run twice, interleaved: search with GPUINFER_SEARCH_SCORES=tiled (the GPU-style
# scores kernel) and packed, index with GPUINFER_PIPELINE=0 (no background decoding) and 1.
# Usage: Benchmarks/retrieval.sh [DEVICE]   env: ENTRIES, DIM, QUERIES, IMAGES, BATCH, MODEL, AB
set -euo pipefail
cd "$(dirname "$0")/.."
device=${1:-0}
swift build -c release --product gpuinfer >/dev/null
bin=.build/release/gpuinfer
echo "== search: ${ENTRIES:-100000} × ${DIM:-4096}, ${QUERIES:-100} queries per batch"
scores=${AB:+tiled packed}
for s in ${scores:-default}; do
    [ "$s" = default ] || echo "-- GPUINFER_SEARCH_SCORES=$s"
    GPUINFER_SEARCH_SCORES=${s#default} "$bin" bench-search --device "$device" --entries "${ENTRIES:-100000}" --dim "${DIM:-4096}" --queries "${QUERIES:-100}" --iterations 3 --check
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/python - "$work/photos" "${IMAGES:-32}" <<'PY'
import os, sys
from PIL import Image, ImageOps
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
img = Image.open("Models/samples/grace_hopper.jpg").convert("RGB")
for i in range(n):
    v = img.rotate(i * 7 % 360, expand=True) if i % 2 else ImageOps.mirror(img)
    v.resize((400 + 13 * i % 300, 300 + 17 * i % 250)).save(f"{out}/photo_{i:04d}.jpg", quality=90)
PY
echo "== index: ${IMAGES:-32} photos with ${MODEL:-netvlad}, batch ${BATCH:-8}"
pipeline=${AB:+0 1}
for p in ${pipeline:-default}; do
    [ "$p" = default ] || echo "-- GPUINFER_PIPELINE=$p"
    rm -rf "$work/db"
    GPUINFER_PIPELINE=${p#default} "$bin" index --device "$device" "${MODEL:-netvlad}" "$work/photos" --output "$work/db" --batch "${BATCH:-8}" --quiet
done
