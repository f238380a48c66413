// SSDLite-MobileNetV2: the fused detection output (ai.gpuinfer::SSDDetectionOutput) against hand-
// computed values and onnxruntime's run of the function body, its OpenCL kernels against its
// reference, the anchors, the --weights mapping, and the whole exported model (Models/ssdlite.py
// via Tests/Models/make_ssdlite_fixtures.py) on the sample photo against onnxruntime.
//
// Tolerances. Detections must be the same rows in the same order: image id and label exactly,
// score and box coordinates within 1e-4 (the issue's bound). Scores are sigmoids in (0,1) and
// boxes are normalized, so 1e-4 absolute is ~1000 ulps: the device and onnxruntime differ only in
// exp/sigmoid implementations (a few ulps) and, for the whole model, in the convolution sums
// (relative error ~1e-6 on logits of magnitude ~5), far inside it. Ordering and the kept set are
// exact decisions; they match as long as no score or IoU lies within that rounding of a threshold
// or of another score, which the fixtures do not hit (a tie in the fixtures is an exact tie).
import Foundation
import Testing
@testable import GPUInfer

@Suite(.serialized) struct SSDLiteTests {
    static let script = "Tests/Models/make_ssdlite_fixtures.py"

    /// A one-node SSDDetectionOutput model with `anchors` as an initializer.
    static func headModel(anchors: Tensor, attributes: [String: Attribute] = [:]) throws -> Model {
        let node = Node(name: "det", opType: "SSDDetectionOutput", domain: SSDDetectionOutput.domain,
                        inputs: ["box_encodings", "class_logits", "anchors"], outputs: ["DetectionOutput"], attributes: attributes)
        let graph = Graph(nodes: [node], inputs: [ValueInfo(name: "box_encodings", dtype: .float32, dims: nil),
                                                  ValueInfo(name: "class_logits", dtype: .float32, dims: nil)],
                          outputs: [ValueInfo(name: "DetectionOutput", dtype: .float32, dims: nil)],
                          initializers: ["anchors": anchors], opset: 17, opsets: ["": 17, SSDDetectionOutput.domain: 1])
        return try Model(graph: graph)
    }

    /// Compares detection tensors [N,1,K,7]: ids and labels exactly, scores and boxes within 1e-4.
    static func checkDetections(_ actual: Tensor, _ expected: Tensor, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard actual.shape == expected.shape else {
            Issue.record("\(what): shape \(actual.shape) vs \(expected.shape)", sourceLocation: sourceLocation)
            return
        }
        var bad: [String] = []
        for r in 0..<(actual.count / 7) {
            let a = Array(actual.floats[r * 7..<(r + 1) * 7]), e = Array(expected.floats[r * 7..<(r + 1) * 7])
            let same = a[0] == e[0] && a[1] == e[1] && (1..<7).allSatisfy { abs(a[$0] - e[$0]) <= 1e-4 }
            if !same { bad.append("row \(r): \(a) vs \(e)") }
        }
        #expect(bad.isEmpty, "\(what): \(bad.count) rows differ, first: \(bad.prefix(3))", sourceLocation: sourceLocation)
    }

    /// Detections per image (rows before the first image_id −1).
    static func counts(_ t: Tensor) -> [Int] {
        let k = t.shape[2]
        return (0..<t.shape[0]).map { n in (0..<k).prefix { t.floats[(n * k + $0) * 7] >= 0 }.count }
    }

    /// Three anchors, one foreground class, computed by hand. Anchor 0 (0.5, 0.5, h 0.2, w 0.4)
    /// with codes (1, −2, 5·ln 2, 0): yc = 1/10·0.2 + 0.5 = 0.52, xc = −2/10·0.4 + 0.5 = 0.42,
    /// h = 2·0.2 = 0.4, w = 0.4 → box y 0.32…0.72, x 0.22…0.62, score σ(0) = 0.5. Anchor 1 is that
    /// box itself with zero codes and score σ(ln 3) = 0.75: it comes first and suppresses anchor 0
    /// (IoU 1 > 0.6). Anchor 2 (score σ(−2) = 0.119) is under 0.3. Anchor 1's box is clipped
    /// nowhere; the output rows: [0, 1, 0.75, 0.22, 0.32, 0.62, 0.72] then [−1, 0…].
    /// Image 2: anchor 0's score raised to σ(ln 9) = 0.9 and anchor 2 to σ(0) = 0.5 (a box at
    /// y −0.05…0.05, x 0.9…1.1, clipped to 0…0.05, 0.9…1): rows anchor 0, anchor 2.
    @Test func referenceMatchesHandComputedValues() throws {
        let anchors = Tensor(shape: [3, 4], floats: [0.5, 0.5, 0.2, 0.4, 0.52, 0.42, 0.4, 0.4, 0, 1, 0.1, 0.2])
        let enc = Tensor(shape: [2, 3, 4], floats: [1, -2, Float(5 * log(2.0)), 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                    1, -2, Float(5 * log(2.0)), 0, 0, 0, 0, 0, 0, 0, 0, 0])
        let logits = Tensor(shape: [2, 3, 2], floats: [5, 0, 5, Float(log(3.0)), 5, -2, 5, Float(log(9.0)), 5, Float(log(3.0)), 5, 0])
        let model = try Self.headModel(anchors: anchors, attributes: ["max_total_detections": .int(3)])
        let feeds = ["box_encodings": enc, "class_logits": logits]
        let reference = try #require(try ReferenceExecutor().run(model, inputs: feeds)["DetectionOutput"])
        let expected = Tensor(shape: [2, 1, 3, 7], floats: [
            0, 1, 0.75, 0.22, 0.32, 0.62, 0.72, -1, 0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0, 0,
            1, 1, 0.9, 0.22, 0.32, 0.62, 0.72, 1, 1, 0.5, 0.9, 0, 1, 0.05, -1, 0, 0, 0, 0, 0, 0,
        ])
        // A handful of fp32 roundings of O(1) values (exp, divisions): ≤ 1e-6.
        assertClose(reference, expected, rtol: 0, atol: 1e-6, "SSD detection output reference vs hand-computed")
        let device = try #require(try Session(model: model, runtime: try TestDevice.require()).run(feeds)["DetectionOutput"])
        Self.checkDetections(device, reference, "hand-computed case: device vs reference")
    }

    /// The exported detection-output models (Models/ssdlite.py build_head): the fused reference and
    /// the fused device kernels both give onnxruntime's rows of the function body.
    @Test(arguments: ["head_small", "head_limits", "head_real"])
    func fusedMatchesOnnxRuntime(name: String) throws {
        let path = try GeneratedData.require("ssdlite/\(name).onnx", script: Self.script)
        func npy(_ s: String) throws -> Tensor { try Npy.read(path: GeneratedData.url("ssdlite/\(name)_\(s).npy").path) }
        let feeds = ["box_encodings": try npy("box_encodings"), "class_logits": try npy("class_logits")]
        let ort = try npy("expected")
        let model = try Model(path: path)
        #expect(model.graph.nodes.map(\.opType) == ["SSDDetectionOutput"])
        let reference = try #require(try ReferenceExecutor().run(model, inputs: feeds)["DetectionOutput"])
        let device = try #require(try Session(model: model, runtime: try TestDevice.require()).run(feeds)["DetectionOutput"])
        print("SSDDetectionOutput \(name): detections per image \(Self.counts(ort)); device vs onnxruntime \(TensorDiff(device, ort))")
        Self.checkDetections(reference, ort, "\(name): fused reference vs onnxruntime")
        Self.checkDetections(device, ort, "\(name): fused device vs onnxruntime")
        #expect(Self.counts(ort).allSatisfy { $0 > 0 })
    }

    /// The function body (standard ops with NonMaxSuppression, GatherND, ScatterND, TopK …)
    /// inlined (useFusedKernels: false) gives onnxruntime's rows too, on the reference backend
    /// and on the device (NMS's data-dependent rows feed the Gathers in a second plan segment).
    @Test(arguments: ["head_small", "head_limits"])
    func inlinedBodyMatchesOnnxRuntime(name: String) throws {
        let path = try GeneratedData.require("ssdlite/\(name).onnx", script: Self.script)
        func npy(_ s: String) throws -> Tensor { try Npy.read(path: GeneratedData.url("ssdlite/\(name)_\(s).npy").path) }
        let feeds = ["box_encodings": try npy("box_encodings"), "class_logits": try npy("class_logits")]
        let model = try Model(path: path, options: LoadOptions(useFusedKernels: false))
        #expect(model.graph.nodes.contains { $0.opType == "NonMaxSuppression" } && !model.graph.nodes.contains { $0.opType == "SSDDetectionOutput" })
        let y = try #require(try ReferenceExecutor().run(model, inputs: feeds)["DetectionOutput"])
        Self.checkDetections(y, try npy("expected"), "\(name): inlined body (reference) vs onnxruntime")
        for options in OpVariants.kernelStyles {
            let session = Session(model: model, runtime: try TestDevice.require(), options: options)
            let d = try #require(try session.run(feeds)["DetectionOutput"])
            Self.checkDetections(d, try npy("expected"), "\(name): inlined body (device, \(options.kernelStyle)) vs onnxruntime")
            #expect(session.lastCuts.cuts >= 1, "\(session.lastCuts)")
        }
    }

    /// Anchors of the exported model: 1917, the first (19×19 map, cell (0,0), scale 0.1, ratio 1),
    /// the first of the 10×10 map (scale 0.35) and the last (1×1 map, √(0.95·1.0), ratio 1).
    @Test func anchorsFollowTheRecipe() throws {
        let path = try GeneratedData.require("ssdlite/ssdlite_mobilenet_v2.onnx", script: Self.script)
        let graph = try ONNXLoader.load(path: path)
        let anchors = try #require(graph.initializers["anchors"])
        #expect(anchors.shape == [1917, 4])
        func row(_ i: Int) -> [Float] { Array(anchors.floats[i * 4..<(i + 1) * 4]) }
        let s = Float(0.95.squareRoot())
        // Each value is one float64 → float32 rounding of the recipe's value.
        for (i, expected) in [(0, [Float(0.5 / 19), Float(0.5 / 19), 0.1, 0.1]), (1, [Float(0.5 / 19), Float(0.5 / 19), Float(0.2 / 2.0.squareRoot()), Float(0.2 * 2.0.squareRoot())]),
                              (1083, [0.05, 0.05, 0.35, 0.35]), (1916, [0.5, 0.5, s, s])] {
            #expect(zip(row(i), expected).allSatisfy { abs($0 - $1) <= 1e-7 }, "anchor \(i): \(row(i)) vs \(expected)")
        }
        // The 3:1 box of the first 10×10 cell: h = 0.35/√3, w = 0.35·√3.
        #expect(abs(row(1083 + 3)[2] - Float(0.35 / 3.0.squareRoot())) <= 1e-7 && abs(row(1083 + 3)[3] - Float(0.35 * 3.0.squareRoot())) <= 1e-7)
    }

    /// The whole model on the sample photo (preprocessed by the fixture script) at batch 1 and 2
    /// (photo and its mirror image): the device gives onnxruntime's detections in the same order.
    @Test func wholeModelOnPhotoMatchesOnnxRuntime() throws {
        let path = try GeneratedData.require("ssdlite/ssdlite_mobilenet_v2.onnx", script: Self.script)
        let input = try Npy.read(path: GeneratedData.url("ssdlite/photo_input.npy").path)
        let model = try Model(path: path)
        #expect(model.graph.nodes.filter { $0.opType == "SSDDetectionOutput" && $0.domain == SSDDetectionOutput.domain }.count == 1)
        #expect(model.metadata["gpuinfer.model"] == "ssdlite_mobilenet_v2" && model.metadata["gpuinfer.input_width"] == "300"
                && model.metadata["gpuinfer.channel_order"] == "RGB" && model.metadata["gpuinfer.weights"] == "random-seed-0")
        // Both kernel styles (the GPU-style kernels run on PoCL too); batch 2 in the engine's own style only.
        for options in OpVariants.kernelStyles {
            let session = Session(model: model, runtime: try TestDevice.require(), options: options)
            for batch in options.kernelStyle == .gpu ? [1] : [1, 2] {
                let ort = try Npy.read(path: GeneratedData.url("ssdlite/photo_expected_b\(batch).npy").path)
                let x = Tensor(shape: [batch, 3, 300, 300], floats: Array(input.floats.prefix(batch * 3 * 300 * 300)))
                let start = Date()
                let y = try #require(try session.run(["image_tensor": x])["DetectionOutput"])
                print("SSDLite photo batch \(batch) [\(options.summary)]: \(String(format: "%.2f", Date().timeIntervalSince(start))) s, detections \(Self.counts(y)) (onnxruntime \(Self.counts(ort))), \(TensorDiff(y, ort))")
                Self.checkDetections(y, ort, "whole model batch \(batch) [\(options.summary)]: device vs onnxruntime")
                // Random weights with biased class logits: a non-trivial number of detections.
                #expect(Self.counts(ort).allSatisfy { $0 >= 30 && $0 < 100 })
            }
        }
    }

    /// `--weights` with a synthetic npz: the initializers are the documented transforms with
    /// BatchNorm folded (W·γ/√(v+0.001), β − μ·γ/√(v+0.001)); the fixture script checks every
    /// layer, this checks that the engine's loader reads the stem and a depthwise layer back.
    @Test func npzWeightsLandWhereDocumented() throws {
        let path = try GeneratedData.require("ssdlite/ssdlite_npz.onnx", script: Self.script)
        func npz(_ name: String) throws -> [Float] { try Npy.read(path: GeneratedData.url("ssdlite/npz_\(name).npy").path).floats }
        let graph = try ONNXLoader.load(path: path)
        #expect(graph.metadata["gpuinfer.weights"] == "synthetic.npz")
        let fe = "FeatureExtractor/MobilenetV2/"
        let w = try #require(graph.initializers[fe + "Conv.weight"]), b = try #require(graph.initializers[fe + "Conv.bias"])
        let hwio = try npz("conv_weights"), gamma = try npz("conv_bn_gamma"), beta = try npz("conv_bn_beta")
        let mean = try npz("conv_bn_moving_mean"), variance = try npz("conv_bn_moving_variance")
        #expect(w.shape == [32, 3, 3, 3])
        var worst: Float = 0
        forEachIndex(w.shape) { flat, i in
            let f = Double(gamma[i[0]]) / (Double(variance[i[0]]) + 0.001).squareRoot()
            let expected = Double(hwio[((i[2] * 3 + i[3]) * 3 + i[1]) * 32 + i[0]]) * f
            worst = max(worst, Float(abs(Double(w.floats[flat]) - expected) / max(abs(expected), 1e-3)))
        }
        for o in 0..<32 {
            let f = Double(gamma[o]) / (Double(variance[o]) + 0.001).squareRoot()
            worst = max(worst, Float(abs(Double(b.floats[o]) - (Double(beta[o]) - Double(mean[o]) * f))))
        }
        // One float32 rounding of values of magnitude ≲ 5.
        #expect(worst < 1e-6, "folded Conv weights/bias differ by \(worst)")
        let dw = try #require(graph.initializers[fe + "expanded_conv_13/depthwise.weight"])
        #expect(dw.shape == [576, 1, 3, 3])
        #expect(graph.nodes.contains { $0.inputs.contains(fe + "expanded_conv_13/depthwise.weight") && (try? $0.int("group", default: 1)) == 576 })
        #expect(graph.initializers["BoxPredictor_5/ClassPredictor.bias"]?.floats == (try npz("class5_biases")))
    }

    /// ssd_filter skips the exp below `logitFloor`: the 4096 floats up to the floor all score at or
    /// below the threshold by the reference's sigmoid, for thresholds from 1e-30 to just below 1.
    @Test(arguments: [Float(1e-30), 0.001, 0.01, 0.3, 0.5, 0.9, 0.999999])
    func logitFloorSkipsOnlyScoresBelowTheThreshold(threshold: Float) {
        var x = SSDDetectionOutput.logitFloor(threshold)
        #expect(x.isFinite)
        for _ in 0..<4096 {
            #expect(!(SSDDetectionOutput.sigmoid(x) > threshold), "logit \(x) passes \(threshold)")
            x = x.nextDown
        }
        #expect(SSDDetectionOutput.logitFloor(0) == -.infinity && SSDDetectionOutput.logitFloor(-1) == -.infinity)
        #expect(SSDDetectionOutput.logitFloor(1) == .infinity && SSDDetectionOutput.logitFloor(2) == .infinity)
    }

    /// Bad shapes and attributes are typed errors.
    @Test func rejectsBadShapesAndAttributes() throws {
        let anchors = Tensor(zeros: [4, 4])
        let feeds = ["box_encodings": Tensor(zeros: [1, 4, 4]), "class_logits": Tensor(zeros: [1, 5, 3])]
        expectGPUInferError("A mismatch", mentions: ["class_logits"], { if case .shapeMismatch = $0 { true } else { false } }) {
            _ = try ReferenceExecutor().run(try Self.headModel(anchors: anchors), inputs: feeds)
        }
        expectGPUInferError("iou", mentions: ["iou_threshold"], { if case .invalidModel = $0 { true } else { false } }) {
            _ = try Self.headModel(anchors: anchors, attributes: ["iou_threshold": .float(2)])
        }
        expectGPUInferError("k too large", mentions: ["max_total_detections"], { if case .shapeMismatch = $0 { true } else { false } }) {
            _ = try ReferenceExecutor().run(try Self.headModel(anchors: anchors), inputs: ["box_encodings": Tensor(zeros: [1, 4, 4]), "class_logits": Tensor(zeros: [1, 4, 3])])
        }
    }
}
