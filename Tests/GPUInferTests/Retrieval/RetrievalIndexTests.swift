// RetrievalIndex: building, normalizing, saving, loading (every corrupt, truncated or mismatched
// file is a typed error) and searching on the device and the CPU.
import Foundation
import Testing
@testable import GPUInfer
@testable import GPUInferVision
@testable import GPUInferRetrieval

@Suite struct RetrievalIndexTests {
    static func temporaryFolder() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-index-\(UUID().uuidString)").path
    }

    /// 40 random 12-d rows (not normalized) and their names.
    static func sampleIndex() throws -> RetrievalIndex {
        var rng = TestRandom(seed: 66)
        var index = try RetrievalIndex(dimension: 12, model: "test-model", root: "/photos")
        let rows = (0..<(40 * 12)).map { _ in rng.float(-3, 3) }
        try index.add(descriptors: rows, files: (0..<40).map { "dir \($0 % 3)/image_\($0).jpg" })
        index.skipped = [SkippedFile(path: "bad.jpg", reason: "corrupt")]
        return index
    }

    @Test func addNormalizesRows() throws {
        let index = try Self.sampleIndex()
        #expect(index.count == 40)
        for i in 0..<index.count {
            let norm = index.descriptor(i).reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            #expect(abs(norm - 1) < 1e-6)
        }
        #expect(index.path(3) == "/photos/dir 0/image_3.jpg")
    }

    @Test func addRejectsBadDescriptors() throws {
        var index = try RetrievalIndex(dimension: 3, model: "m")
        #expect(throws: RetrievalIndexError.self) { try index.add(descriptors: [1, 2, 3, 4], files: ["a"]) }
        #expect(throws: RetrievalIndexError.invalidDescriptors(reason: "row 1 is all zeros (it has no direction)")) {
            try index.add(descriptors: [1, 0, 0, 0, 0, 0], files: ["a", "b"])
        }
        #expect(throws: RetrievalIndexError.self) { try index.add(descriptors: [1, .nan, 0], files: ["a"]) }
        #expect(throws: RetrievalIndexError.self) { try index.add(descriptors: Tensor(shape: [1, 4], floats: [1, 2, 3, 4]), files: ["a"]) }
        #expect(index.count == 0)
        #expect(throws: RetrievalIndexError.self) { try RetrievalIndex(dimension: 0, model: "m") }
    }

    @Test func saveAndLoadRoundTrip() throws {
        let dir = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let index = try Self.sampleIndex()
        try index.save(to: dir)
        let loaded = try RetrievalIndex.load(from: dir)
        #expect(loaded == index)
        // The descriptors are a plain .npy that the general reader (and NumPy) reads too.
        let npy = try Npy.read(path: dir + "/descriptors.npy")
        #expect(npy.shape == [40, 12])
        #expect(npy.floats == index.descriptors)
        let lines = try String(contentsOfFile: dir + "/files.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.first == #"{"path":"dir 0/image_0.jpg"}"#)
        // An empty index round-trips too.
        let empty = try RetrievalIndex(dimension: 5, model: "m")
        try empty.save(to: dir + "/empty")
        #expect(try RetrievalIndex.load(from: dir + "/empty") == empty)
    }

    /// Saves the sample index, applies `damage` to the folder, and returns what `load` throws.
    func loadError(_ damage: (String) throws -> Void) throws -> RetrievalIndexError? {
        let dir = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.sampleIndex().save(to: dir)
        try damage(dir)
        do {
            _ = try RetrievalIndex.load(from: dir)
            return nil
        } catch let e as RetrievalIndexError {
            return e
        }
    }

    static func edit(_ path: String, _ change: (inout Data) -> Void) throws {
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        change(&data)
        try data.write(to: URL(fileURLWithPath: path))
    }

    static func editManifest(_ dir: String, _ change: (inout [String: Any]) -> Void) throws {
        let path = dir + "/manifest.json"
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] ?? [:]
        change(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
    }

    @Test func corruptIndexFilesGiveTypedErrors() throws {
        let fm = FileManager.default
        func check(_ what: String, _ expected: (RetrievalIndexError) -> Bool, _ damage: (String) throws -> Void) throws {
            let e = try loadError(damage)
            #expect(e.map(expected) == true, "\(what): got \(e.map { "\($0)" } ?? "no error")")
        }
        try check("no manifest", { if case .missingFile = $0 { true } else { false } }) { try fm.removeItem(atPath: $0 + "/manifest.json") }
        try check("manifest not JSON", { if case let .corrupt(p, _) = $0 { p.hasSuffix("manifest.json") } else { false } }) {
            try Data("{\"format\": ".utf8).write(to: URL(fileURLWithPath: $0 + "/manifest.json"))
        }
        try check("manifest lacks count", { if case let .corrupt(_, r) = $0 { r.contains("count") } else { false } }) {
            try Self.editManifest($0) { $0["count"] = nil }
        }
        try check("other format", { if case .corrupt = $0 { true } else { false } }) { try Self.editManifest($0) { $0["format"] = "faiss" } }
        try check("future version", { if case .unsupportedVersion(_, 3, 2) = $0 { true } else { false } }) {
            try Self.editManifest($0) { $0["version"] = 3 }
        }
        // Version 2 is the sharded format: a one-folder manifest claiming it is refused as corrupt.
        try check("version 2 without shards", { if case let .corrupt(p, reason) = $0 { p.hasSuffix("manifest.json") && reason.contains("sharded") } else { false } }) {
            try Self.editManifest($0) { $0["version"] = 2 }
        }
        try check("descriptors escape the folder", { if case .corrupt = $0 { true } else { false } }) {
            try Self.editManifest($0) { $0["descriptors"] = "../x.npy" }
        }
        try check("no descriptors", { if case let .missingFile(p) = $0 { p.hasSuffix("descriptors.npy") } else { false } }) {
            try fm.removeItem(atPath: $0 + "/descriptors.npy")
        }
        try check("descriptors truncated", { if case let .truncated(_, e, a) = $0 { e == 128 + 40 * 12 * 4 && a == e - 100 } else { false } }) {
            try Self.edit($0 + "/descriptors.npy") { $0.removeLast(100) }
        }
        try check("descriptors header cut", { if case .corrupt = $0 { true } else { false } }) {
            try Self.edit($0 + "/descriptors.npy") { $0 = $0.prefix(40) }
        }
        try check("descriptors not .npy", { if case let .corrupt(_, r) = $0 { r.contains("magic") } else { false } }) {
            try Self.edit($0 + "/descriptors.npy") { $0[0] = 0x00 }
        }
        try check("descriptors int64", { if case let .corrupt(_, r) = $0 { r.contains("float32") } else { false } }) {
            try Npy.write(Tensor(shape: [40, 12], ints: Array(repeating: 1, count: 480)), path: $0 + "/descriptors.npy")
        }
        try check("descriptors with trailing bytes", { if case .corrupt = $0 { true } else { false } }) {
            try Self.edit($0 + "/descriptors.npy") { $0.append(contentsOf: [0, 0, 0, 0]) }
        }
        try check("count disagrees", { if case let .mismatch(p, _) = $0 { p.hasSuffix("descriptors.npy") } else { false } }) {
            try Self.editManifest($0) { $0["count"] = 41 }
        }
        try check("dimension disagrees", { if case .mismatch = $0 { true } else { false } }) { try Self.editManifest($0) { $0["dimension"] = 13 } }
        try check("row not unit length", { if case let .corrupt(_, r) = $0 { r.contains("row 0") } else { false } }) {
            try Self.edit($0 + "/descriptors.npy") { $0[128 + 3] = 0x7F }  // top byte of row 0's first float
        }
        try check("a file line missing", { if case let .mismatch(p, _) = $0 { p.hasSuffix("files.jsonl") } else { false } }) {
            let path = $0 + "/files.jsonl"
            let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").dropLast()
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        }
        try check("files.jsonl cut mid-line", { if case .truncated = $0 { true } else { false } }) {
            try Self.edit($0 + "/files.jsonl") { $0.removeLast(5) }
        }
        try check("bad file line", { if case let .corrupt(_, r) = $0 { r.contains("line 2") } else { false } }) {
            let path = $0 + "/files.jsonl"
            var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
            lines[1] = "{\"name\": 3}"
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        }
        try check("no files.jsonl", { if case .missingFile = $0 { true } else { false } }) { try fm.removeItem(atPath: $0 + "/files.jsonl") }
        // A path that is a file, not a folder.
        let file = Self.temporaryFolder()
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        defer { try? fm.removeItem(atPath: file) }
        #expect(throws: RetrievalIndexError.self) { try RetrievalIndex.load(from: file) }
    }

    @Test func searcherOnDeviceAndCPUAgree() throws {
        let runtime = try TestDevice.require()
        let index = try Self.sampleIndex()
        // Queries: rows 5 and 17 scaled by 3 (normalized by the searcher), and a random vector.
        var rng = TestRandom(seed: 9)
        let queries = index.descriptor(5).map { $0 * 3 } + index.descriptor(17).map { $0 * 3 } + (0..<12).map { _ in rng.float() }
        let q = Tensor(shape: [3, 12], floats: queries)
        let device = try IndexSearcher(index: index, runtime: runtime, maxChunkBytes: 12 * 4 * 7).search(queries: q, k: 5)
        let cpu = try IndexSearcher(index: index, runtime: nil).search(queries: q, k: 5)
        #expect(device.map { $0.map(\.index) } == cpu.map { $0.map(\.index) })
        for (a, b) in zip(device.joined(), cpu.joined()) { #expect(abs(a.score - b.score) < 1e-5) }  // 12-term fp32 dot products
        #expect(device[0][0].index == 5 && abs(device[0][0].score - 1) < 1e-5 && device[0][0].rank == 1)
        #expect(device[1][0].file == "dir 2/image_17.jpg")
        #expect(throws: RetrievalIndexError.self) { try IndexSearcher(index: index, runtime: nil).search(queries: Tensor(shape: [1, 3], floats: [1, 2, 3]), k: 1) }
    }

    @Test func listingFindsImagesBySignatureAndIgnoresHiddenFilesAndTheOutput() throws {
        let fm = FileManager.default
        let dir = Self.temporaryFolder()
        defer { try? fm.removeItem(atPath: dir) }
        for sub in ["a/b", ".hidden", "db"] { try fm.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true) }
        let jpegHead = Data([0xFF, 0xD8, 0xFF, 0xE0, 0, 0])
        let files: [(String, Data)] = [
            ("z.JPG", jpegHead), ("a/b/no_extension", jpegHead), ("a/pic.png", Data("x".utf8)), ("a/notes.md", Data("# notes".utf8)),
            (".DS_Store", Data("x".utf8)), (".hidden/x.jpg", jpegHead), ("db/y.jpg", jpegHead), ("m.jpeg", Data()),
        ]
        for (name, data) in files { #expect(fm.createFile(atPath: dir + "/" + name, contents: data)) }
        let listing = try FolderIndexer.listFiles(in: dir, excluding: dir + "/db")
        #expect(listing.images == ["a/b/no_extension", "a/pic.png", "m.jpeg", "z.JPG"])
        #expect(listing.others.map(\.path) == ["a/notes.md"])
        #expect(throws: GPUInferError.self) { try FolderIndexer.listFiles(in: dir + "/missing") }
    }
}
