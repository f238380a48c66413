// Large initializers are cut out of the protobuf and read straight from the file
// (InitializerPayloads): the tensors must equal what a plain swift-protobuf decode gives, and
// malformed payloads must still be typed errors.
import Foundation
import ONNXProto
import SwiftProtobuf
import Testing
@testable import GPUInfer

@Suite struct InitializerPayloadTests {
    /// A model computing Add(x, big) with initializers above and below the cut size
    /// (4096 bytes): float32 [70,40] (11200 bytes), int64 [600] (4800 bytes), float32 [3].
    private func model(bigDims: [Int64] = [70, 40]) -> Onnx_ModelProto {
        var rng = TestRandom(seed: 11)
        func floats(_ name: String, _ dims: [Int64], count: Int) -> Onnx_TensorProto {
            var t = Onnx_TensorProto()
            t.name = name
            t.dims = dims
            t.dataType = 1
            let v = (0..<count).map { _ in rng.float() }
            t.rawData = v.withUnsafeBufferPointer { Data(buffer: $0) }
            return t
        }
        var ints = Onnx_TensorProto()
        ints.name = "ints"
        ints.dims = [600]
        ints.dataType = 7
        ints.rawData = (0..<600).map { Int64($0 * 7 - 1000) }.withUnsafeBufferPointer { Data(buffer: $0) }
        var g = Onnx_GraphProto()
        g.name = "payloads"
        g.initializer = [floats("small", [3], count: 3), floats("big", bigDims, count: 2800), ints]
        var x = Onnx_ValueInfoProto()
        x.name = "x"
        x.type.tensorType.elemType = 1
        x.type.tensorType.shape.dim = [Int64(70), 40].map { var d = Onnx_TensorShapeProto.Dimension(); d.dimValue = $0; return d }
        g.input = [x]
        var y = Onnx_ValueInfoProto()
        y.name = "y"
        g.output = [y]
        var n = Onnx_NodeProto()
        n.opType = "Add"
        n.input = ["x", "big"]
        n.output = ["y"]
        g.node = [n]
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var o = Onnx_OperatorSetIdProto()
        o.version = 17
        m.opsetImport = [o]
        m.graph = g
        return m
    }

    @Test func cutPayloadsEqualThePlainDecode() throws {
        let proto = model()
        let data: Data = try proto.serializedData()
        let scanned = try #require(data.withUnsafeBytes { InitializerPayloads.scan($0) })
        // big and ints are cut (ordinals 1 and 2), small stays in the protobuf.
        #expect(Set(scanned.ranges.keys) == [1, 2])
        #expect(scanned.stripped.count < data.count - 11200 - 4800 + 64)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("payloads-\(UUID().uuidString).onnx").path
        try data.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        for graph in [try ONNXLoader.load(path: path), try ONNXLoader.load(data: data)] {
            for t in proto.graph.initializer {
                let expected = try ONNXLoader.tensor(t)
                let got = try #require(graph.initializers[t.name])
                #expect(got.shape == expected.shape && got.dtype == expected.dtype)
                #expect(got.floats.map(\.bitPattern) == expected.floats.map(\.bitPattern) && got.ints == expected.ints, "\(t.name)")
            }
        }
    }

    @Test func payloadSizeMismatchIsATypedError() throws {
        let data: Data = try model(bigDims: [70, 41]).serializedData()
        #expect { try ONNXLoader.load(data: data) } throws: { error in
            guard case let GPUInferError.invalidModel(location, reason)? = error as? GPUInferError else { return false }
            return location.contains("'big'") && reason.contains("11200 bytes")
        }
    }

    @Test func truncatedInsideAPayloadIsATypedError() throws {
        let data: Data = try model().serializedData()
        for cut in [data.count - 100, data.count / 2, 40] {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("payloads-cut-\(UUID().uuidString).onnx").path
            try data.prefix(cut).write(to: URL(fileURLWithPath: path))
            defer { try? FileManager.default.removeItem(atPath: path) }
            #expect(throws: GPUInferError.self) { try ONNXLoader.load(path: path) }
        }
    }
}
