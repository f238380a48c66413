#!/usr/bin/env bash
# gpuinfer on a GPU machine, as one prepared run (../shared/GPU.md: the GPU machine has no Swift
# toolchain and reaches no package registry; device time is minutes).
#
#   Benchmarks/gpu.sh prepare   here: fills carry/ (git-ignored, < 64 MiB) with gpuinfer built with
#                               the Swift runtime linked in (stripped, gzipped), the shared libraries
#                               it needs, skeletons of the zoo models (Benchmarks/skeleton.py: the
#                               graphs with RandomUniform weights, ~100 KB each instead of up to
#                               600 MB), small real models (mobilenetv2_gap with its real weights)
#                               and one ONNX model per GPU-style kernel
#                               family (Benchmarks/gpu_ops.py).
#   Benchmarks/gpu.sh run       there (device tool: command `Benchmarks/gpu.sh run`, carry ["carry"]):
#                               lists the devices, checks every kernel family against the reference
#                               backend (`gpuinfer verify`: GPU style with CLBlast, with our GEMM, the
#                               direct convolutions, and the CPU-style kernels), checks small whole
#                               models, times the NetVLAD command cold and warm, benchmarks the zoo
#                               at batch 1 and 32 (next to onnxruntime's CUDA provider where
#                               onnxruntime-gpu is installed), and prints one table. Writes
#                               gpu-report.md, gpu-run.log and the JSON results to $OUT (default
#                               carry/out). Each step has a timeout; the whole run stays under 9
#                               minutes (GPU_SH_BUDGET_S, default 500 s: steps that would start after
#                               it are skipped and reported).
#
# Without a GPU the run takes the first OpenCL device (a rehearsal on PoCL: GPU_SH_BATCHES=1).
# fp16 is not in the table: `--precision fp16` is not implemented yet (issue 14).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
carry=$root/carry

prepare() {
    local python=${PYTHON:-.venv/bin/python}
    echo "== building gpuinfer with the Swift runtime linked in (release)"
    swift build -c release --static-swift-stdlib --product gpuinfer --scratch-path .build/static
    rm -rf "$carry"
    mkdir -p "$carry/lib" "$carry/models" "$carry/ops" "$carry/images"
    strip -o "$carry/gpuinfer" .build/static/release/gpuinfer
    gzip -9 "$carry/gpuinfer"
    # Shared libraries beyond libc/libstdc++ (the GPU machine may lack them; `run` links only the missing ones).
    for lib in libclblast.so.1 libturbojpeg.so.0 libpng16.so.16 libOpenCL.so.1 libz.so.1; do
        path=$(ldd .build/static/release/gpuinfer | awk -v l="$lib" '$1 == l { print $3 }')
        [ -n "$path" ] && cp -L "$path" "$carry/lib/$lib"
    done
    echo "== model skeletons"
    for name in netvlad ssdlite_mobilenet_v2 mpncov_resnet50 gldv2_res152 gldv2_inceptionv4 mobilenet_v2; do
        found=""
        for dir in Models/generated Tests/data/generated/${name%%_*} Tests/data/generated/gldv2 Tests/data/generated "${GPUINFER_MODELS:-/nonexistent}"; do
            if [ -f "$dir/$name.onnx" ]; then found=$dir/$name.onnx; break; fi
        done
        if [ -z "$found" ]; then
            echo "   $name: not found (export it with the script in Models/), skipped"
            continue
        fi
        "$python" Benchmarks/skeleton.py "$found" "$carry/models/$name.onnx" | sed 's/^/   /'
    done
    echo "== small real models and kernel-family models"
    for f in Tests/data/generated/real/ch_ppocr_mobile_v2.0_cls_infer.onnx Tests/data/generated/real/ch_PP-OCRv4_det_infer.onnx \
             Tests/data/generated/sample_cnn.onnx Tests/data/generated/mobilenetv2/mobilenetv2_gap.onnx; do
        [ -f "$f" ] && cp "$f" "$carry/models/" || echo "   $f missing (scripts/test.sh generates it), skipped"
    done
    # Inputs for whole-model checks (their dims are dynamic): the test data's, or seeded random.
    input() { [ -f "$carry/models/$1.onnx" ] && [ -f "$3" ] && cp "$3" "$carry/models/$1.input.npy" && echo "$2" > "$carry/models/$1.input"; }
    input sample_cnn input Tests/data/generated/sample_cnn_b1_input.npy || true
    input ch_ppocr_mobile_v2.0_cls_infer x Tests/data/generated/real/ch_ppocr_mobile_v2.0_cls_infer_input.npy || true
    input ch_PP-OCRv4_det_infer x Tests/data/generated/real/ch_PP-OCRv4_det_infer_input.npy || true
    input mobilenetv2_gap input Tests/data/generated/mobilenetv2/input.npy || true
    if [ -f "$carry/models/ssdlite_mobilenet_v2.onnx" ]; then
        "$python" -c "import numpy as np; np.save('$carry/models/ssdlite_mobilenet_v2.input.npy', np.random.default_rng(3).uniform(0, 255, (1, 3, 300, 300)).astype(np.float32))"
        echo image_tensor > "$carry/models/ssdlite_mobilenet_v2.input"
    fi
    "$python" Benchmarks/gpu_ops.py "$carry/ops" | sed 's/^/   /'
    cp Models/samples/grace_hopper.jpg "$carry/images/"
    local mb
    mb=$(du -sm "$carry" | cut -f1)
    echo "carry/: ${mb} MiB"
    if [ "$mb" -ge 64 ]; then echo "error: carry/ is ${mb} MiB; the device tool carries at most 64 MiB" >&2; exit 1; fi
}

run() {
    local out=${OUT:-$carry/out} budget=${GPU_SH_BUDGET_S:-500} batches=${GPU_SH_BATCHES:-1 32}
    mkdir -p "$out"
    exec > >(tee "$out/gpu-run.log") 2>&1
    local tmp
    tmp=$(mktemp -d)
    local gi=$tmp/gpuinfer
    gunzip -c "$carry/gpuinfer.gz" > "$gi"
    chmod +x "$gi"
    # Carried libraries only where the machine has none of its own.
    mkdir -p "$tmp/lib"
    for f in "$carry"/lib/*; do
        ldconfig -p 2>/dev/null | grep -q "$(basename "$f") " || ln -s "$f" "$tmp/lib/"
    done
    export LD_LIBRARY_PATH=$tmp/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    # NVIDIA's OpenCL driver without an ICD file: register it for this run.
    if ! grep -qsl nvidia /etc/OpenCL/vendors/*.icd && ldconfig -p 2>/dev/null | grep -q libnvidia-opencl.so.1; then
        mkdir -p "$tmp/icd"
        echo libnvidia-opencl.so.1 > "$tmp/icd/nvidia.icd"
        export OCL_ICD_VENDORS=$tmp/icd
    fi
    export POCL_CACHE_DIR=$tmp/pocl XDG_CACHE_HOME=$tmp/cache
    echo "== machine"
    date -u
    (nvidia-smi -L || true) 2>/dev/null
    ls /etc/OpenCL/vendors 2>/dev/null || true
    echo "carried libraries used: $(ls "$tmp/lib" | tr '\n' ' ')"
    echo "== devices"
    "$gi" devices
    "$gi" devices --check || true
    local json device
    json=$("$gi" devices --json)
    device=$(echo "$json" | tr '{' '\n' | grep '"type":"GPU"' | head -1 | sed 's/.*"index":\([0-9]*\).*/\1/' || true)
    if [ -z "$device" ]; then
        device=0
        echo "no GPU among the OpenCL devices: a rehearsal on device 0"
    fi
    echo "device: $device"
    local results=$out/gpu-results.jsonl
    : > "$results"
    record() { printf '%s\n' "$1" >> "$results"; }
    left() { [ "$SECONDS" -lt "$budget" ]; }

    echo "== kernel families against the reference backend (gpuinfer verify, seeded random inputs)"
    local pass=0 fail=0 skipped=0
    verify() {  # verify LABEL MODEL [ENV=VALUE ...] [-- gpuinfer options]
        local label=$1 model=$2
        shift 2
        local envs=() opts=()
        while [ $# -gt 0 ]; do
            if [ "$1" = -- ]; then shift; opts=("$@"); break; fi
            envs+=("$1"); shift
        done
        if ! left; then skipped=$((skipped + 1)); record "{\"verify\":\"$label\",\"status\":\"skipped (time budget)\"}"; return; fi
        local line status=0
        line=$(env "${envs[@]}" timeout 120 "$gi" verify "$model" --device "$device" "${opts[@]}" 2>&1 | tail -1) || status=$?
        if [ "$status" = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $label: $line"; fi
        record "{\"verify\":\"$label\",\"exit\":$status,\"result\":\"$(echo "$line" | tr -d '"\\')\"}"
    }
    for m in "$carry"/ops/*.onnx; do
        n=$(basename "$m" .onnx)
        verify "$n (auto)" "$m"
        verify "$n (cpu style)" "$m" -- --kernel-style cpu
        case $n in
            gemm*|matmul*|fc*) verify "$n (GPUINFER_GEMM=local)" "$m" GPUINFER_GEMM=local
                               verify "$n (GPUINFER_GEMM=clblast)" "$m" GPUINFER_GEMM=clblast ;;
            conv*) verify "$n (GPUINFER_CONV=generic)" "$m" GPUINFER_CONV=generic ;;
            depthwise*) verify "$n (GPUINFER_CONV_DW=gpu)" "$m" GPUINFER_CONV_DW=gpu ;;
        esac
    done
    for m in sample_cnn ch_ppocr_mobile_v2.0_cls_infer ch_PP-OCRv4_det_infer ssdlite_mobilenet_v2 mobilenetv2_gap; do
        [ -f "$carry/models/$m.onnx" ] && [ -f "$carry/models/$m.input" ] || continue
        verify "model $m" "$carry/models/$m.onnx" -- --input "$(cat "$carry/models/$m.input")=$carry/models/$m.input.npy"
    done
    echo "verify: $pass passed, $fail failed, $skipped skipped (time budget)"

    echo "== NetVLAD command, cold (empty caches) and warm"
    if [ -f "$carry/models/netvlad.onnx" ] && left; then
        for run in cold warm; do
            local t0 t1
            t0=$(date +%s.%N)
            timeout 120 "$gi" --device "$device" netvlad "$carry/images/grace_hopper.jpg" --models-dir "$carry/models" --output "$tmp/d.npy" > /dev/null || true
            t1=$(date +%s.%N)
            local secs
            secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
            record "{\"netvlad_command\":\"$run\",\"seconds\":$secs}"
            echo "netvlad command $run: $secs s"
        done
    fi

    echo "== benchmarks (gpuinfer bench; skeleton weights)"
    for m in netvlad ssdlite_mobilenet_v2 mobilenetv2_gap mobilenet_v2 mpncov_resnet50 gldv2_res152 gldv2_inceptionv4 ch_PP-OCRv4_det_infer ch_ppocr_mobile_v2.0_cls_infer; do
        [ -f "$carry/models/$m.onnx" ] || continue
        local target=$m size=()
        case $m in
            ch_PP-OCRv4_det_infer) target=$carry/models/$m.onnx size=(--size 640x640) ;;
            ch_ppocr_mobile_v2.0_cls_infer) target=$carry/models/$m.onnx size=(--size 48x192) ;;
            mobilenet_v2) target=$carry/models/$m.onnx size=(--size 224x224) ;;
        esac
        for b in $batches; do
            if ! left; then record "{\"bench\":\"$m\",\"batch\":$b,\"status\":\"skipped (time budget)\"}"; continue; fi
            local line status=0
            line=$(timeout 150 "$gi" bench "$target" "${size[@]}" --device "$device" --batch "$b" --iterations 10 --json --models-dir "$carry/models" 2>"$tmp/err" | tail -1) || status=$?
            if [ "$status" = 0 ] && [ -n "$line" ]; then
                record "{\"bench\":\"$m\",\"batch\":$b,\"result\":$line}"
            else
                record "{\"bench\":\"$m\",\"batch\":$b,\"status\":\"failed (exit $status): $(tail -1 "$tmp/err" | tr -d '"\\')\"}"
            fi
        done
    done

    echo "== onnxruntime CUDA provider"
    if left && command -v python3 > /dev/null && python3 -c "import onnxruntime as o, sys; sys.exit('CUDAExecutionProvider' not in o.get_available_providers())" 2>/dev/null; then
        local list=""
        for m in netvlad ssdlite_mobilenet_v2 mobilenet_v2 gldv2_res152; do
            [ -f "$carry/models/$m.onnx" ] && for b in $batches; do list+="${list:+,}$m:$b"; done
        done
        timeout $((budget - SECONDS > 30 ? budget - SECONDS : 30)) python3 Benchmarks/compare.py --device "$device" --gpuinfer "$gi" --no-build \
            --models "$list" --models-dir "$carry/models" --rounds 1 --iterations 10 --ort-provider cuda --json "$out/compare-cuda.json" || true
    else
        echo "onnxruntime with the CUDA provider is not installed here (or no time left): gpuinfer only"
    fi

    if command -v python3 > /dev/null; then
        python3 Benchmarks/gpu_report.py "$results" ${out:+--compare "$out/compare-cuda.json"} | tee "$out/gpu-report.md"
    else
        cat "$results"
    fi
    echo "total: ${SECONDS} s"
    rm -rf "$tmp"
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: Benchmarks/gpu.sh prepare|run (see the comment at the top)" >&2; exit 2 ;;
esac
