// Image retrieval commands: `index` (embed a folder into an index, resumably), `search` (rank an
// index against query images on the device), `compare` (cosine similarity of two images) and
// `bench-search` (queries/s on a synthetic database).
import ArgumentParser
import Foundation
import GPUInfer
import GPUInferVision
import GPUInferRetrieval

/// Options shared by the commands that load an image model.
struct ImageModelOptions: ParsableArguments {
    @Option(help: "Folder with generated models (else $GPUINFER_MODELS, then Models/generated).") var modelsDir: String?
    @Option(help: "Refuse images whose header declares more pixels than this (checked before decoding).")
    var maxPixels: Int = ImageDecoder.defaultMaxPixels

    /// Loads `name` (zoo name or .onnx path) as an image model on `device`, printing the device.
    func load(_ name: String, device: DeviceOption) throws -> (model: ImageModel, fingerprint: String) {
        let options = try device.executionOptions()
        let path = try ModelZoo.resolve(name, modelsDir: modelsDir)
        let m = try Model(path: path, options: LoadOptions(options))
        let selection = try device.selection()
        let imageModel = try ImageModel(model: m, device: selection, options: options)
        FileHandleWriter.write("device: \(imageModel.session.deviceDescription)\(selection == .automatic ? " (default)" : "")\n")
        if let weights = m.metadata["gpuinfer.weights"], weights.hasPrefix("random") {
            FileHandleWriter.write("note: model '\(name)' has random weights (\(weights))\n")
        }
        // The model file's SHA-256 with the input size and preprocessing: what an index records and search compares.
        let fingerprint = try ModelFingerprint.of(modelAt: path, preprocessing: "\(imageModel.preprocessing)",
                                                  cacheDirectory: ExecutionOptions.Folders.process.cache)
        return (imageModel, fingerprint)
    }

    /// Decodes `paths`, printing each failure; returns the images that decoded and the failure count.
    func decode(_ paths: [String]) -> (images: [(index: Int, path: String, image: Image)], failures: Int) {
        ImageInputs.decode(paths, maxPixels: maxPixels)
    }
}

struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Embed every image under a folder into a retrieval index (resumable).",
        discussion: """
            Walks DIR recursively in sorted order; JPEG and PNG files are embedded BATCH at a time, other \
            files and images that fail to decode are skipped and reported. DB becomes a folder with \
            descriptors.npy (float32 [N, D], L2-normalized), files.jsonl and manifest.json. If a run is \
            interrupted (Ctrl-C, a crash, --max-batches), running the same command again continues it.
            """)

    @Argument(help: "Zoo name (e.g. netvlad) or .onnx path of an image model.") var model: String
    @Argument(help: "Folder of images (searched recursively).") var dir: String
    @Option(name: .shortAndLong, help: "Index folder to write.") var output: String
    @OptionGroup var deviceOption: DeviceOption
    @OptionGroup var imageOptions: ImageModelOptions
    @Option(help: "Images per inference (an interrupted run keeps its own).") var batch: Int = 8
    @Flag(help: "Discard an interrupted run or an existing index in --output and start again.") var restart = false
    @Option(help: "Stop after this many batches (rerun to continue).") var maxBatches: Int?
    @Option(help: "Build shard I of N (e.g. 0/4) of a sharded index: a deterministic slice (whole batches) of the sorted file list, into DB/shards/.") var shard: String?
    @Option(help: "Index the files listed in FILE (one path relative to DIR per line) instead of every image under DIR.") var fileList: String?
    @Option(help: "Descriptor storage: f32, or f16 (half the bytes; cosines move by at most ~5e-4).") var dtype: String = "f32"
    @Flag(help: "Serve shards: read one I/N per line on stdin, build that shard with the model kept loaded, answer one JSON line per shard on stdout (for drivers such as scripts/ray_index.py); ends at end of input.")
    var serveShards = false
    @Flag(help: "No progress bar.") var quiet = false

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        if serveShards && shard != nil { throw ValidationError("--serve-shards reads the shards from stdin: leave out --shard") }
        guard DescriptorStorage(rawValue: dtype) != nil else { throw ValidationError("--dtype must be f32 or f16, got '\(dtype)'") }
        guard maxBatches.map({ $0 >= 1 }) ?? true else { throw ValidationError("--max-batches must be at least 1") }
        if let shard { do { _ = try ShardedIndex.Spec(parsing: shard) } catch { throw ValidationError("\(error)") } }
        if fileList != nil && shard == nil && !serveShards { throw ValidationError("--file-list goes with --shard or --serve-shards (an unsharded index takes every image under DIR)") }
    }

    /// The relative paths listed in --file-list (blank lines and # comments ignored).
    func listedFiles() throws -> [String]? {
        guard let fileList else { return nil }
        guard let data = FileManager.default.contents(atPath: fileList), let text = String(data: data, encoding: .utf8) else {
            throw GPUInferError.io(path: fileList, reason: "cannot read as UTF-8 text")
        }
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    func run() throws {
        try reportingErrors {
            let (imageModel, fingerprint) = try imageOptions.load(model, device: deviceOption)
            // A path is stored absolute, so `search` finds the model from any working directory.
            let modelName = model.hasSuffix(".onnx") || model.contains("/") ? URL(fileURLWithPath: model).standardizedFileURL.path : model
            if serveShards {
                // One long-lived process per device: the model and its programs stay loaded.
                let files = try listedFiles()
                let lookahead = try deviceOption.executionOptions().pipelineLookahead
                while let line = readLine() {
                    let text = line.trimmingCharacters(in: .whitespaces)
                    if text.isEmpty { continue }
                    var answer: [String: Any] = ["shard": text]
                    let start = Date()
                    do {
                        let spec = try ShardedIndex.Spec(parsing: text)
                        let r = try ShardedIndex.indexShard(model: imageModel, modelName: modelName, fingerprint: fingerprint, folder: dir, db: output, spec: spec,
                                                            batch: batch, fileList: files, maxPixels: imageOptions.maxPixels, lookahead: lookahead,
                                                            storage: DescriptorStorage(rawValue: dtype) ?? .float32)
                        answer["rows"] = r.rows ?? 0
                        answer["files"] = r.files.count
                        answer["already_complete"] = r.alreadyComplete
                        answer["shards_done"] = r.shardsDone
                        answer["images_per_s"] = r.indexing?.imagesPerSecond ?? 0
                        answer["skipped"] = (r.indexing?.skipped ?? []).map { ["path": $0.path, "reason": $0.reason] }
                    } catch {
                        answer["error"] = "\(error)"
                    }
                    answer["seconds"] = Date().timeIntervalSince(start)
                    let data = try JSONSerialization.data(withJSONObject: answer, options: [.sortedKeys, .withoutEscapingSlashes])
                    // Written straight to the descriptor: the driver waits for each line.
                    FileHandle.standardOutput.write(data + Data("\n".utf8))
                }
                return
            }
            if let shard {
                let spec = try ShardedIndex.Spec(parsing: shard)
                var drew = false
                let r = try ShardedIndex.indexShard(model: imageModel, modelName: modelName, fingerprint: fingerprint, folder: dir, db: output, spec: spec,
                                                    batch: batch, fileList: try listedFiles(), maxPixels: imageOptions.maxPixels,
                                                    lookahead: try deviceOption.executionOptions().pipelineLookahead, maxBatches: maxBatches,
                                                    storage: DescriptorStorage(rawValue: dtype) ?? .float32) { p in
                    guard !quiet else { return }
                    FileHandleWriter.write("\rshard \(spec): \(p.done)/\(p.total) images, \(p.failed) failed, " + String(format: "%.2f images/s ", p.imagesPerSecond))
                    drew = true
                }
                if drew { FileHandleWriter.write("\n") }
                if r.alreadyComplete {
                    print("shard \(spec) is already complete (\(r.rows ?? 0) rows); \(r.shardsDone) of \(spec.count) shards done")
                } else if let rows = r.rows {
                    for s in r.indexing?.skipped ?? [] { print("skipped \(shown(s.path)): \(s.reason)") }
                    print("indexed shard \(spec): files \(r.files.lowerBound)..<\(r.files.upperBound), \(rows) row(s) into \(output); \(r.shardsDone) of \(spec.count) shards done")
                } else {
                    print("shard \(spec) stopped after \(maxBatches ?? 0) batch(es): run the same command again to continue")
                }
                return
            }
            let indexer = try FolderIndexer(model: imageModel, modelName: modelName, modelFingerprint: fingerprint, folder: dir, output: output, batchSize: batch)
            indexer.maxPixels = imageOptions.maxPixels
            indexer.lookahead = try deviceOption.executionOptions().pipelineLookahead
            indexer.storage = DescriptorStorage(rawValue: dtype) ?? .float32
            var drew = false
            let report = try indexer.run(restart: restart, maxBatches: maxBatches) { p in
                guard !quiet else { return }
                let width = 30
                let filled = min(width, p.done * width / max(p.total, 1))
                FileHandleWriter.write("\r[" + String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
                    + "] \(p.done)/\(p.total) images, \(p.failed) failed, " + String(format: "%.2f images/s ", p.imagesPerSecond))
                drew = true
            }
            if drew { FileHandleWriter.write("\n") }
            if report.resumedRows > 0 || !report.removed.isEmpty || !report.changed.isEmpty {
                print("resumed an interrupted run: \(report.resumedRows) image(s) were already indexed")
            }
            if !(report.added.isEmpty && report.removed.isEmpty && report.changed.isEmpty) {
                print("since the interrupted run: \(report.added.count) file(s) added (embedded), \(report.removed.count) removed (their rows dropped), "
                      + "\(report.changed.count) changed (embedded again)")
                for (what, files) in [("added", report.added), ("removed", report.removed), ("changed", report.changed)] {
                    for f in files.prefix(20) { print("  \(what): \(shown(f))") }
                    if files.count > 20 { print("  … and \(files.count - 20) more \(what)") }
                }
            }
            let listed = 50
            for s in report.skipped.prefix(listed) { print("skipped \(shown(s.path)): \(s.reason)") }
            if report.skipped.count > listed { print("… and \(report.skipped.count - listed) more skipped (all listed in \(output)/manifest.json)") }
            let rate = String(format: "%.1f s, %.2f images/s", report.seconds, report.imagesPerSecond)
            if let index = report.index {
                print("indexed \(index.count) image(s) (\(index.dimension)-d) into \(output) [\(report.embeddedThisRun) this run, \(rate)]; \(report.skipped.count) file(s) skipped")
            } else {
                print("stopped after \(maxBatches ?? 0) batch(es) [\(report.embeddedThisRun) image(s) this run, \(rate)]; \(report.remaining) image(s) remain: run the same command again to continue")
            }
        }
    }
}

struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Rank an index by cosine similarity to query images (on the device).")

    @Argument(help: "Index folder (from `gpuinfer index`).") var db: String
    @Argument(help: "Query images (JPEG or PNG), embedded and searched as one batch.") var queries: [String]
    @Option(name: .short, help: "Results per query.") var k: Int = 10
    @OptionGroup var deviceOption: DeviceOption
    @OptionGroup var imageOptions: ImageModelOptions
    @Option(help: "Model for the queries (default: the one the index was built with).") var model: String?
    @Option(help: "Images per inference.") var batch: Int = 8
    @Flag(help: "Print one JSON object per query instead of text.") var json = false
    @Flag(help: "Search even when the model's fingerprint (file SHA-256, input size, preprocessing) differs from the one the index was built with.")
    var allowModelChange = false

    func validate() throws {
        guard !queries.isEmpty else { throw ValidationError("give at least one query image") }
        guard k >= 1 else { throw ValidationError("-k must be at least 1") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
    }

    func run() throws {
        try reportingErrors {
            // A sharded index is searched shard by shard (bounded memory), merged exactly.
            let sharded = ShardedIndex.isSharded(db)
            let index = sharded ? nil : try RetrievalIndex.load(from: db)
            let shardInfo = sharded ? try ShardedIndex.shards(db, verify: false) : nil
            let indexModel = index?.model ?? shardInfo?.model ?? ""
            let indexDimension = index?.dimension ?? shardInfo?.dimension ?? 0
            let root = index?.root ?? shardInfo?.root
            // --device 0,1: the queries are embedded on the first device, a sharded index is searched on all.
            let deviceNames = deviceOption.device.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            var first = deviceOption
            first.device = deviceNames.first ?? "auto"
            if deviceNames.count > 1 && !sharded {
                throw ValidationError("several devices (--device \(deviceOption.device)) search a sharded index (index --shard); \(db) is one folder")
            }
            let (imageModel, fingerprint) = try imageOptions.load(model ?? indexModel, device: first)
            let recorded = index?.fingerprint ?? shardInfo?.fingerprint
            if ModelFingerprint.isComparable(recorded), let recorded, recorded != fingerprint {
                guard allowModelChange else {
                    throw RetrievalIndexError.mismatch(path: db, reason: "the index was built with a model whose fingerprint is \(recorded); '\(model ?? indexModel)' now is \(fingerprint): "
                        + "its descriptors would not be comparable (re-index, or pass --allow-model-change)")
                }
                FileHandleWriter.write("note: the model differs from the one the index was built with (--allow-model-change)\n")
            }
            let (images, failures) = imageOptions.decode(queries)
            if !images.isEmpty {
                let embedded = try imageModel.embed(images: images.map(\.image), batchSize: batch)
                let dimension = embedded.rank == 2 ? embedded.shape[1] : 0
                guard dimension == indexDimension else {
                    throw RetrievalIndexError.mismatch(path: db, reason: "the index holds \(indexDimension)-d descriptors (model '\(indexModel)'), model '\(model ?? indexModel)' gives \(dimension)-d ones")
                }
                let results: [[RetrievalMatch]]
                if let index {
                    results = try IndexSearcher(index: index, runtime: imageModel.session.runtime, options: imageModel.session.options).search(queries: embedded, k: k)
                } else {
                    var runtimes: [CLRuntime?] = [imageModel.session.runtime]
                    for name in deviceNames.dropFirst() {
                        runtimes.append(try DeviceSelection(parsing: name).resolve().map { try CLRuntime(device: $0, options: imageModel.session.options) })
                    }
                    results = try ShardedSearcher(db: db, runtimes: runtimes, options: imageModel.session.options).search(queries: embedded, k: k)
                }
                func fullPath(_ file: String) -> String { root.map { ($0 as NSString).appendingPathComponent(file) } ?? file }
                for ((_, path, _), matches) in zip(images, results) {
                    if json {
                        let object: [String: Any] = ["query": path, "results": matches.map {
                            ["rank": $0.rank, "score": Double($0.score), "index": $0.index, "file": fullPath($0.file)] as [String: Any]
                        }]
                        print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
                        continue
                    }
                    print("query: \(shown(path))")
                    print("  rank  score     file")
                    for m in matches { print(String(format: "  %4d  %.6f  ", m.rank, m.score) + shown(fullPath(m.file))) }
                }
            }
            if failures > 0 {
                FileHandleWriter.write("\(failures) of \(queries.count) query image(s) failed\n")
                throw ExitCode.failure
            }
        }
    }
}

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compare", abstract: "Cosine similarity of two images' descriptors.")

    @Argument(help: "First image.") var first: String
    @Argument(help: "Second image.") var second: String
    @Option(help: "Zoo name or .onnx path of an image model.") var model: String = "netvlad"
    @OptionGroup var deviceOption: DeviceOption
    @OptionGroup var imageOptions: ImageModelOptions

    func run() throws {
        try reportingErrors {
            let (imageModel, _) = try imageOptions.load(model, device: deviceOption)
            let (images, failures) = imageOptions.decode([first, second])
            guard failures == 0 else { throw ExitCode.failure }
            let y = try imageModel.embed(images: images.map(\.image), batchSize: 2)
            let d = y.count / 2
            let rows = try RetrievalIndex.normalized(y.floats, count: 2, dimension: d)
            var dot = 0.0
            for i in 0..<d { dot += Double(rows[i]) * Double(rows[d + i]) }
            print(String(format: "cosine similarity: %.6f", dot))
        }
    }
}

struct BenchSearch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-search",
        abstract: "Measure search throughput (queries/s) on a synthetic database of random unit vectors.")

    @Option(help: "Database rows.") var entries: Int = 100_000
    @Option(help: "Descriptor dimension.") var dim: Int = 4096
    @Option(help: "Queries per batch.") var queries: Int = 100
    @Option(name: .short, help: "Results per query.") var k: Int = 10
    @Option(help: "Timed batches.") var iterations: Int = 3
    @Option(help: "Largest database chunk in bytes (default: the device's max allocation, ≤ 256 MiB).") var chunkBytes: Int?
    @Option(help: "An index folder to search instead of random vectors.") var db: String?
    @Flag(help: "Stream the database chunks through one device buffer on every search instead of keeping them resident.") var streamed = false
    @Option(help: "Write the synthetic database as a sharded index of this many shards under --work and search it shard by shard (bounded memory: one shard at a time).") var shards: Int?
    @Option(help: "Folder for the sharded synthetic database (--shards).") var work: String?
    @Option(help: "Storage of the sharded synthetic database: f32 or f16.") var dtype: String = "f32"
    @Flag(help: "Also time the CPU reference on one query and check the device's top-k against it.") var check = false
    @OptionGroup var deviceOption: DeviceOption

    func validate() throws {
        guard entries >= 1, dim >= 1, queries >= 1, k >= 1, iterations >= 1 else { throw ValidationError("sizes must be at least 1") }
        guard iterations <= 1_000_000 else { throw ValidationError("--iterations is at most 1000000") }
        // The synthetic database and queries are made on the host first: they must fit there.
        let available = HostMemory.available()
        for (name, rows) in [("--entries", entries), ("--queries", queries)] {
            guard let bytes = try? Checked.product([rows, dim, 4]), bytes <= available else {
                throw ValidationError("\(name) × --dim (\(rows) × \(dim) floats) does not fit in the \(available) bytes of memory available")
            }
        }
    }

    /// --shards: writes the database shard by shard, then times `ShardedSearcher` (memory: one shard).
    func runSharded(_ count: Int) throws {
        guard let work else { throw ValidationError("--shards needs --work DIR for the database") }
        guard count >= 1, count <= entries else { throw ValidationError("--shards must be between 1 and --entries") }
        guard let info = try deviceOption.selection().resolve() else { throw ValidationError("bench-search measures an OpenCL device; pass --device N") }
        let clock = ContinuousClock()
        let options = try deviceOption.executionOptions()
        let runtime = try CLRuntime(device: info, options: options)
        guard let storage = DescriptorStorage(rawValue: dtype) else { throw ValidationError("--dtype must be f32 or f16") }
        let db = work + "/synthetic-\(entries)x\(dim)-\(count)-\(dtype)"
        print("device:    \(info.name) (\(info.platformName))")
        print("database:  \(entries) × \(dim) \(dtype) (\(String(format: "%.1f", Double(entries * dim * storage.bytes) / 1e6)) MB on disk) in \(count) shards under \(db)")
        if !ShardedIndex.isSharded(db) || (try? ShardedIndex.shards(db, verify: false)) == nil {
            try? FileManager.default.removeItem(atPath: db)
            let written = try clock.measure {
                for i in 0..<count {
                    let lo = i * entries / count, hi = (i + 1) * entries / count
                    var part = try RetrievalIndex(dimension: dim, model: "synthetic")
                    part.storage = storage
                    try part.add(descriptors: Self.randomUnitRows(hi - lo, dim, seed: 1 + UInt64(i)), files: (lo..<hi).map { "r\($0)" })
                    _ = try ShardedIndex.writeShard(part, db: db, spec: try ShardedIndex.Spec(index: i, count: count), fileOffset: lo)
                }
            }
            print(String(format: "written:   %.1f s", written.seconds))
        }
        let qs = Self.randomUnitRows(queries, dim, seed: 2)
        var searcher: ShardedSearcher?
        let open = try clock.measure { searcher = try ShardedSearcher(db: db, runtimes: [runtime], options: options) }
        guard let searcher else { return }
        print(String(format: "opened:    %.1f s (every shard's sha256 checked)", open.seconds))
        let queriesTensor = Tensor(shape: [queries, dim], floats: qs)
        let first = try clock.measure { _ = try searcher.search(queries: queriesTensor, k: k) }
        print(String(format: "first:     %.3f s (includes kernel builds)", first.seconds))
        var times: [Double] = []
        for _ in 0..<iterations { times.append(try clock.measure { _ = try searcher.search(queries: queriesTensor, k: k) }.seconds) }
        times.sort()
        let median = times[times.count / 2]
        print(String(format: "batch of %d queries, k=%d: median %.3f s, min %.3f s over %d runs -> %.1f queries/s (each shard read, checked and uploaded per batch)",
                     queries, k, median, times[0], iterations, Double(queries) / median))
        print(String(format: "memory:    peak RSS %.0f MB (the database is %.0f MB as float32)", MemoryStatus.read("VmHWM"), Double(entries * dim * 4) / 1e6))
    }

    func run() throws {
        try reportingErrors {
            if let shards { try runSharded(shards); return }
            let clock = ContinuousClock()
            var rows = entries, dimension = dim
            var database: [Float]
            if let db {
                let index = try RetrievalIndex.load(from: db)
                (database, rows, dimension) = (index.descriptors, index.count, index.dimension)
            } else {
                database = Self.randomUnitRows(rows, dimension, seed: 1)
            }
            let qs = Self.randomUnitRows(queries, dimension, seed: 2)
            guard let info = try deviceOption.selection().resolve() else {
                throw ValidationError("bench-search measures an OpenCL device; pass --device N (see `gpuinfer devices`)")
            }
            let options = try deviceOption.executionOptions()
            let runtime = try CLRuntime(device: info, options: options)
            print("device:    \(info.name) (\(info.platformName))")
            print("database:  \(rows) × \(dimension) float32 (\(String(format: "%.1f", Double(rows * dimension * 4) / 1e6)) MB)")
            var search: DeviceSearch?
            let upload = try clock.measure { search = try DeviceSearch(runtime: runtime, database: database, rows: rows, dimension: dimension, maxChunkBytes: chunkBytes,
                                                                         residency: streamed ? .streamed : .automatic, options: options) }
            guard let search else { return }
            print(String(format: "upload:    %.3f s (%@, chunks of %d rows)", upload.seconds, search.resident ? "resident" : "streamed", search.chunkRows))
            let first = try clock.measure { _ = try search.search(queries: qs, queryCount: queries, k: k) }
            print(String(format: "first:     %.3f s (includes kernel builds)", first.seconds))
            var times: [Double] = []
            var hits: [[SearchHit]] = []
            for _ in 0..<iterations { times.append(try clock.measure { hits = try search.search(queries: qs, queryCount: queries, k: k) }.seconds) }
            times.sort()
            let median = times[times.count / 2]
            print(String(format: "batch of %d queries, k=%d: median %.3f s, min %.3f s over %d runs -> %.1f queries/s",
                         queries, k, median, times[0], iterations, Double(queries) / median))
            // One query uses its own kernel variant (1 query per work-item): build it untimed first.
            let one = Array(qs[0..<dimension])
            _ = try search.search(queries: one, queryCount: 1, k: k)
            var singles: [Double] = []
            for _ in 0..<iterations { singles.append(try clock.measure { _ = try search.search(queries: one, queryCount: 1, k: k) }.seconds) }
            singles.sort()
            print(String(format: "one query: median %.3f s, min %.3f s -> %.2f queries/s", singles[singles.count / 2], singles[0], 1 / singles[singles.count / 2]))
            if check {
                var reference: [[SearchHit]] = []
                let t = try clock.measure {
                    reference = try ReferenceSearch.search(queries: Array(qs[0..<dimension]), queryCount: 1, database: database, rows: rows, dimension: dimension, k: k)
                }
                let same = reference[0].map(\.index) == hits[0].map(\.index)
                print(String(format: "CPU reference, one query: %.3f s; device top-%d %@ the reference", t.seconds, k, same ? "equals" : "DIFFERS FROM"))
                if !same { throw ExitCode.failure }
            }
        }
    }

    /// Rows of unit L2 norm from a seeded generator (uniform in [-1, 1), then normalized).
    static func randomUnitRows(_ n: Int, _ d: Int, seed: UInt64) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15
        var out = [Float](repeating: 0, count: n * d)
        out.withUnsafeMutableBufferPointer { p in
            for r in 0..<n {
                var sum: Float = 0
                for i in 0..<d {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    let v = Float(Int32(truncatingIfNeeded: state >> 32)) / 2_147_483_648
                    p[r * d + i] = v
                    sum += v * v
                }
                let scale = 1 / max(sum.squareRoot(), 1e-12)
                for i in 0..<d { p[r * d + i] *= scale }
            }
        }
        return out
    }
}

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge", abstract: "Compact the shards of a sharded index into one index folder.",
        discussion: "Every shard is checked against its sha256; the result is the index an unsharded run writes, byte for byte.")

    @Argument(help: "Sharded index folder.") var db: String
    @Option(name: .shortAndLong, help: "Index folder to write.") var output: String

    func run() throws {
        try reportingErrors {
            guard ShardedIndex.isSharded(db) else { throw RetrievalIndexError.mismatch(path: db, reason: "not a sharded index (nothing to merge)") }
            let index = try ShardedIndex.merge(db, output: output)
            print("merged \(index.count) row(s) (\(index.dimension)-d) into \(output)")
        }
    }
}
