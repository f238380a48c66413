// Sharded retrieval indexes (format 2): `index --shard I/N` embeds a deterministic slice of the
// sorted file list into DB/shards/s-NNNNN/ — an ordinary format-1 index folder plus shard.json —
// written under a hidden temporary name, resumable, renamed when complete and immutable after;
// the top-level manifest.json lists the finished shards and is rewritten atomically under an
// exclusive lock, so processes adding shards at the same time lose none. Loading concatenates the
// shards in shard order (each checked against its sha256); `ShardedSearcher` searches them one at
// a time in bounded memory and merges the per-shard top-k exactly.
import Foundation
import GPUInfer
import GPUInferVision

public enum ShardedIndex {
    public static let formatVersion = 2
    public static let shardsFolder = "shards", shardManifestFile = "shard.json", lockFile = ".manifest.lock"

    /// Shard `index` of `count` (`--shard I/N`).
    public struct Spec: Sendable, Equatable, CustomStringConvertible {
        public let index: Int
        public let count: Int
        public init(index: Int, count: Int) throws {
            guard count >= 1, count <= 99_999, index >= 0, index < count else {
                throw GPUInferError.invalidInput("shard \(index)/\(count): need 0 ≤ I < N ≤ 99999")
            }
            self.index = index
            self.count = count
        }
        /// Parses `I/N`.
        public init(parsing text: String) throws {
            let parts = text.split(separator: "/").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, let i = parts[0], let n = parts[1] else { throw GPUInferError.invalidInput("--shard must be I/N (e.g. 0/4), got '\(text)'") }
            try self.init(index: i, count: n)
        }
        public var description: String { "\(index)/\(count)" }
    }

    /// The folder name of shard `i`.
    public static func name(_ i: Int) -> String { String(format: "s-%05d", i) }

    /// The files shard `shard` of `n` takes from a sorted list of `fileCount`: whole batches of
    /// `batch` (so each batch it embeds is one the unsharded run embeds, and the merged index
    /// equals the unsharded one byte for byte), batches b·n/B ≤ shard < (b+1)·n/B.
    public static func slice(fileCount: Int, batch: Int, shard: Int, of n: Int) -> Range<Int> {
        let batches = (fileCount + batch - 1) / batch
        let lo = shard * batches / n, hi = (shard + 1) * batches / n
        return min(lo * batch, fileCount)..<min(hi * batch, fileCount)
    }

    struct ShardManifest: Codable, Equatable {
        var format = "gpuinfer-index-shard"
        var version = 1
        var shard: Int
        var shardCount: Int
        var batch: Int
        /// Position of the shard's first file in the sorted list, and how many files it took.
        var fileOffset: Int
        var fileCount: Int
        var rows: Int
        var dimension: Int
        var model: String
        var fingerprint: String
        /// sha256 of the shard's descriptors.npy and files.jsonl.
        var sha256: String
        var filesSha256: String
    }

    struct Manifest: Codable {
        var format = RetrievalIndex.formatName
        var version = ShardedIndex.formatVersion
        var model: String
        var fingerprint: String
        var dimension: Int
        var root: String
        var batch: Int
        var shardCount: Int
        var shards: [Entry]
        struct Entry: Codable, Equatable {
            var shard: Int
            var name: String
            var rows: Int
            var fileOffset: Int
            var sha256: String
            var filesSha256: String
        }
    }

    /// What building one shard did.
    public struct ShardReport: Sendable {
        public let spec: Spec
        /// The shard was complete already (nothing embedded).
        public let alreadyComplete: Bool
        /// Rows of the shard (nil while it is unfinished).
        public let rows: Int?
        public let files: Range<Int>
        public let indexing: IndexingReport?
        /// Shards the top-level manifest lists now, of `spec.count`.
        public let shardsDone: Int
    }

    static func manifestPath(_ db: String) -> String { (db as NSString).appendingPathComponent(RetrievalIndex.manifestFile) }
    static func shardPath(_ db: String, _ i: Int) -> String { ((db as NSString).appendingPathComponent(shardsFolder) as NSString).appendingPathComponent(name(i)) }

    /// Builds (or finishes) shard `spec` of `folder` into `db`, then registers it.
    public static func indexShard(model: ImageModel, modelName: String, fingerprint: String, folder: String, db: String, spec: Spec, batch: Int,
                                  fileList: [String]? = nil, maxPixels: Int = ImageDecoder.defaultMaxPixels, lookahead: Int = ImageBatchPipeline.defaultLookahead,
                                  maxBatches: Int? = nil, storage: DescriptorStorage = .float32,
                                  progress: ((IndexingProgress) -> Void)? = nil) throws -> ShardReport {
        guard batch >= 1 else { throw GPUInferError.invalidInput("batch size must be at least 1") }
        let root = URL(fileURLWithPath: folder).standardizedFileURL.path
        let dbPath = URL(fileURLWithPath: db).standardizedFileURL.path
        let all = Array(Set(try fileList ?? FolderIndexer.listFiles(in: root, excluding: dbPath).images)).sorted()
        let batches = (all.count + batch - 1) / batch
        guard spec.count <= max(batches, 1), !all.isEmpty else {
            throw GPUInferError.invalidInput("\(folder): \(all.count) images make \(batches) batch(es) of \(batch); --shard \(spec) needs N ≤ \(batches)")
        }
        let range = slice(fileCount: all.count, batch: batch, shard: spec.index, of: spec.count)
        let final = shardPath(dbPath, spec.index)
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: (dbPath as NSString).appendingPathComponent(shardsFolder), withIntermediateDirectories: true) } catch {
            throw GPUInferError.io(path: dbPath, reason: "cannot create the shards folder: \(FileSystemErrors.reason(error))")
        }
        let template = Manifest(model: modelName, fingerprint: fingerprint, dimension: 0, root: root, batch: batch, shardCount: spec.count, shards: [])
        if fm.fileExists(atPath: (final as NSString).appendingPathComponent(shardManifestFile)) {
            // Immutable once complete: check it is this shard of this job, register it (again).
            let shard = try readShardManifest(final)
            guard shard.shard == spec.index, shard.shardCount == spec.count, shard.batch == batch, shard.model == modelName,
                  shard.fileOffset == range.lowerBound, shard.fileCount == range.count else {
                throw RetrievalIndexError.mismatch(path: final, reason: "a finished shard \(shard.shard)/\(shard.shardCount) of model '\(shard.model)' (batch \(shard.batch), files \(shard.fileOffset)..<\(shard.fileOffset + shard.fileCount)) is there; this is \(spec) of '\(modelName)' (batch \(batch), files \(range))")
            }
            let done = try register(dbPath, template: template, shard: shard)
            return ShardReport(spec: spec, alreadyComplete: true, rows: shard.rows, files: range, indexing: nil, shardsDone: done)
        }
        let working = ((dbPath as NSString).appendingPathComponent(shardsFolder) as NSString).appendingPathComponent("." + name(spec.index) + ".partial")
        let indexer = try FolderIndexer(model: model, modelName: modelName, modelFingerprint: fingerprint, folder: root, output: working, batchSize: batch)
        indexer.files = Array(all[range])
        indexer.storage = storage
        indexer.maxPixels = maxPixels
        indexer.lookahead = lookahead
        let report = try indexer.run(maxBatches: maxBatches, progress: progress)
        guard let index = report.index else {
            return ShardReport(spec: spec, alreadyComplete: false, rows: nil, files: range, indexing: report, shardsDone: 0)
        }
        let done = try seal(index, working: working, db: dbPath, spec: spec, batch: batch, fileOffset: range.lowerBound, fileCount: range.count,
                            model: modelName, fingerprint: fingerprint, template: template, keepExisting: true)
        return ShardReport(spec: spec, alreadyComplete: false, rows: index.count, files: range, indexing: report, shardsDone: done)
    }

    /// Adds descriptors made elsewhere (normalized rows of `index`, files relative to its root)
    /// as finished shard `spec` of `db`, registered like an indexed one. Returns the shards listed.
    public static func writeShard(_ index: RetrievalIndex, db: String, spec: Spec, batch: Int = 1, fileOffset: Int, fingerprint: String = "") throws -> Int {
        let dbPath = URL(fileURLWithPath: db).standardizedFileURL.path
        let folder = (dbPath as NSString).appendingPathComponent(shardsFolder)
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw GPUInferError.io(path: folder, reason: "cannot create: \(FileSystemErrors.reason(error))")
        }
        let final = shardPath(dbPath, spec.index)
        guard !FileManager.default.fileExists(atPath: final) else { throw RetrievalIndexError.alreadyExists(path: final) }
        let working = (folder as NSString).appendingPathComponent("." + name(spec.index) + ".partial")
        try? FileManager.default.removeItem(atPath: working)
        try index.save(to: working)
        let template = Manifest(model: index.model, fingerprint: fingerprint, dimension: 0, root: index.root ?? "", batch: batch, shardCount: spec.count, shards: [])
        return try seal(index, working: working, db: dbPath, spec: spec, batch: batch, fileOffset: fileOffset, fileCount: index.count,
                        model: index.model, fingerprint: fingerprint, template: template, keepExisting: false)
    }

    /// Finishes a shard whose index folder `working` is written: its shard.json (with the files'
    /// sha256s), the rename into place, the registration. With `keepExisting` a shard another
    /// process renamed into place first (the same bytes) is kept. Returns the shards listed.
    private static func seal(_ index: RetrievalIndex, working: String, db: String, spec: Spec, batch: Int, fileOffset: Int, fileCount: Int,
                             model: String, fingerprint: String, template: Manifest, keepExisting: Bool) throws -> Int {
        let final = shardPath(db, spec.index)
        let shard = ShardManifest(shard: spec.index, shardCount: spec.count, batch: batch, fileOffset: fileOffset, fileCount: fileCount,
                                  rows: index.count, dimension: index.dimension, model: model, fingerprint: fingerprint,
                                  sha256: try SHA256.file((working as NSString).appendingPathComponent(RetrievalIndex.descriptorsFile)),
                                  filesSha256: try SHA256.file((working as NSString).appendingPathComponent(RetrievalIndex.filesFile)))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try RetrievalIndex.writeAtomically(try encoder.encode(shard), (working as NSString).appendingPathComponent(shardManifestFile))
        if rename(working, final) != 0 {
            guard keepExisting, FileManager.default.fileExists(atPath: (final as NSString).appendingPathComponent(shardManifestFile)) else {
                throw GPUInferError.io(path: final, reason: "cannot rename the finished shard into place: \(String(cString: strerror(errno)))")
            }
            try? FileManager.default.removeItem(atPath: working)
        }
        return try register(db, template: template, shard: shard)
    }

    static func readShardManifest(_ shard: String) throws -> ShardManifest {
        let path = (shard as NSString).appendingPathComponent(shardManifestFile)
        guard let data = FileManager.default.contents(atPath: path) else { throw RetrievalIndexError.missingFile(path: path) }
        do { return try JSONDecoder().decode(ShardManifest.self, from: data) } catch {
            throw RetrievalIndexError.corrupt(path: path, reason: "not a shard manifest: \(error)")
        }
    }

    /// Runs `body` holding an exclusive lock on the index folder (flock on its lock file).
    static func withLock<T>(_ db: String, _ body: () throws -> T) throws -> T {
        let path = (db as NSString).appendingPathComponent(lockFile)
        let fd = open(path, O_CREAT | O_RDWR, 0o644)
        guard fd >= 0 else { throw GPUInferError.io(path: path, reason: "cannot open the lock file: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw GPUInferError.io(path: path, reason: "cannot lock: \(String(cString: strerror(errno)))") }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// Adds `shard` to the top-level manifest (read, merged, written to a temporary file and
    /// renamed, all under the lock). Returns the number of shards listed.
    static func register(_ db: String, template: Manifest, shard: ShardManifest) throws -> Int {
        try withLock(db) {
            let path = manifestPath(db)
            var manifest = template
            if let data = FileManager.default.contents(atPath: path) {
                guard let existing = try? JSONDecoder().decode(Manifest.self, from: data), existing.version == formatVersion else {
                    throw RetrievalIndexError.mismatch(path: path, reason: "the folder holds an index that is not sharded (or not an index): shards go into a folder of their own")
                }
                guard existing.model == template.model, existing.shardCount == template.shardCount, existing.batch == template.batch,
                      existing.root == template.root else {
                    throw RetrievalIndexError.mismatch(path: path, reason: "the sharded index is of model '\(existing.model)' over \(existing.root) in \(existing.shardCount) shards of batch \(existing.batch); this shard is of '\(template.model)' over \(template.root), \(template.shardCount) shards, batch \(template.batch)")
                }
                manifest = existing
            }
            if manifest.dimension != 0 && manifest.dimension != shard.dimension {
                throw RetrievalIndexError.mismatch(path: path, reason: "shards hold \(manifest.dimension)-d descriptors, shard \(shard.shard) \(shard.dimension)-d")
            }
            manifest.dimension = shard.dimension
            let entry = Manifest.Entry(shard: shard.shard, name: name(shard.shard), rows: shard.rows, fileOffset: shard.fileOffset, sha256: shard.sha256, filesSha256: shard.filesSha256)
            manifest.shards.removeAll { $0.shard == shard.shard }
            manifest.shards.append(entry)
            manifest.shards.sort { $0.shard < $1.shard }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            try RetrievalIndex.writeAtomically(try encoder.encode(manifest), path)
            return manifest.shards.count
        }
    }

    /// Whether `db` is a sharded (format 2) index folder.
    public static func isSharded(_ db: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: manifestPath(db)),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return object["version"] as? Int == formatVersion
    }

    /// One finished shard, checked: its index folder and global row offset.
    public struct Shard: Sendable {
        public let spec: Int
        public let path: String
        public let rowOffset: Int
        public let rows: Int
    }

    /// The shards of a complete sharded index, in order, each checked against the sha256 the
    /// manifest lists (a changed shard is refused).
    public static func shards(_ db: String, verify: Bool = true) throws -> (shards: [Shard], model: String, dimension: Int, root: String, fingerprint: String) {
        let path = manifestPath(db)
        guard let data = FileManager.default.contents(atPath: path) else { throw RetrievalIndexError.missingFile(path: path) }
        let manifest: Manifest
        do { manifest = try JSONDecoder().decode(Manifest.self, from: data) } catch {
            throw RetrievalIndexError.corrupt(path: path, reason: "not a sharded index manifest: \(error)")
        }
        let present = Set(manifest.shards.map(\.shard))
        let missing = (0..<manifest.shardCount).filter { !present.contains($0) }
        guard missing.isEmpty else {
            throw RetrievalIndexError.mismatch(path: path, reason: "incomplete: shard(s) \(missing.prefix(20).map(String.init).joined(separator: ", "))\(missing.count > 20 ? " …" : "") of \(manifest.shardCount) not finished yet")
        }
        var result: [Shard] = []
        var offset = 0
        for entry in manifest.shards {
            let folder = shardPath(db, entry.shard)
            if verify {
                for (file, expected) in [(RetrievalIndex.descriptorsFile, entry.sha256), (RetrievalIndex.filesFile, entry.filesSha256)] {
                    let filePath = (folder as NSString).appendingPathComponent(file)
                    guard FileManager.default.fileExists(atPath: filePath) else { throw RetrievalIndexError.missingFile(path: filePath) }
                    let actual = try SHA256.file(filePath)
                    guard actual == expected else {
                        throw RetrievalIndexError.corrupt(path: filePath, reason: "sha256 \(actual) differs from the manifest's \(expected): the shard changed after it was finished")
                    }
                }
            }
            result.append(Shard(spec: entry.shard, path: folder, rowOffset: offset, rows: entry.rows))
            offset += entry.rows
        }
        return (result, manifest.model, manifest.dimension, manifest.root, manifest.fingerprint)
    }

    /// The whole sharded index in memory (rows in shard order: the unsharded index's order).
    public static func load(_ db: String) throws -> RetrievalIndex {
        let (list, model, dimension, root, fingerprint) = try shards(db)
        var index = try RetrievalIndex(dimension: max(dimension, 1), model: model, root: root.isEmpty ? nil : root)
        index.fingerprint = fingerprint.isEmpty ? nil : fingerprint
        for shard in list {
            let part = try RetrievalIndex.loadFormat1(from: shard.path)
            guard part.dimension == index.dimension else {
                throw RetrievalIndexError.mismatch(path: shard.path, reason: "\(part.dimension)-d descriptors in a \(index.dimension)-d index")
            }
            index.descriptors += part.descriptors
            index.files += part.files
            index.skipped += part.skipped
        }
        return index
    }

    /// Compacts the shards into one format-1 index at `output` (byte for byte the index an
    /// unsharded run writes).
    public static func merge(_ db: String, output: String) throws -> RetrievalIndex {
        let index = try load(db)
        try index.save(to: output)
        return index
    }
}

/// Searches a sharded index one shard at a time per device (memory: a shard per device and the
/// running top-k), with an exact merge by (score, global row): the same results as searching the
/// merged index. With several devices, shard i goes to device i mod count; the devices run at
/// the same time.
public final class ShardedSearcher: @unchecked Sendable {
    public let db: String
    public let runtimes: [CLRuntime?]
    public let options: ExecutionOptions
    public let model: String
    public let dimension: Int
    private let shards: [ShardedIndex.Shard]

    /// One device (nil: the CPU reference).
    public convenience init(db: String, runtime: CLRuntime?, options: ExecutionOptions = ExecutionOptions()) throws {
        try self.init(db: db, runtimes: [runtime], options: options)
    }

    public init(db: String, runtimes: [CLRuntime?], options: ExecutionOptions = ExecutionOptions()) throws {
        guard !runtimes.isEmpty else { throw GPUInferError.invalidInput("no device to search on") }
        let (list, model, dimension, _, _) = try ShardedIndex.shards(db)
        self.db = db
        self.runtimes = runtimes
        self.options = options
        self.model = model
        self.dimension = dimension
        shards = list
    }

    typealias Hit = (score: Float, row: Int, file: String)

    static func merge(_ a: [Hit], _ b: [Hit], k: Int) -> [Hit] {
        var merged = a + b
        merged.sort { $0.score > $1.score || ($0.score == $1.score && $0.row < $1.row) }
        return Array(merged.prefix(k))
    }

    /// The best `k` rows for each query ([Q, dimension]), files relative to the indexed folder.
    public func search(queries: Tensor, k: Int) throws -> [[RetrievalMatch]] {
        let q = queries.rank == 2 ? queries.shape[0] : 0
        let devices = runtimes.count
        /// Each device's running top-k (or its error), filled by the concurrent workers.
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var perDevice: [[[Hit]]]
            var errors: [Error?]
            init(devices: Int, queries: Int) {
                perDevice = [[[Hit]]](repeating: [[Hit]](repeating: [], count: queries), count: devices)
                errors = [Error?](repeating: nil, count: devices)
            }
        }
        let results = Results(devices: devices, queries: q)
        let shards = self.shards, runtimes = self.runtimes, options = self.options
        DispatchQueue.concurrentPerform(iterations: devices) { d in
            var best = [[Hit]](repeating: [], count: q)
            do {
                for (i, shard) in shards.enumerated() where i % devices == d && shard.rows > 0 {
                    let index = try RetrievalIndex.loadFormat1(from: shard.path)
                    let matches = try IndexSearcher(index: index, runtime: runtimes[d], options: options).search(queries: queries, k: min(k, index.count))
                    for (j, list) in matches.enumerated() {
                        best[j] = Self.merge(best[j], list.map { (score: $0.score, row: shard.rowOffset + $0.index, file: $0.file) }, k: k)
                    }
                }
                results.lock.withLock { results.perDevice[d] = best }
            } catch {
                results.lock.withLock { results.errors[d] = error }
            }
        }
        if let error = results.errors.compactMap({ $0 }).first { throw error }
        let perDevice = results.perDevice
        var best = [[Hit]](repeating: [], count: q)
        for d in 0..<devices { for j in 0..<q { best[j] = Self.merge(best[j], perDevice[d][j], k: k) } }
        return best.map { list in list.enumerated().map { RetrievalMatch(rank: $0.offset + 1, index: $0.element.row, score: $0.element.score, file: $0.element.file) } }
    }
}
