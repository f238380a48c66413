// Sharded indexes end to end with the small embedding model on the retrieval fixture photos (9
// candidate images, two of them corrupt): shards built one by one, resumed, and by two processes at
// once equal the unsharded index (rows, files, search results with k beyond a shard, the merged
// files byte for byte); a changed shard and a missing one are refused.
import Foundation
import Testing
@testable import GPUInfer
@testable import GPUInferRetrieval

@Suite(.serialized) struct ShardedIndexTests {
    static let script = "Tests/Models/make_retrieval_fixtures.py"

    static func paths() throws -> (model: String, photos: String, query: String, work: String) {
        (try GeneratedData.require("retrieval/embed_small.onnx", script: script), try GeneratedData.require("retrieval/photos", script: script),
         try GeneratedData.require("retrieval/query_small.jpg", script: script),
         FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-shards-\(UUID().uuidString)").path)
    }

    @Test func slicesAreWholeBatchesCoveringEveryFile() throws {
        for (files, batch, n) in [(9, 2, 3), (10, 3, 4), (1, 8, 1), (100, 7, 5), (16, 8, 2)] {
            var covered: [Int] = []
            for i in 0..<n {
                let r = ShardedIndex.slice(fileCount: files, batch: batch, shard: i, of: n)
                #expect(r.lowerBound % batch == 0 && (r.upperBound % batch == 0 || r.upperBound == files))
                covered += Array(r)
            }
            #expect(covered == Array(0..<files), "\(files) files, batch \(batch), \(n) shards")
        }
        #expect(throws: GPUInferError.self) { _ = try ShardedIndex.Spec(parsing: "3/3") }
        #expect(throws: GPUInferError.self) { _ = try ShardedIndex.Spec(parsing: "1-2") }
    }

    @Test func shardsEqualTheUnshardedIndex() throws {
        let p = try Self.paths()
        defer { try? FileManager.default.removeItem(atPath: p.work) }
        let plain = p.work + "/plain", sharded = p.work + "/sharded"
        let r = try gpuinfer(["index", "--device", "0", p.model, p.photos, "--output", plain, "--batch", "2", "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        // Shard 1 in two runs (stopped after one batch, then resumed), then 2, then 0.
        let first = try gpuinfer(["index", "--device", "0", p.model, p.photos, "--output", sharded, "--batch", "2", "--shard", "1/3", "--max-batches", "1", "--quiet"])
        #expect(first.status == 0 && first.out.contains("stopped after 1 batch"), "\(first.out)\(first.err)")
        for shard in ["1/3", "2/3", "0/3"] {
            let s = try gpuinfer(["index", "--device", "0", p.model, p.photos, "--output", sharded, "--batch", "2", "--shard", shard, "--quiet"])
            #expect(s.status == 0 && s.out.contains("indexed shard \(shard)"), "\(s.out)\(s.err)")
        }
        let again = try gpuinfer(["index", "--device", "0", p.model, p.photos, "--output", sharded, "--batch", "2", "--shard", "2/3", "--quiet"])
        #expect(again.status == 0 && again.out.contains("already complete") && again.out.contains("3 of 3 shards done"), "\(again.out)")
        let a = try RetrievalIndex.load(from: plain), b = try RetrievalIndex.load(from: sharded)
        #expect(a.files == b.files && a.descriptors == b.descriptors && a.dimension == b.dimension)
        #expect(b.skipped.map(\.path) == ["corrupt.jpg", "empty.jpg"])
        // Search: the same ranks, rows and scores, k larger than every shard.
        let queries = try Tensor(shape: [3, a.dimension], floats: Array(a.descriptors.prefix(2 * a.dimension)) + (0..<a.dimension).map { Float($0 % 5) - 2 })
        for runtime in [try TestDevice.require(), nil] as [CLRuntime?] {
            let one = try IndexSearcher(index: a, runtime: runtime).search(queries: queries, k: 6)
            let many = try ShardedSearcher(db: sharded, runtime: runtime).search(queries: queries, k: 6)
            #expect(one == many, "\(runtime == nil ? "cpu" : "device"): \(one.map { $0.map(\.index) }) vs \(many.map { $0.map(\.index) })")
        }
        // The CLI's search on both gives the same lines.
        let s1 = try gpuinfer(["search", plain, p.query, "-k", "7", "--device", "0"]), s2 = try gpuinfer(["search", sharded, p.query, "-k", "7", "--device", "0"])
        #expect(s1.status == 0 && s1.out == s2.out, "\(s1.out)\n---\n\(s2.out)\(s2.err)")
        // Two devices (here two contexts on the same one) take alternate shards; same lines.
        let s3 = try gpuinfer(["search", sharded, p.query, "-k", "7", "--device", "0,0"])
        #expect(s3.status == 0 && s3.out == s1.out, "\(s3.out)\(s3.err)")
        let runtimes: [CLRuntime?] = [try TestDevice.require(), try CLRuntime(device: try #require(TestDevice.info))]
        #expect(try ShardedSearcher(db: sharded, runtimes: runtimes).search(queries: queries, k: 6) == IndexSearcher(index: a, runtime: try TestDevice.require()).search(queries: queries, k: 6))
        let several = try gpuinfer(["search", plain, p.query, "--device", "0,0"])
        #expect(several.status != 0 && several.err.contains("sharded"), "\(several.err)")
        // merge writes the unsharded index's descriptors and file list byte for byte.
        let m = try gpuinfer(["merge", sharded, "--output", p.work + "/merged"])
        #expect(m.status == 0, "\(m.err)")
        for file in [RetrievalIndex.descriptorsFile, RetrievalIndex.filesFile] {
            #expect(FileManager.default.contents(atPath: plain + "/" + file) == FileManager.default.contents(atPath: p.work + "/merged/" + file), "\(file)")
        }
        // A changed shard is refused, naming the file and the checksum.
        let victim = sharded + "/shards/s-00001/" + RetrievalIndex.descriptorsFile
        var bytes = try #require(FileManager.default.contents(atPath: victim))
        bytes[bytes.count - 1] ^= 1
        try bytes.write(to: URL(fileURLWithPath: victim))
        let bad = try gpuinfer(["search", sharded, p.query, "--device", "0"])
        #expect(bad.status == 1 && bad.err.contains("s-00001") && bad.err.contains("sha256"), "\(bad.err)")
    }

    /// Descriptors written as shards (`writeShard`), with exact ties across shard boundaries
    /// (the same row in shards 0, 1 and 3) and k beyond a shard: the sharded search equals the
    /// search of the concatenated index, ties ranked by global row, on the device and the CPU.
    @Test func writtenShardsSearchLikeOneIndex() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-shards-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: work) }
        var rng = TestRandom(seed: 3)
        let d = 13, sizes = [5, 1, 7, 4]
        var all = try RetrievalIndex(dimension: d, model: "m")
        let twin = rng.tensor([d]).floats
        var offset = 0
        for (i, n) in sizes.enumerated() {
            var rows = rng.tensor([n, d]).floats
            if i != 2 { rows.replaceSubrange(0..<d, with: twin) }
            var part = try RetrievalIndex(dimension: d, model: "m")
            try part.add(descriptors: rows, files: (offset..<offset + n).map { "f\($0)" })
            try all.add(descriptors: rows, files: (offset..<offset + n).map { "f\($0)" })
            _ = try ShardedIndex.writeShard(part, db: work, spec: try ShardedIndex.Spec(index: i, count: sizes.count), fileOffset: offset)
            offset += n
        }
        let queries = Tensor(shape: [2, d], floats: twin + rng.tensor([d]).floats)
        for runtime in [try TestDevice.require(), nil] as [CLRuntime?] {
            let one = try IndexSearcher(index: all, runtime: runtime).search(queries: queries, k: 9)
            let many = try ShardedSearcher(db: work, runtime: runtime).search(queries: queries, k: 9)
            #expect(one == many, "\(one.map { $0.map(\.index) }) vs \(many.map { $0.map(\.index) })")
            #expect(Array(many[0].prefix(3).map(\.index)) == [0, 5, 13], "ties by global row: \(many[0].map(\.index))")
        }
        #expect(try RetrievalIndex.load(from: work) == all)
        #expect(throws: RetrievalIndexError.self) { _ = try ShardedIndex.writeShard(all, db: work, spec: try ShardedIndex.Spec(index: 0, count: 4), fileOffset: 0) }
    }

    /// float16 storage: half the bytes, loading widens the halves exactly, every cosine within
    /// 1e-3 of float32's (a unit vector's components lose at most 2⁻¹¹ of their value: the
    /// cosine moves by at most 2⁻¹¹·Σ|q_i·x_i| ≤ 4.9e-4); sharded f16 equals unsharded f16; `index --dtype f16`.
    @Test func float16Storage() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-f16-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: work) }
        var rng = TestRandom(seed: 9)
        let d = 300, n = 211
        var full = try RetrievalIndex(dimension: d, model: "m")
        try full.add(descriptors: rng.tensor([n, d]).floats, files: (0..<n).map { "f\($0)" })
        var half = full
        half.storage = .float16
        try full.save(to: work + "/f32")
        try half.save(to: work + "/f16")
        let size = { (p: String) in ((try? FileManager.default.attributesOfItem(atPath: p + "/" + RetrievalIndex.descriptorsFile))?[.size] as? NSNumber)?.intValue ?? 0 }
        #expect(size(work + "/f16") - 128 == (size(work + "/f32") - 128) / 2)
        let loaded = try RetrievalIndex.load(from: work + "/f16")
        #expect(loaded.storage == .float16 && loaded.descriptors == full.descriptors.map { Float(Float16($0)) })
        let queries = rng.tensor([7, d])
        let exact = try IndexSearcher(index: full, runtime: try TestDevice.require()).search(queries: queries, k: n)
        let approx = try IndexSearcher(index: loaded, runtime: try TestDevice.require()).search(queries: queries, k: n)
        for (a, b) in zip(exact, approx) {
            var scores: [Int: Float] = [:]
            for m in a { scores[m.index] = m.score }
            for m in b { #expect(abs(m.score - (scores[m.index] ?? 9)) <= 1e-3, "row \(m.index): \(m.score) vs \(scores[m.index] ?? 9)") }
        }
        // Sharded float16 = unsharded float16.
        for (i, range) in [0..<100, 100..<211].enumerated() {
            var part = try RetrievalIndex(dimension: d, model: "m")
            part.storage = .float16
            try part.add(descriptors: Array(full.descriptors[range.lowerBound * d..<range.upperBound * d]), files: range.map { "f\($0)" })
            _ = try ShardedIndex.writeShard(part, db: work + "/sharded", spec: try ShardedIndex.Spec(index: i, count: 2), fileOffset: range.lowerBound)
        }
        #expect(try ShardedSearcher(db: work + "/sharded", runtime: try TestDevice.require()).search(queries: queries, k: 9)
                == IndexSearcher(index: loaded, runtime: try TestDevice.require()).search(queries: queries, k: 9))
        // The CLI: index --dtype f16, then search it.
        let p = try Self.paths()
        let r = try gpuinfer(["index", "--device", "0", p.model, p.photos, "--output", work + "/cli", "--dtype", "f16", "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        #expect(try RetrievalIndex.load(from: work + "/cli").storage == .float16)
        let s = try gpuinfer(["search", work + "/cli", p.query, "-k", "1", "--device", "0"])
        #expect(s.status == 0 && s.out.contains("grace_hopper.jpg"), "\(s.out)\(s.err)")
        let bad = try gpuinfer(["index", "--device", "0", p.model, p.photos, "--output", work + "/bad", "--dtype", "f8"])
        #expect(bad.status != 0 && bad.err.contains("--dtype"), "\(bad.err)")
    }

    /// Two processes building the two shards at the same time: the manifest lists both.
    @Test func concurrentShardsLoseNothing() throws {
        let p = try Self.paths()
        defer { try? FileManager.default.removeItem(atPath: p.work) }
        let db = p.work + "/db"
        let processes = try ["0/2", "1/2"].map { shard -> Process in
            let process = Process()
            process.executableURL = try gpuinferBinary()
            process.arguments = ["index", "--device", "0", p.model, p.photos, "--output", db, "--batch", "2", "--shard", shard, "--quiet"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        for process in processes { process.waitUntilExit() }
        #expect(processes.allSatisfy { $0.terminationStatus == 0 })
        let index = try RetrievalIndex.load(from: db)
        #expect(index.count == 7)
        // Only one shard of three: incomplete, refused with the missing shard named.
        let partial = p.work + "/partial"
        let one = try gpuinfer(["index", "--device", "0", p.model, p.photos, "--output", partial, "--batch", "2", "--shard", "2/3", "--quiet"])
        #expect(one.status == 0)
        let refused = try gpuinfer(["search", partial, p.query, "--device", "0"])
        #expect(refused.status == 1 && refused.err.contains("incomplete") && refused.err.contains("0, 1"), "\(refused.err)")
        // A shard of another job (other batch size) is refused.
        let other = try gpuinfer(["index", "--device", "0", p.model, p.photos, "--output", partial, "--batch", "3", "--shard", "0/3", "--quiet"])
        #expect(other.status == 1 && other.err.contains("batch"), "\(other.err)")
    }
}
