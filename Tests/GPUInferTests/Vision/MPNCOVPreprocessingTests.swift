// fast-MPN-COV's preprocessing from the exported model's metadata (GPUInferVision.Preprocessing)
// against the fixture script's (Pillow decode + OpenCV INTER_LINEAR + center crop).
import Foundation
import Testing
@testable import GPUInfer
@testable import GPUInferVision

@Suite struct MPNCOVPreprocessingTests {
    static let script = "Tests/Models/make_mpncov_fixtures.py"

    /// gpuinfer's own preprocessing of the photo (decode, short side 256, center crop 224, mean/std)
    /// gives the fixture's input (Pillow decode + OpenCV INTER_LINEAR + the same crop).
    @Test func preprocessingMatchesFixtureOnPhoto() throws {
        let path = try GeneratedData.require("mpncov/mpncov_resnet50.onnx", script: Self.script)
        let input = try Npy.read(path: GeneratedData.url("mpncov/photo_input.npy").path)
        let graph = try ONNXLoader.load(path: path)
        let p = try Preprocessing(metadata: graph.metadata)
        #expect(p.width == 224 && p.height == 224 && p.resizeShort == 256 && p.channelOrder == .rgb)
        let photo = repoRoot.appendingPathComponent("Models/samples/grace_hopper.jpg").path
        let x = p.tensor([try ImageDecoder.decode(path: photo)])
        let want = Tensor(shape: [1, 3, 224, 224], floats: Array(input.floats.prefix(3 * 224 * 224)))
        // Equal pixels give values equal to fp32 rounding (|x| ≤ 2.7, a few ulp).
        assertClose(x, want, rtol: 0, atol: 2e-6, "preprocessed photo vs fixture")
    }
}
