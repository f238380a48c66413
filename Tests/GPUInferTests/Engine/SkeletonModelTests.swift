// Model skeletons (Benchmarks/skeleton.py, used by Benchmarks/gpu.sh): a real model whose weights
// became RandomUniform nodes loads, folds them, and runs on the test device in both kernel styles
// like the reference backend on the same folded weights; the draws repeat exactly across loads.
// Tolerance: 1e-4 of the output's largest magnitude, the model-level bound of the PaddleOCR
// checks (GPUSimulatorTests), the kernels summing in other orders than the reference.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct SkeletonModelTests {
    @Test func skeletonRunsLikeTheReference() throws {
        let script = "Tests/generate-test-data.sh (Benchmarks/skeleton.py)"
        let path = try GeneratedData.require("skeleton/ppocr_cls_skeleton.onnx", script: script)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(size < 100_000)  // the 585 KB classifier without its weights
        let model = try Model(path: path)
        #expect(model.graph.nodes.allSatisfy { $0.opType != "RandomUniform" })  // every draw folded at load
        #expect(model.report.constantNodesFolded >= 40)
        let input = try Npy.read(path: try GeneratedData.require("real/ch_ppocr_mobile_v2.0_cls_infer_input.npy", script: script))
        let feeds = [model.inputs[0].name: input]
        let reference = try #require(try ReferenceExecutor().run(model, inputs: feeds)[model.outputs[0].name])
        let again = try #require(try ReferenceExecutor().run(try Model(path: path), inputs: feeds)[model.outputs[0].name])
        #expect(again.floats == reference.floats)
        #expect(reference.floats.allSatisfy { $0.isFinite })
        let scale = max(1, reference.floats.map(abs).max() ?? 0)
        for options in OpVariants.kernelStyles {
            let device = try #require(try Session(model: model, runtime: try TestDevice.require(), options: options).run(feeds)[model.outputs[0].name])
            assertClose(device, reference, rtol: 1e-4, atol: 1e-4 * scale, "skeleton [\(options.summary)] vs reference")
        }
    }
}
