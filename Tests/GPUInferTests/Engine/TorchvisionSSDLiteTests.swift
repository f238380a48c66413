// torchvision's SSDlite (ssdlite320_mobilenet_v3_large, random weights with calibrated batch
// norms) as torch.onnx.export writes it: 90 unrolled per-class NonZero → GatherND → TopK(k =
// min(count, 300)) blocks, an If around batched NMS, a Slice to 300 and the box rescale — on the
// reference backend and the device against onnxruntime (Models/torchvision_ssdlite.py writes the
// model and onnxruntime's outputs; it needs torch, so the test runs where the model was
// generated: Models/generated/torchvision_ssdlite). Labels exactly and in onnxruntime's order;
// scores within 1e-5 (softmax outputs ≤ 1 after 100 fp32 convolutions summed in another order);
// boxes within 2e-3 px of a 320-px image: the decoded boxes scale the regression outputs' rounding
// by exp() and 320 (eager PyTorch and onnxruntime differ by 1.7e-3 px on this model).
import Foundation
import Testing
@testable import GPUInfer

@Suite(.serialized) struct TorchvisionSSDLiteTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Models/generated/torchvision_ssdlite")
    static var available: Bool { FileManager.default.fileExists(atPath: folder.appendingPathComponent("ssdlite320_mobilenet_v3_large.onnx").path) }

    @Test(.enabled(if: available, "run Models/torchvision_ssdlite.py (needs torch) to generate the model"))
    func wholeExportMatchesOnnxRuntime() throws {
        func npy(_ name: String) throws -> Tensor { try Npy.read(path: Self.folder.appendingPathComponent("ssdlite320_\(name).npy").path) }
        let model = try Model(path: Self.folder.appendingPathComponent("ssdlite320_mobilenet_v3_large.onnx").path)
        let feeds = ["images": try npy("input")]
        let expected = ["boxes": try npy("boxes"), "scores": try npy("scores"), "labels": try npy("labels")]
        func check(_ got: [String: Tensor], _ what: String) {
            for (name, e) in expected {
                guard let g = got[name] else { Issue.record("\(what): no \(name)"); continue }
                assertClose(g, e, rtol: 0, atol: name == "labels" ? 0 : name == "scores" ? 1e-5 : 2e-3, "\(what) \(name)")
            }
        }
        check(try ReferenceExecutor().run(model, inputs: feeds), "reference")
        let session = Session(model: model, runtime: try TestDevice.require())
        check(try session.run(feeds), "device")
        let first = session.lastCuts
        check(try session.run(feeds), "device, second run")
        let second = session.lastCuts
        #expect(first.cuts >= 2 && first.plansBuilt == first.cuts && second.plansBuilt == 0, "\(first) then \(second)")
        print("torchvision SSDlite: \(expected["labels"]!.count) detections; first run \(first); second run \(second)")
    }
}
