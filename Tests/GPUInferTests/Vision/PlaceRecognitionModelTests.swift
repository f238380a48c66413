// The place-recognition zoo models of Models/vpr.py (the deep-visual-geo-localization-benchmark's
// ResNet-18 conv4 + GeM / NetVLAD, VGG-16 + GeM; seeded random weights calibrated on a photo)
// against onnxruntime on four real photos at 480×640 and at an awkward 353×517: cosine ≥ 0.9999
// per image (the bar; the rounding of ~2·10⁹ fp32 multiply-adds in another order), the
// exporters' GeM pattern fused into one node (both styles: GlobalAveragePool/Clip and
// ReduceMean/Max), and the benchmark's NetVLAD (NetVLADTorch function, run as its plain ops).
import Foundation
import Testing
@testable import GPUInfer

@Suite(.serialized) struct PlaceRecognitionModelTests {
    static let script = "Tests/Models/make_vpr_fixtures.py"

    static let cases: [(String, String)] = [
        ("resnet18_gem", "480x640"), ("resnet18_gem", "353x517"), ("resnet18_netvlad", "480x640"), ("resnet18_netvlad", "353x517"),
        ("vgg16_gem", "480x640"), ("vgg16_gem", "353x517"), ("resnet18_gem_reducemean", "353x517"),
    ]

    @Test(arguments: cases)
    func matchesOnnxRuntime(model name: String, size: String) throws {
        let model = try Model(path: try GeneratedData.require("vpr/\(name).onnx", script: Self.script))
        let input = try Npy.read(path: try GeneratedData.require("vpr/input_\(size).npy", script: Self.script))
        let expectedName = name.replacingOccurrences(of: "_reducemean", with: "")
        let expected = try Npy.read(path: try GeneratedData.require("vpr/\(expectedName)_\(size).npy", script: Self.script))
        if name.contains("gem") {
            #expect(model.report.gemFused == 1 && model.graph.nodes.contains { $0.opType == "GeM" && $0.domain == GeM.domain }, "\(name): \(model.report)")
        } else {
            #expect(model.graph.nodes.contains { $0.opType == "Softmax" } && model.report.gemFused == 0)
        }
        let session = Session(model: model, runtime: try TestDevice.require())
        let y = try #require(try session.run([model.inputs[0].name: input])[model.outputs[0].name])
        #expect(y.shape == expected.shape, "\(name) \(size): \(y.shape) vs \(expected.shape)")
        let d = expected.shape[1]
        for i in 0..<expected.shape[0] {
            let a = Array(y.floats[i * d..<(i + 1) * d]), b = Array(expected.floats[i * d..<(i + 1) * d])
            var dot = 0.0, na = 0.0, nb = 0.0
            for j in 0..<d { dot += Double(a[j]) * Double(b[j]); na += Double(a[j] * a[j]); nb += Double(b[j] * b[j]) }
            let cosine = dot / (na * nb).squareRoot()
            #expect(cosine >= 0.9999, "\(name) \(size) image \(i): cosine \(cosine)")
            // The descriptors' scale too (GeM outputs are not normalized): norms within 1e-3.
            #expect(abs(na.squareRoot() - nb.squareRoot()) <= 1e-3 * nb.squareRoot(), "\(name) \(size) image \(i): norm \(na.squareRoot()) vs \(nb.squareRoot())")
        }
    }
}
