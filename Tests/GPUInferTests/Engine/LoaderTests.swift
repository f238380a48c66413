// ONNX loader on real files (written by Tests/Models/make_loader_models.py): external data,
// model-local functions with attribute references, opset-11 forms; compared with onnxruntime.
import Foundation
import Testing
@testable import GPUInfer

private let loaderDir = repoRoot.appendingPathComponent("Tests/data/generated/loader").path

@Suite struct LoaderTests {
    /// Runs `model` on both backends and compares with onnxruntime's output.
    /// Tolerance: these graphs are a few fp32 ops deep; 1e-5 relative covers differing exp/sigmoid
    /// implementations (≤ 4 ulp each) and summation order in Gemm (K = 7).
    private func check(_ name: String, folder: String = "", sourceLocation: SourceLocation = #_sourceLocation) throws {
        let dir = folder.isEmpty ? loaderDir : loaderDir + "/" + folder
        guard FileManager.default.fileExists(atPath: dir + "/\(name).onnx") else {
            Issue.record("missing \(dir)/\(name).onnx: run Tests/generate-test-data.sh", sourceLocation: sourceLocation)
            return
        }
        let model = try Model(path: dir + "/\(name).onnx")
        let x = try Npy.read(path: dir + "/\(name)_input.npy")
        let expected = try Npy.read(path: dir + "/\(name)_expected.npy")
        let feeds = [model.inputs[0].name: x]
        let out = model.outputs[0].name
        let reference = try ReferenceExecutor().run(model, inputs: feeds)[out]!
        assertClose(reference, expected, rtol: 1e-5, atol: 1e-6, "\(name) reference vs onnxruntime", sourceLocation: sourceLocation)
        let device = try Session(model: model, runtime: try TestDevice.require()).run(feeds)[out]!
        assertClose(device, expected, rtol: 1e-5, atol: 1e-6, "\(name) OpenCL vs onnxruntime", sourceLocation: sourceLocation)
    }

    @Test func externalDataIsReadRelativeToTheModel() throws {
        try check("external_data", folder: "external")
    }

    @Test func externalDataMovesWithItsFolder() throws {
        let src = loaderDir + "/external"
        guard FileManager.default.fileExists(atPath: src) else { return }
        let dst = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-ext-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dst) }
        try FileManager.default.copyItem(atPath: src, toPath: dst.path)
        let model = try Model(path: dst.path + "/external_data.onnx")
        #expect(model.graph.initializers["w"]?.shape == [7, 5])
    }

    @Test func localFunctionsAreInlined() throws {
        try check("function_swish")
        let model = try Model(path: loaderDir + "/function_swish.onnx")
        #expect(!model.graph.nodes.contains { $0.opType == "Swish" })
    }

    @Test func opset11FormsRun() throws {
        try check("opset11_mixed")
    }
}
