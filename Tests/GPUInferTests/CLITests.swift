// The gpuinfer executable end to end: run on the sample CNN on PoCL and on the reference backend
// (compared with onnxruntime), verify, devices, and the exit codes of bad invocations.
import Foundation
import Testing
@testable import GPUInfer

private let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardizedFileURL
private let generated = repoRoot.appendingPathComponent("Tests/data/generated").path

/// The gpuinfer binary built next to the test bundle.
private func binary() throws -> String {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("gpuinfer").path,
        repoRoot.appendingPathComponent(".build/debug/gpuinfer").path,
    ]
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw GPUInferError.io(path: candidates[1], reason: "gpuinfer binary not built (swift build --build-tests)")
    }
    return found
}

/// Runs gpuinfer with `args`; returns exit status, stdout and stderr.
private func gpuinfer(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try binary())
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@Suite(.serialized) struct CLITests {
    @Test(arguments: ["0", "cpu"])
    func runMatchesOnnxruntime(device: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-cli-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try gpuinfer(["run", "\(generated)/sample_cnn.onnx", "--device", device,
                              "--input", "input=\(generated)/sample_cnn_b3_input.npy", "--output-dir", dir])
        #expect(r.status == 0, "stderr: \(r.err)")
        for name in ["probs", "logits"] {
            let ours = try Npy.read(path: "\(dir)/\(name).npy")
            let ort = try Npy.read(path: "\(generated)/sample_cnn_b3_\(name).npy")
            // Logits are sums of ≤ 108 fp32 products per layer over 6 layers; onnxruntime uses other
            // summation orders (and FMA): 1e-4 absolute on values of magnitude ≤ 10.
            assertClose(ours, ort, rtol: 1e-4, atol: 1e-4, "\(name) on --device \(device)")
        }
    }

    @Test func outputNamesBecomeFileNames() {
        #expect(Npy.fileName(forValue: "a/b:c") == "a_b_c")
        #expect(Npy.fileName(forValue: "..") == "_..")
        #expect(Npy.fileName(forValue: "") == "_")
        #expect(Npy.fileName(forValue: "probs") == "probs")
    }

    @Test func verifyPassesOnTheSampleCNN() throws {
        let r = try gpuinfer(["verify", "\(generated)/sample_cnn.onnx", "--device", "0", "--input", "input=\(generated)/sample_cnn_b1_input.npy"])
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        // 17 ONNX nodes, 4 of them a Relu/Clip folded into the Conv before it (fuseConvActivation).
        #expect(r.out.contains("OK: 13 node outputs within tolerance"), "\(r.out)")
    }

    @Test func verifyNamesTheFirstNodeBeyondTolerance() throws {
        // An absurdly tight tolerance makes some node fail; the command must say which and exit 1.
        let r = try gpuinfer(["verify", "\(generated)/sample_cnn.onnx", "--device", "0", "--rtol", "0", "--atol", "0",
                              "--input", "input=\(generated)/sample_cnn_b1_input.npy"])
        if r.out.contains("FAIL") {
            #expect(r.status == 1)
            #expect(r.out.contains("first node beyond tolerance"))
        } else {
            #expect(r.status == 0)
        }
    }

    @Test func devicesListsPoCLAndTheReference() throws {
        let r = try gpuinfer(["devices"])
        #expect(r.status == 0)
        #expect(r.out.contains("Portable Computing Language"))
        #expect(r.out.contains("cpu"))
    }

    @Test func badInvocationsExitNonZeroWithAMessage() throws {
        let model = "\(generated)/sample_cnn.onnx"
        let input = "input=\(generated)/sample_cnn_b1_input.npy"
        let cases: [([String], String)] = [
            (["run", model, "--device", "99", "--input", input], "no device '99'"),
            (["run", "/nonexistent/model.onnx", "--input", input], "no such file"),
            (["run", model, "--device", "0", "--input", "input=/nonexistent.npy"], "no such file"),
            (["run", model, "--device", "0", "--input", "wrong=\(generated)/sample_cnn_b1_input.npy"], "has no input 'wrong'"),
            (["--device", "99", "run", model, "--input", input], "no device '99'"),
        ]
        for (args, message) in cases {
            let r = try gpuinfer(args)
            #expect(r.status == 1, "\(args): status \(r.status)")
            #expect(r.err.contains(message), "\(args): \(r.err)")
            #expect(!r.err.contains("Fatal error") && !r.err.contains("crashed"))
        }
    }

    /// `gpuinfer netvlad` on the sample photo plus a corrupt and a missing file: the photo's
    /// descriptor matches onnxruntime's (cosine ≥ 0.99999: the preprocessing is bit-exact with
    /// Pillow + OpenCV, and the network differs only by fp32 summation order), the bad files are
    /// reported, and the exit code is 1.
    @Test func netvladDescribesThePhotoAndSkipsBadFiles() throws {
        let model = "\(generated)/netvlad/netvlad.onnx"
        guard FileManager.default.fileExists(atPath: model) else {
            Issue.record("missing \(model): run Tests/generate-test-data.sh")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-nv-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("this is not a JPEG".utf8).write(to: URL(fileURLWithPath: "\(dir)/corrupt.jpg"))
        let photo = repoRoot.appendingPathComponent("Models/samples/grace_hopper.jpg").path
        let r = try gpuinfer(["--device", "0", "netvlad", "\(dir)/corrupt.jpg", photo, "\(dir)/missing.jpg",
                              "--model", model, "--output", "\(dir)/d.npy"])
        #expect(r.status == 1, "\(r.out)\n\(r.err)")
        #expect(r.err.contains("corrupt.jpg") && r.err.contains("missing.jpg"), "\(r.err)")
        #expect(r.err.contains("2 of 3 image(s) failed"), "\(r.err)")
        #expect(r.out.contains("grace_hopper.jpg: dim 4096  L2 1.000000"), "\(r.out)")
        let ours = try Npy.read(path: "\(dir)/d.npy")
        let ort = try Npy.read(path: "\(generated)/netvlad/photo_descriptor.npy")
        #expect(ours.shape == [1, 4096])
        let dot = zip(ours.floats, ort.floats).reduce(Float(0)) { $0 + $1.0 * $1.1 }
        let norms = ours.floats.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot() * ort.floats.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        #expect(dot / norms >= 0.99999, "cosine \(dot / norms)")
    }

    /// `gpuinfer --device 0 ssdlite` on the sample photo with the model's own score threshold:
    /// the JSON holds onnxruntime's detections (make_ssdlite_fixtures.py, same Pillow + OpenCV
    /// preprocessing, which the engine reproduces bit for bit) in the same order, label exactly,
    /// score and normalized box within 1e-4 (SSDLiteTests explains the bound); the printed lines
    /// match; the drawing is a JPEG of the photo's size that differs from the photo.
    @Test func ssdliteDetectsDrawsAndWritesJSON() throws {
        let model = "\(generated)/ssdlite/ssdlite_mobilenet_v2.onnx"
        guard FileManager.default.fileExists(atPath: model) else {
            Issue.record("missing \(model): run Tests/generate-test-data.sh")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-ssd-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let photo = repoRoot.appendingPathComponent("Models/samples/grace_hopper.jpg").path
        let r = try gpuinfer(["--device", "0", "ssdlite", photo, "--threshold", "0.3", "--model", model,
                              "--output", "\(dir)/dets.json", "--draw", "\(dir)/out.jpg"])
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        let ort = try Npy.read(path: "\(generated)/ssdlite/photo_expected_b1.npy")
        let expected = (0..<100).map { Array(ort.floats[$0 * 7..<($0 + 1) * 7]) }.prefix { $0[0] >= 0 }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/dets.json"))) as? [String: Any])
        let images = try #require(json["images"] as? [[String: Any]])
        let dets = try #require(images.first?["detections"] as? [[String: Any]])
        #expect(images.first?["width"] as? Int == 512 && images.first?["height"] as? Int == 600)
        #expect(dets.count == expected.count && expected.count > 30, "\(dets.count) vs \(expected.count)")
        for (d, e) in zip(dets, expected) {
            let box = (d["box_normalized"] as? [Double]) ?? []
            let ok = d["label"] as? Int == Int(e[1]) && abs((d["score"] as? Double ?? 0) - Double(e[2])) <= 1e-4
                && box.count == 4 && (0..<4).allSatisfy { abs(box[$0] - Double(e[3 + $0])) <= 1e-4 }
            #expect(ok, "\(d) vs \(e)")
            #expect(d["name"] as? String == COCOLabels.name(Int(e[1])))
        }
        #expect(r.out.contains("grace_hopper.jpg: \(expected.count) detection(s)"), "\(r.out)")
        let lines = r.out.split(separator: "\n").filter { $0.hasPrefix("  ") && $0.contains("[") }
        #expect(lines.count == expected.count)
        let drawn = try ImageDecoder.decode(path: "\(dir)/out.jpg")
        let original = try ImageDecoder.decode(path: photo)
        #expect(drawn.width == 512 && drawn.height == 600)
        let changed = zip(drawn.pixels, original.pixels).filter { abs(Int($0) - Int($1)) > 40 }.count
        #expect(changed > 1000, "the drawing changed only \(changed) subpixels")
    }

    /// `gpuinfer bench --input … --profile` on SSDLite: times the given tensor (its batch of 2)
    /// and lists the per-op-type device time including the fused detection output.
    @Test func benchProfilesTheDetectionOutput() throws {
        let model = "\(generated)/ssdlite/ssdlite_mobilenet_v2.onnx"
        guard FileManager.default.fileExists(atPath: model) else {
            Issue.record("missing \(model): run Tests/generate-test-data.sh")
            return
        }
        let r = try gpuinfer(["bench", model, "--device", "0", "--iterations", "1", "--warmup", "0", "--profile",
                              "--input", "image_tensor=\(generated)/ssdlite/photo_input.npy"])
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        #expect(r.out.contains("latency (batch 2, 1 runs)") && r.out.contains("per-op-type device time"), "\(r.out)")
        #expect(r.out.split(separator: "\n").contains { $0.hasPrefix("SSDDetectionOutput") }, "\(r.out)")
    }
}
