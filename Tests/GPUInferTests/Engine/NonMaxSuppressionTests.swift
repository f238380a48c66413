// NonMaxSuppression: the CPU reference and the OpenCL kernels against onnxruntime's
// selected_indices on the edge cases of Tests/Models/make_ssdlite_fixtures.py, and the device
// against the reference on random awkward sizes. Outputs are indices: compared exactly. The IoU
// arithmetic is the same sequence of fp32 operations in Swift, in OpenCL (FP_CONTRACT OFF) and in
// onnxruntime, so even IoUs exactly at the threshold agree.
import Foundation
import Testing
@testable import GPUInfer

@Suite(.serialized) struct NonMaxSuppressionTests {
    static let script = "Tests/Models/make_ssdlite_fixtures.py"

    static let cases = [
        "onnx_suppress_by_iou", "center_point_box", "ties_in_score", "identical_boxes", "identical_boxes_iou_one",
        "zero_area_and_inverted", "zero_area_and_inverted_center", "iou_at_threshold", "iou_below_threshold", "iou_one_third",
        "score_at_threshold", "all_below_score", "all_suppressed", "more_than_limit", "empty_boxes", "max_output_zero",
        "max_output_absent", "random_small", "random_center", "random_large", "random_no_iou",
    ]

    /// Reference and device both give onnxruntime's selected_indices exactly.
    @Test(arguments: cases)
    func matchesOnnxRuntime(name: String) throws {
        let path = try GeneratedData.require("ssdlite/nms/\(name).onnx", script: Self.script)
        func npy(_ s: String) throws -> Tensor { try Npy.read(path: GeneratedData.url("ssdlite/nms/\(name)_\(s).npy").path) }
        let feeds = ["boxes": try npy("boxes"), "scores": try npy("scores")]
        let expected = try npy("expected")
        let model = try Model(path: path)
        let reference = try #require(try ReferenceExecutor().run(model, inputs: feeds)["selected_indices"])
        #expect(reference.shape == expected.shape && reference.ints == expected.ints,
                "\(name): reference \(reference.shape) \(reference.ints.prefix(30)) vs onnxruntime \(expected.shape) \(expected.ints.prefix(30))")
        let session = Session(model: model, runtime: try TestDevice.require())
        let device = try #require(try session.run(feeds)["selected_indices"])
        #expect(device.shape == expected.shape && device.ints == expected.ints,
                "\(name): device \(device.shape) \(device.ints.prefix(30)) vs onnxruntime \(expected.shape) \(expected.ints.prefix(30))")
        // The keep-everything plan (gpuinfer verify) trims the padded rows too.
        let kept = try #require(try session.runKeepingAll(feeds).values["selected_indices"])
        #expect(kept.shape == expected.shape && kept.ints == expected.ints, "\(name): runKeepingAll \(kept.shape)")
    }

    /// A one-node NMS model with the parameters as initializers.
    static func model(maxOut: Int64, iou: Float, score: Float?, center: Int) throws -> Model {
        var initializers = ["max_out": Tensor(shape: [1], ints: [maxOut]), "iou": Tensor(shape: [1], floats: [iou])]
        var inputs = ["boxes", "scores", "max_out", "iou"]
        if let score {
            initializers["score"] = Tensor(shape: [1], floats: [score])
            inputs.append("score")
        }
        let node = Node(name: "nms", opType: "NonMaxSuppression", inputs: inputs, outputs: ["selected"],
                        attributes: ["center_point_box": .int(center)])
        let graph = Graph(nodes: [node], inputs: [ValueInfo(name: "boxes", dtype: .float32, dims: nil), ValueInfo(name: "scores", dtype: .float32, dims: nil)],
                          outputs: [ValueInfo(name: "selected", dtype: .int64, dims: nil)], initializers: initializers, opset: 17)
        return try Model(graph: graph)
    }

    /// Device vs reference on random boxes: batch 1–3, 1–7 classes, 1–700 boxes (not multiples of
    /// the work-group), limits below and above the box count, both layouts, quantized scores (ties).
    @Test(arguments: [(1, 1, 1, 5, 0), (3, 7, 33, 4, 1), (2, 2, 700, 200, 0), (1, 5, 129, 1000, 1)])
    func deviceMatchesReference(shape: (n: Int, c: Int, b: Int, maxOut: Int, center: Int)) throws {
        var rng = TestRandom(seed: UInt64(shape.b))
        var boxes: [Float] = []
        for _ in 0..<(shape.n * shape.b) {
            let (u, v, w, h) = (rng.float(0, 1), rng.float(0, 1), rng.float(0.02, 0.3), rng.float(0.02, 0.3))
            boxes += shape.center == 1 ? [u, v, w, h] : [v, u, v + h, u + w]
        }
        let scores = (0..<(shape.n * shape.c * shape.b)).map { _ in Float(Int(rng.float(0, 20))) / 20 }
        let feeds = ["boxes": Tensor(shape: [shape.n, shape.b, 4], floats: boxes), "scores": Tensor(shape: [shape.n, shape.c, shape.b], floats: scores)]
        for score: Float? in [nil, 0.4] {
            let model = try Self.model(maxOut: Int64(shape.maxOut), iou: 0.45, score: score, center: shape.center)
            let reference = try #require(try ReferenceExecutor().run(model, inputs: feeds)["selected"])
            let device = try #require(try Session(model: model, runtime: try TestDevice.require()).run(feeds)["selected"])
            #expect((score != nil || reference.shape[0] > 0) && reference.shape[0] <= shape.n * shape.c * min(shape.maxOut, shape.b))
            #expect(device.shape == reference.shape && device.ints == reference.ints, "\(shape) score \(String(describing: score))")
        }
    }

    /// iou_threshold outside [0, 1] and a bad center_point_box are typed errors; an NMS output
    /// feeding another node runs on the device: a row-local one (Cast) on the row bound, without
    /// a plan cut.
    @Test func rejectsBadParametersAndFeedsDeviceConsumers() throws {
        let feeds = ["boxes": Tensor(zeros: [1, 2, 4]), "scores": Tensor(zeros: [1, 1, 2])]
        expectGPUInferError("iou 1.5", mentions: ["iou_threshold"], { if case .shapeMismatch = $0 { true } else { false } }) {
            _ = try ReferenceExecutor().run(try Self.model(maxOut: 3, iou: 1.5, score: nil, center: 0), inputs: feeds)
        }
        expectGPUInferError("center 2", mentions: ["center_point_box"], { if case .invalidModel = $0 { true } else { false } }) {
            _ = try Self.model(maxOut: 3, iou: 0.5, score: nil, center: 2)
        }
        let nms = Node(name: "nms", opType: "NonMaxSuppression", inputs: ["boxes", "scores", "max_out"], outputs: ["selected"])
        let cast = Node(name: "cast", opType: "Cast", inputs: ["selected"], outputs: ["y"], attributes: ["to": .int(1)])
        let graph = Graph(nodes: [nms, cast], inputs: [ValueInfo(name: "boxes", dtype: .float32, dims: nil), ValueInfo(name: "scores", dtype: .float32, dims: nil)],
                          outputs: [ValueInfo(name: "y", dtype: .float32, dims: nil)],
                          initializers: ["max_out": Tensor(shape: [1], ints: [2])], opset: 17)
        let model = try Model(graph: graph)
        let ref = try #require(try ReferenceExecutor().run(model, inputs: feeds)["y"])
        // Zero scores pass (no score threshold); the two zero-area boxes never suppress each other.
        #expect(ref.shape == [2, 3], "got \(ref.shape)")
        let session = Session(model: model, runtime: try TestDevice.require())
        let device = try #require(try session.run(feeds)["y"])
        #expect(device.shape == [2, 3] && device.floats == ref.floats, "device \(device.shape) \(device.floats) vs reference \(ref.floats)")
        // No cut: the two dimensions of the NMS output are read with the output (16 bytes).
        #expect(session.lastCuts.cuts == 0 && session.lastCuts.bytesRead == 16, "\(session.lastCuts)")
    }
}
