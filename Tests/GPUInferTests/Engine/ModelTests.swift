// Whole-model tests against onnxruntime: the generated sample CNN (Models/make_sample_cnn.py) and
// two released PaddleOCR CNNs from the rapidocr-onnxruntime wheel (Tests/Conformance/fetch_real_models.py),
// each run on the reference backend and on the OpenCL device.
//
// Tolerances. onnxruntime's own answer moves when it merely reorders the fp32 arithmetic: with its
// graph optimizations on (Conv+BN fusion, other kernels) instead of off, max |Δ| is 2e-6 on the
// sample CNN's logits, 4e-7 on the classifier's probabilities and 9e-6 on the detector's map.
// gpuinfer also folds BN into Conv and sums in other orders, so its error is of the same kind;
// the bounds below leave 50–100× headroom over that noise while any real bug (a wrong pad, stride
// or channel) moves outputs by 1e-2 or more. Cosine ≥ 0.9999 catches errors spread over many
// small elements that a max-abs bound on saturated outputs could miss.
import Foundation
import Testing
@testable import GPUInfer

/// Runs `model` on the reference backend and on the OpenCL test device in both kernel styles;
/// returns the reference result and the device's per style.
private func runBoth(_ model: Model, _ feeds: [String: Tensor]) throws -> (reference: [String: Tensor], device: [(String, [String: Tensor])]) {
    let reference = try ReferenceExecutor().run(model, inputs: feeds)
    let device = try OpVariants.kernelStyles.map {
        ($0.summary, try Session(model: model, runtime: try TestDevice.require(), options: $0).run(feeds))
    }
    return (reference, device)
}

@Suite(.serialized) struct ModelTests {
    static let sampleScript = "Models/make_sample_cnn.py"

    /// The sample CNN (Conv+BN+Relu, MaxPool, residual Add, depthwise Conv, Clip, AveragePool,
    /// GlobalAveragePool, Flatten, Gemm, Softmax) at batch 1 and 3 on one session (dynamic batch).
    /// Bound: max |Δ| ≤ 1e-4 on probabilities and logits (|logits| < 6; onnxruntime's own
    /// reorder noise is 2e-6).
    @Test func sampleCNNMatchesOnnxRuntime() throws {
        let path = try GeneratedData.require("sample_cnn.onnx", script: Self.sampleScript)
        let model = try Model(path: path)
        #expect(model.inputs.map(\.name) == ["input"])
        #expect(model.report.batchNormsFolded == 4, "BN folding: \(model.report)")
        let runtime = try TestDevice.require()
        let sessions = OpVariants.kernelStyles.map { (name: $0.summary, session: Session(model: model, runtime: runtime, options: $0)) }
        for batch in [1, 3] {
            let stem = "sample_cnn_b\(batch)"
            let input = try Npy.read(path: try GeneratedData.require("\(stem)_input.npy", script: Self.sampleScript))
            let probs = try Npy.read(path: GeneratedData.url("\(stem)_probs.npy").path)
            let logits = try Npy.read(path: GeneratedData.url("\(stem)_logits.npy").path)
            let reference = try ReferenceExecutor().run(model, inputs: ["input": input])
            let devices = try sessions.map { ("device [\($0.name)]", try $0.session.run(["input": input])) }
            for (backend, out) in [("reference", reference)] + devices {
                checkOutput(out["probs"], probs, maxAbs: 1e-4, "sample CNN batch \(batch) \(backend) probs")
                checkOutput(out["logits"], logits, maxAbs: 1e-4, "sample CNN batch \(batch) \(backend) logits")
            }
            if let p = devices[0].1["probs"], p.shape == [batch, 10] {
                for b in 0..<batch {
                    let sum = p.floats[b * 10..<(b + 1) * 10].reduce(0, +)
                    #expect(abs(sum - 1) < 1e-5, "batch \(batch) row \(b): probabilities sum to \(sum)")
                }
            }
        }
    }

    /// PaddleOCR's MobileNetV3 text-direction classifier (opset 11: Conv, BN, HardSigmoid, Clip,
    /// GlobalAveragePool, Reshape/Shape/Slice/Concat, MatMul, Softmax), input [2,3,48,192].
    /// Bound: max |Δ| ≤ 1e-4 on the softmax (onnxruntime's reorder noise 4e-7).
    @Test func ppocrClassifierMatchesOnnxRuntime() throws {
        try checkRealModel("ch_ppocr_mobile_v2.0_cls_infer", maxAbs: 1e-4)
    }

    /// PaddleOCR v4 DBNet text detector (opset 12: Conv, BN, HardSigmoid, ConvTranspose, nearest
    /// Resize, Sigmoid), input [1,3,64,96] showing synthetic text lines.
    /// Bound: max |Δ| ≤ 1e-3 on the probability map (≈ 70 layers deep; onnxruntime's reorder
    /// noise 9e-6, and the sigmoid's slope ≤ 1/4 passes at most a quarter of a logit error).
    @Test func ppocrDetectorMatchesOnnxRuntime() throws {
        try checkRealModel("ch_PP-OCRv4_det_infer", maxAbs: 1e-3)
    }

    private func checkRealModel(_ stem: String, maxAbs: Double, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let script = "Tests/Conformance/fetch_real_models.py"
        let path = try GeneratedData.require("real/\(stem).onnx", script: script, sourceLocation: sourceLocation)
        let input = try Npy.read(path: try GeneratedData.require("real/\(stem)_input.npy", script: script, sourceLocation: sourceLocation))
        let expected = try Npy.read(path: try GeneratedData.require("real/\(stem)_output.npy", script: script, sourceLocation: sourceLocation))
        let model = try Model(path: path)
        let output = try #require(model.outputs.first?.name)
        let (reference, devices) = try runBoth(model, [model.inputs[0].name: input])
        checkOutput(reference[output], expected, maxAbs: maxAbs, "\(stem) reference", sourceLocation: sourceLocation)
        for (style, device) in devices {
            checkOutput(device[output], expected, maxAbs: maxAbs, "\(stem) device [\(style)]", sourceLocation: sourceLocation)
        }
    }
}
