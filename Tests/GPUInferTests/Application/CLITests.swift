// The gpuinfer executable end to end: run on the sample CNN on PoCL and on the reference backend
// (compared with onnxruntime), verify, devices, and the exit codes of bad invocations.
import Foundation
import ONNXProto
import Testing
@testable import GPUInfer
@testable import GPUInferVision
@testable import GPUInferRetrieval

private let generated = repoRoot.appendingPathComponent("Tests/data/generated").path

@Suite(.serialized) struct CLITests {
    /// On PoCL in both kernel styles (`--kernel-style gpu` runs the work-group GPU kernels there) and on the reference backend.
    @Test(arguments: [("0", nil), ("0", "gpu"), ("0", "cpu"), ("cpu", nil)] as [(String, String?)])
    func runMatchesOnnxruntime(device: String, style: String?) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-cli-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try gpuinfer(["run", "\(generated)/sample_cnn.onnx", "--device", device,
                              "--input", "input=\(generated)/sample_cnn_b3_input.npy", "--output-dir", dir] + (style.map { ["--kernel-style", $0] } ?? []))
        #expect(r.status == 0, "stderr: \(r.err)")
        for name in ["probs", "logits"] {
            let ours = try Npy.read(path: "\(dir)/\(name).npy")
            let ort = try Npy.read(path: "\(generated)/sample_cnn_b3_\(name).npy")
            // Logits are sums of ≤ 108 fp32 products per layer over 6 layers; onnxruntime uses other
            // summation orders (and FMA): 1e-4 absolute on values of magnitude ≤ 10.
            assertClose(ours, ort, rtol: 1e-4, atol: 1e-4, "\(name) on --device \(device) --kernel-style \(style ?? "auto")")
        }
    }

    @Test func outputNamesBecomeFileNames() {
        #expect(Npy.fileName(forValue: "a/b:c") == "a_b_c")
        #expect(Npy.fileName(forValue: "..") == "_..")
        #expect(Npy.fileName(forValue: "") == "_")
        #expect(Npy.fileName(forValue: "probs") == "probs")
    }

    /// Output names that map to one file name (`a/b`, `a:b`, `a_b`; `A_B` on a case-insensitive
    /// file system) get a file each, named before anything is written, and `run` reports each.
    @Test func outputsSharingAFileNameGetTheirOwnFiles() throws {
        #expect(Npy.fileNames(forValues: ["a/b", "a:b", "a_b", "A_B", "probs"]) == ["a_b", "a_b~2", "a_b~3", "A_B~4", "probs"])
        let names = ["a/b", "a:b", "a_b"]
        let m = BadModel.model { m in
            m.graph.output = names.map { BadModel.valueInfo($0, [1, 4]) }
            m.graph.node = names.enumerated().map { i, n in BadModel.node(i == 1 ? "Neg" : "Identity", ["X"], [n], name: "n\(i)") }
            m.graph.initializer = []
        }
        let dir = try BadModel.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("names.onnx")
        try BadModel.bytes(m).write(to: model)
        let x = Tensor(shape: [1, 4], floats: [1, -2, 3, -4])
        try Npy.write(x, path: dir.appendingPathComponent("x.npy").path)
        let out = dir.appendingPathComponent("out").path
        let r = try gpuinfer(["run", model.path, "--device", "cpu", "--input", "X=\(dir.path)/x.npy", "--output-dir", out])
        #expect(r.status == 0, "stderr: \(r.err)")
        let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(files == ["a_b.npy", "a_b~2.npy", "a_b~3.npy"])
        #expect(try Npy.read(path: out + "/a_b~2.npy").floats == [-1, 2, -3, 4], "the Neg output, second in the list")
        #expect(try Npy.read(path: out + "/a_b.npy").floats == x.floats && Npy.read(path: out + "/a_b~3.npy").floats == x.floats)
        #expect(r.out.contains("a:b: float32[1, 4] -> \(out)/a_b~2.npy"), "\(r.out)")
    }

    @Test func verifyPassesOnTheSampleCNN() throws {
        let r = try gpuinfer(["verify", "\(generated)/sample_cnn.onnx", "--device", "0", "--input", "input=\(generated)/sample_cnn_b1_input.npy"])
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        // 17 ONNX nodes, 4 of them a Relu/Clip folded into the Conv before it (fuseConvActivation),
        // and a residual Add with the Relu after it folded into the Conv before the Add (fuseConvResidual).
        #expect(r.out.contains("OK: 11 node outputs within tolerance"), "\(r.out)")
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

    @Test func devicesJSONListsPoCL() throws {
        let r = try gpuinfer(["devices", "--json"])
        #expect(r.status == 0)
        let devices = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[String: Any]])
        let pocl = try #require(devices.first { ($0["platform"] as? String)?.contains("Portable Computing Language") == true })
        #expect((pocl["compute_units"] as? Int ?? 0) >= 1)
        #expect(pocl["index"] as? Int == 0)
    }

    /// bench --json on the sample CNN at batch 3: the flop count is the hand count of its layers
    /// and the saved inputs are the tensors it ran.
    @Test func benchJSONCountsFlopsAndSavesInputs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-bench-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try gpuinfer(["bench", "\(generated)/sample_cnn.onnx", "--device", "0", "--batch", "3", "--iterations", "2",
                              "--json", "--save-inputs", dir])
        #expect(r.status == 0, "\(r.err)")
        let o = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        // Multiply-adds × 2 per image: conv 3→12 3×3 at 32² (12288 outputs × 27 taps), two 12→12 3×3
        // convs at 16² (3072 × 108 each), depthwise 3×3/2 (768 × 9), pointwise 12→20 at 8² (1280 × 12),
        // Gemm 20→10 (10 × 20).
        let expected = 2.0 * Double(12288 * 27 + 2 * 3072 * 108 + 768 * 9 + 1280 * 12 + 10 * 20)
        #expect(abs((o["gflop_per_image"] as? Double ?? 0) * 1e9 - expected) < 0.5)
        #expect((o["gflops_per_s"] as? Double ?? 0) > 0)
        // One launch at least per node that is not folded away (conv, pool, conv, conv+residual,
        // dw, pw, pool, global pool, gemm, softmax); at least one program, compiled or from the cache.
        let launches = try #require(o["kernel_launches"] as? Int)
        #expect((10...40).contains(launches), "\(launches) launches")
        let programs = try #require(o["programs"] as? [String: Any])
        #expect((programs["compiled"] as? Int ?? 0) + (programs["cached"] as? Int ?? 0) >= 1)
        let saved = try #require(o["saved_inputs"] as? [String: String])
        let input = try Npy.read(path: try #require(saved["input"]))
        #expect(input.shape == [3, 3, 32, 32])
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
            (["bench", "nosuchmodel", "--device", "0"], "unknown model 'nosuchmodel'"),
            (["netvlad", "x.jpg", "--model", "nosuchmodel"], "unknown model 'nosuchmodel'"),
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

    /// `gpuinfer mpncov` on the photo (and a corrupt file): top-5 with the labels file found next
    /// to the model, the representation and the logits written as .npy, matching onnxruntime's
    /// (cosine ≥ 0.9999: the preprocessing is pixel-exact with the fixture's, see ISqrtCovTests).
    @Test func mpncovClassifiesThePhoto() throws {
        let source = "\(generated)/mpncov/mpncov_resnet50.onnx"
        guard FileManager.default.fileExists(atPath: source) else {
            Issue.record("missing \(source): run Tests/generate-test-data.sh")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-mpncov-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/m.onnx", withDestinationPath: source)
        try (0..<1000).map { "label_\($0)" }.joined(separator: "\n").write(toFile: "\(dir)/m.labels.txt", atomically: true, encoding: .utf8)
        try Data("not a JPEG".utf8).write(to: URL(fileURLWithPath: "\(dir)/corrupt.jpg"))
        let photo = repoRoot.appendingPathComponent("Models/samples/grace_hopper.jpg").path
        let r = try gpuinfer(["--device", "0", "mpncov", photo, "\(dir)/corrupt.jpg", "--model", "\(dir)/m.onnx", "--top", "3",
                              "--output", "\(dir)/rep.npy"])
        #expect(r.status == 1, "\(r.out)\n\(r.err)")
        #expect(r.err.contains("corrupt.jpg") && r.err.contains("1 of 2 image(s) failed") && r.err.contains("random weights"), "\(r.err)")
        let ortLogits = try Npy.read(path: "\(generated)/mpncov/logits_b1.npy")
        let best = ortLogits.floats.enumerated().max { $0.element < $1.element }?.offset ?? -1
        #expect(r.out.contains(" 1. class \(String(format: "%4d", best))") && r.out.contains("label_\(best)"), "\(r.out)")
        #expect(r.out.components(separatedBy: "\n").filter { $0.contains(" p=") }.count == 3, "\(r.out)")
        let rep = try Npy.read(path: "\(dir)/rep.npy")
        #expect(rep.shape == [1, 32896])
        #expect(TensorDiff(rep, try Npy.read(path: "\(generated)/mpncov/representation_b1.npy")).cosine >= 0.9999)
        let l = try gpuinfer(["--device", "0", "mpncov", photo, "--model", "\(dir)/m.onnx", "--top", "0", "--layer", "logits", "--output", "\(dir)/l.npy"])
        #expect(l.status == 0, "\(l.err)")
        let logits = try Npy.read(path: "\(dir)/l.npy")
        #expect(logits.shape == [1, 1000] && TensorDiff(logits, ortLogits).cosine >= 0.9999)
        // A labels file of the wrong length is a reported error, not a crash.
        try "a\nb\n".write(toFile: "\(dir)/bad.txt", atomically: true, encoding: .utf8)
        let bad = try gpuinfer(["--device", "0", "mpncov", photo, "--model", "\(dir)/m.onnx", "--labels", "\(dir)/bad.txt"])
        #expect(bad.status == 1 && bad.err.contains("has 2 lines"), "\(bad.err)")
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

/// TerminalText: names keep to one printable line; messages keep their line breaks.
@Suite struct TerminalTextTests {
    @Test func controlCharactersAreEscaped() {
        #expect(TerminalText.name("plain name/ü 名") == "plain name/ü 名")
        #expect(TerminalText.name("a\u{1B}]0;t\u{07}b\nc\td\r") == "a\\x1b]0;t\\x07b\\nc\\td\\r")
        #expect(TerminalText.name("\u{7F}\u{85}\u{202E}x") == "\\x7f\\x85\\u{202e}x")
        #expect(TerminalText.lines("line 1\n\tline 2 \u{1B}[31mred\u{1B}[0m\u{08}") == "line 1\n\tline 2 \\x1b[31mred\\x1b[0m\\x08")
    }
}

/// What `gpuinfer-fuzz cli` found: the argument parser's own messages quote the user's values
/// (now escaped like every other line), and counts that no run could finish or no memory hold are
/// refused up front.
@Suite struct CLIArgumentFuzzFindingTests {
    @Test func parserMessagesEscapeControlCharacters() throws {
        let r = try gpuinfer(["bench", "model.onnx", "--iterations", "\u{1B}]0;pwned\u{07}"])
        #expect(r.status == 64, "\(r.err)")
        #expect(r.err.contains("\\x1b]0;pwned\\x07") && r.err.contains("--iterations"), "\(r.err)")
        #expect(!r.err.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 })
        let help = try gpuinfer(["bench", "--help"])
        #expect(help.status == 0 && help.out.contains("USAGE: gpuinfer bench"), "\(help.out)")
    }

    @Test func hugeCountsAreUsageErrors() throws {
        for args in [["bench-search", "--device", "cpu", "--entries", "1000", "--dim", "16", "--queries", "9223372036854775807"],
                     ["bench-search", "--device", "cpu", "--entries", "4611686018427387904", "--dim", "16"],
                     ["bench-search", "--device", "cpu", "--entries", "10", "--dim", "16", "--iterations", "2147483648"],
                     ["bench", "model.onnx", "--iterations", "2147483648"]] {
            let r = try gpuinfer(args)
            #expect(r.status == 64, "\(args): \(r.status) \(r.err)")
            #expect(r.err.contains("Error:") && (r.err.contains("does not fit") || r.err.contains("at most")), "\(args): \(r.err)")
        }
    }
}

/// File-system failures say what and where in words, never Foundation's error dumps.
@Suite struct FileSystemErrorTests {
    @Test func reasonsAreWords() {
        #expect(FileSystemErrors.reason(NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC))) == "no space left on device")
        #expect(FileSystemErrors.reason(CocoaError(.fileWriteNoPermission)) == "permission denied")
        let wrapped = NSError(domain: NSCocoaErrorDomain, code: 516, userInfo: [NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(EEXIST))])
        #expect(FileSystemErrors.reason(wrapped) == "file exists")
    }

    /// `--output-dir` that is a device or a file: the path and what it is.
    @Test func outputFolderThatIsNoFolder() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-notafolder-\(UUID().uuidString)").path
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let model = repoRoot.appendingPathComponent("Tests/data/generated/sample_cnn.onnx").path
        let input = "input=" + repoRoot.appendingPathComponent("Tests/data/generated/sample_cnn_b3_input.npy").path
        for (dir, kind) in [("/dev/full", "a character device"), (file, "a file")] {
            let r = try gpuinfer(["run", model, "--device", "cpu", "--input", input, "--output-dir", dir])
            #expect(r.status == 1 && r.err.contains("\(dir): cannot use as output folder: it is \(kind)"), "\(r.err)")
            #expect(!r.err.contains("NSCocoaErrorDomain") && !r.err.contains("could not be completed"), "\(r.err)")
        }
    }
}

