// The tuning database (round trip, invalidation, unusable files) and the tuner (`gpuinfer tune`)
// on a tiny two-convolution model: entries it writes are used by a new session, which still
// matches the reference. No timing is asserted.
import Foundation
import Testing
@testable import GPUInfer

/// Collects warnings from several threads.
private final class Warnings: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func add(_ s: String) { lock.withLock { lines.append(s) } }
    var all: [String] { lock.withLock { lines } }
}

@Suite(.serialized) struct TuningTests {
    /// Conv 7→12 channels 3×3 pad 1 (blocked kernel on PoCL) + Relu, then a depthwise 3×3 stride 2
    /// (conv2d_dw3x3_cpu): batch 2, odd sizes so that every tile has a tail.
    static func tinyModel() throws -> (Model, [String: Tensor]) {
        var rng = TestRandom(seed: 77)
        let x = rng.tensor([2, 7, 9, 13])
        let w1 = rng.tensor([12, 7, 3, 3]), b1 = rng.tensor([12]), w2 = rng.tensor([12, 1, 3, 3])
        let nodes = [
            Node(name: "conv", opType: "Conv", inputs: ["x", "w1", "b1"], outputs: ["c"], attributes: ["pads": .ints([1, 1, 1, 1])]),
            Node(name: "relu", opType: "Relu", inputs: ["c"], outputs: ["r"]),
            Node(name: "dw", opType: "Conv", inputs: ["r", "w2"], outputs: ["y"],
                 attributes: ["group": .int(12), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
        ]
        let graph = Graph(nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, dims: [2, 7, 9, 13])],
                          outputs: [ValueInfo(name: "y", dtype: nil, dims: nil)], initializers: ["w1": w1, "b1": b1, "w2": w2], opset: 17)
        return (try Model(graph: graph), ["x": x])
    }

    static func tempDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-tuning-\(UUID().uuidString)")
    }

    static func device() throws -> CLDeviceInfo { try TestDevice.require().device }

    /// Runs the tiny model with `tuning` and checks it against the reference: 63 products per
    /// output of the first conv and 9 of the second, fp32 with other summation orders/FMA: 1e-4.
    static func checkAgainstReference(_ tuning: TuningDatabase?, sourceLocation: SourceLocation = #_sourceLocation) throws -> [TuningChoice] {
        let (model, feeds) = try tinyModel()
        let session = Session(model: model, runtime: try TestDevice.require(), tuning: tuning)
        let device = try session.run(feeds)["y"]!
        let reference = try ReferenceExecutor().run(model, inputs: feeds)["y"]!
        assertClose(device, reference, rtol: 1e-4, atol: 1e-4, "tiny model on the device vs the reference", sourceLocation: sourceLocation)
        return try session.tuningChoices(for: feeds)
    }

    /// `json` with its top-level object edited.
    static func rewrite(_ json: String, _ edit: (inout [String: Any]) -> Void) throws -> String {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        edit(&object)
        return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    static let key = TuningKey(family: "conv_blocked", kernel: "conv_blocked", signature: "c7 co12 test")

    @Test func roundTripThroughTheFile() throws {
        let dir = Self.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let device = try Self.device()
        let db = TuningDatabase(directory: dir)
        #expect(db.parameters(for: Self.key, device: device) == nil)
        db.store(Self.key, parameters: ["CO": 8, "PX": 3], defaults: ["CO": 16, "PX": 5], defaultNanoseconds: 200, tunedNanoseconds: 100, device: device)
        try db.save(device: device)
        let fresh = TuningDatabase(directory: dir)
        #expect(fresh.parameters(for: Self.key, device: device) == ["CO": 8, "PX": 3])
        #expect(fresh.problem(for: device) == nil)
        // Another shape or family has no entry.
        #expect(fresh.parameters(for: TuningKey(family: "conv_blocked", kernel: "conv_blocked", signature: "c7 co13 test"), device: device) == nil)
        #expect(fresh.parameters(for: TuningKey(family: "gemm_dot", kernel: "gemm", signature: "c7 co12 test"), device: device) == nil)
        // The file says which device and driver it is for.
        let text = try String(contentsOf: try #require(fresh.fileURL(for: device)), encoding: .utf8)
        #expect(text.contains("\"format\" : 1") && text.contains(device.driverVersion))
        // Replacing keeps one entry per key.
        fresh.store(Self.key, parameters: ["CO": 4, "PX": 6], defaults: ["CO": 16, "PX": 5], defaultNanoseconds: 200, tunedNanoseconds: 90, device: device)
        #expect(fresh.entries(for: device).count == 1)
        #expect(fresh.parameters(for: Self.key, device: device) == ["CO": 4, "PX": 6])
    }

    @Test func aChangedKernelSourceInvalidatesTheEntry() throws {
        let dir = Self.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let device = try Self.device()
        let db = TuningDatabase(directory: dir)
        db.store(Self.key, parameters: ["CO": 8, "PX": 3], defaults: ["CO": 16, "PX": 5], defaultNanoseconds: 200, tunedNanoseconds: 100, device: device)
        try db.save(device: device)
        let url = try #require(db.fileURL(for: device))
        let hash = try #require(KernelLibrary.sourceHash("conv_blocked"))
        let text = try String(contentsOf: url, encoding: .utf8)
        #expect(text.contains(hash))
        try text.replacingOccurrences(of: hash, with: String(repeating: "0", count: 64)).write(to: url, atomically: true, encoding: .utf8)
        let fresh = TuningDatabase(directory: dir)
        #expect(fresh.parameters(for: Self.key, device: device) == nil)
        #expect(fresh.entries(for: device).count == 1)  // kept in the file, but stale
        #expect(fresh.problem(for: device) == nil)
    }

    @Test(arguments: ["truncated", "garbage", "empty", "newer version", "other device", "wrong types"])
    func unusableFilesGiveDefaultsAndOneWarning(kind: String) throws {
        let dir = Self.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let device = try Self.device()
        let writer = TuningDatabase(directory: dir)
        writer.store(Self.key, parameters: ["CO": 8, "PX": 3], defaults: ["CO": 16, "PX": 5], defaultNanoseconds: 200, tunedNanoseconds: 100, device: device)
        try writer.save(device: device)
        let url = try #require(writer.fileURL(for: device))
        let good = try String(contentsOf: url, encoding: .utf8)
        let bad: String = switch kind {
        case "truncated": String(good.prefix(good.count / 2))
        case "garbage": "\u{1}\u{2}not json at all"
        case "empty": ""
        case "newer version": good.replacingOccurrences(of: "\"format\" : 1", with: "\"format\" : 99")
        case "other device": try Self.rewrite(good) { $0["driver"] = "0.0-other" }
        default: good.replacingOccurrences(of: "\"PX\" : 3", with: "\"PX\" : \"three\"")
        }
        #expect(bad != good)
        try bad.write(to: url, atomically: true, encoding: .utf8)
        let warnings = Warnings()
        let db = TuningDatabase(directory: dir)
        db.warn = { warnings.add($0) }
        #expect(db.parameters(for: Self.key, device: device) == nil)
        #expect(db.parameters(for: Self.key, device: device) == nil)
        let problem = try #require(db.problem(for: device))
        switch (kind, problem) {
        case ("newer version", .wrongVersion(_, 99, 1)), ("other device", .otherDevice), ("truncated", .corrupt), ("garbage", .corrupt),
             ("empty", .corrupt), ("wrong types", .corrupt): break
        default: Issue.record("\(kind): unexpected \(problem)")
        }
        // A session with this database runs on the defaults and gives the right answer.
        let choices = try Self.checkAgainstReference(db)
        #expect(!choices.isEmpty && choices.allSatisfy { $0.source == .defaults })
        #expect(warnings.all.count == 1, "\(warnings.all)")
        // Saving replaces the unusable file.
        db.store(Self.key, parameters: ["CO": 4, "PX": 2], defaults: ["CO": 16, "PX": 5], defaultNanoseconds: 2, tunedNanoseconds: 1, device: device)
        try db.save(device: device)
        #expect(TuningDatabase(directory: dir).parameters(for: Self.key, device: device) == ["CO": 4, "PX": 2])
    }

    @Test func storedParametersAreUsedAndInvalidOnesIgnored() throws {
        let dir = Self.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let device = try Self.device()
        let defaults = try Self.checkAgainstReference(nil)
        #expect(defaults.map(\.key.family) == ["conv_blocked", "conv_dw3x3_cpu"], "\(defaults)")
        // conv2d_blocked's default columns follow the device's CPU profile (5 on AVX2, 12 on AVX-512)
        // and, the model's input size being fixed, the 13-column rows (13 on AVX-512: no idle column).
        let px = device.cpuProfile.blockedColumns(width: 13)
        #expect(px == (device.cpuProfile.wide ? 13 : 5))
        #expect(defaults.map(\.parameters) == [["CO": 16, "PX": px], ["ROWS": 4]])
        let db = TuningDatabase(directory: dir)
        db.store(defaults[0].key, parameters: ["CO": 8, "PX": 3], defaults: defaults[0].defaults, defaultNanoseconds: 2, tunedNanoseconds: 1, device: device)
        db.store(defaults[1].key, parameters: ["ROWS": 3], defaults: defaults[1].defaults, defaultNanoseconds: 2, tunedNanoseconds: 1, device: device)
        try db.save(device: device)
        let tuned = try Self.checkAgainstReference(TuningDatabase(directory: dir))
        #expect(tuned.map(\.parameters) == [["CO": 8, "PX": 3], ["ROWS": 3]])
        #expect(tuned.allSatisfy { $0.source == .database })
        // An entry the kernel cannot take (a hand-edited file) is ignored.
        db.store(defaults[0].key, parameters: ["CO": 5, "PX": 3], defaults: defaults[0].defaults, defaultNanoseconds: 2, tunedNanoseconds: 1, device: device)
        db.store(defaults[1].key, parameters: ["ROWS": 3, "EXTRA": 1], defaults: defaults[1].defaults, defaultNanoseconds: 2, tunedNanoseconds: 1, device: device)
        try db.save(device: device)
        let ignored = try Self.checkAgainstReference(TuningDatabase(directory: dir))
        #expect(ignored.map(\.parameters) == [["CO": 16, "PX": px], ["ROWS": 4]])
        #expect(ignored.allSatisfy { $0.source == .defaults })
    }

    @Test func environmentOverrideBeatsTheDatabase() throws {
        let dir = Self.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let runtime = try TestDevice.require()
        let db = TuningDatabase(directory: dir)
        db.store(Self.key, parameters: ["CO": 8, "PX": 3], defaults: ["CO": 16, "PX": 5], defaultNanoseconds: 2, tunedNanoseconds: 1, device: runtime.device)
        let space = TuningSpace(axes: [("CO", [4, 8, 16]), ("PX", [3, 5])]) { _ in true }
        let node = Node(name: "n", opType: "Conv", inputs: [], outputs: [])
        let ctx = EncodeContext(runtime: runtime, node: node, tuning: db)
        #expect(ctx.tunedParameters(Self.key, defaults: ["CO": 16, "PX": 5], space: space) == ["CO": 8, "PX": 3])
        #expect(ctx.tunedParameters(Self.key, defaults: ["CO": 16, "PX": 5], space: space, environment: ["CO": 4, "PX": 7]) == ["CO": 4, "PX": 7])
        #expect(ctx.tuningChoices.map(\.source) == [.database, .environment])
    }

    @Test func tuneWritesEntriesThatANewSessionUses() throws {
        let dir = Self.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let info = try Self.device()
        let (model, feeds) = try Self.tinyModel()
        let db = TuningDatabase(directory: dir)
        let tuner = try Tuner(model: model, runtime: try CLRuntime(device: info, profiling: true), database: db)
        // Two candidates per shape keep the test short (each is a program build).
        let report = try tuner.tune(inputs: feeds, options: TuningOptions(timeLimit: 120, repetitions: 2, modelRounds: 1, maxCandidates: 2))
        #expect(report.shapes.map(\.key.family).sorted() == ["conv_blocked", "conv_dw3x3_cpu"])
        for s in report.shapes {
            #expect(s.stored && s.measured == 3, "\(s.key): \(s.rejected)")
            #expect(s.rejected.isEmpty, "\(s.key): \(s.rejected)")
        }
        #expect(report.latencyBefore > 0 && report.latencyAfter > 0)
        // A new database object (as a new process would) and a new session use the entries.
        let fresh = TuningDatabase(directory: dir)
        #expect(fresh.entries(for: info).count == 2)
        let choices = try Self.checkAgainstReference(fresh)
        #expect(choices.allSatisfy { $0.source == .database })
        for s in report.shapes { #expect(choices.first { $0.key == s.key }?.parameters == s.best) }
        // Reset clears them.
        try fresh.reset(device: info)
        #expect(TuningDatabase(directory: dir).entries(for: info).isEmpty)
        #expect(try Self.checkAgainstReference(TuningDatabase(directory: dir)).allSatisfy { $0.source == .defaults })
    }

    @Test func aCandidateWithDifferentOutputIsRejected() {
        #expect(Tuner.outputsAgree([1, 2, 3], [1, 2, 3]) == nil)
        #expect(Tuner.outputsAgree([1, 2, 3.0001], [1, 2, 3]) == nil)
        #expect(Tuner.outputsAgree([1, 2, 0], [1, 2, 3]) != nil)
        #expect(Tuner.outputsAgree([1, 2], [1, 2, 3]) != nil)
        #expect(Tuner.outputsAgree([1, .nan, 3], [1, 2, 3]) != nil)
    }
}

/// `gpuinfer tune` end to end on the sample CNN (Tests/generate-test-data.sh writes it).
@Suite(.serialized) struct TuneCLITests {
    static let sample = repoRoot.appendingPathComponent("Tests/data/generated/sample_cnn.onnx").path

    @Test func tuneStoresEntriesAndResetClearsThem() throws {
        let dir = TuningTests.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ["GPUINFER_TUNING_DIR": dir.path]
        let r = try gpuinfer(["tune", Self.sample, "--device", "0", "--batch", "2", "--time-limit", "120", "--max-candidates", "1",
                              "--repetitions", "2", "--json"], environment: env)
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let shapes = try #require(object["shapes"] as? [[String: Any]])
        #expect(!shapes.isEmpty)
        #expect(shapes.allSatisfy { ($0["stored"] as? Bool) == true })
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }
        #expect(files.count == 1)
        let cleared = try gpuinfer(["tune", "--reset", "--device", "0"], environment: env)
        #expect(cleared.status == 0, "\(cleared.err)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }.isEmpty)
    }

    @Test func anEnvironmentOverrideIsNotTuned() throws {
        let dir = TuningTests.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try gpuinfer(["tune", Self.sample, "--device", "0", "--time-limit", "60", "--max-candidates", "1", "--repetitions", "1", "--json"],
                             environment: ["GPUINFER_TUNING_DIR": dir.path, "GPUINFER_CONV_TILE": "8x3"])
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let skipped = try #require(object["skipped"] as? [String])
        #expect(skipped.contains { $0.contains("conv_blocked") && $0.contains("environment override") }, "\(skipped)")
        let shapes = try #require(object["shapes"] as? [[String: Any]])
        #expect(!shapes.contains { ($0["family"] as? String) == "conv_blocked" })
    }

    @Test func badInvocationsFailWithAMessage() throws {
        let noModel = try gpuinfer(["tune", "--device", "0"])
        #expect(noModel.status != 0)
        let reference = try gpuinfer(["tune", Self.sample, "--device", "cpu"], environment: ["GPUINFER_TUNING_DIR": TuningTests.tempDirectory().path])
        #expect(reference.status != 0 && reference.err.contains("OpenCL device"), "\(reference.err)")
        let help = try gpuinfer(["tune", "--help"])
        #expect(help.out.contains("--time-limit") && help.out.contains("GPUINFER_TUNING_DIR"), "\(help.out)")
    }
}
