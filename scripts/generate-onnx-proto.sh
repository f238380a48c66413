#!/usr/bin/env bash
# Regenerates Sources/ONNXProto/onnx.pb.swift from the onnx.proto that the `onnx` Python package
# ships. Needs `protoc` (Debian: protobuf-compiler) and a venv with onnx (.venv, see README).
# protoc-gen-swift is built from the swift-protobuf package this project depends on (~100 s).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python=${PYTHON:-$root/.venv/bin/python}
proto_dir=$("$python" -c 'import onnx, os; print(os.path.dirname(onnx.__file__))')
src=${SWIFT_PROTOBUF_SRC:-https://github.com/apple/swift-protobuf}
git clone -q "$src" "$work/swift-protobuf"
git -C "$work/swift-protobuf" checkout -q 1.39.0
swift build -c release --package-path "$work/swift-protobuf" --product protoc-gen-swift
mkdir -p "$work/proto" "$work/out"
cp "$proto_dir/onnx.proto" "$work/proto/onnx.proto"
protoc --plugin=protoc-gen-swift="$work/swift-protobuf/.build/release/protoc-gen-swift" \
    --swift_opt=Visibility=Public --swift_out="$work/out" -I "$work/proto" "$work/proto/onnx.proto"
cp "$work/out/onnx.pb.swift" "$root/Sources/ONNXProto/onnx.pb.swift"
echo "wrote Sources/ONNXProto/onnx.pb.swift"
