// A retrieval index: L2-normalized image descriptors with the files they came from, saved as a
// folder that NumPy can read, and searched by cosine similarity on an OpenCL device or the CPU.
import GPUInfer
import Foundation

/// A file the indexer left out, and why.
public struct SkippedFile: Codable, Sendable, Equatable {
    public let path: String
    public let reason: String
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// L2-normalized descriptors (row-major [count, dimension]) and the file of each row.
///
/// ```swift
/// var index = try RetrievalIndex(dimension: 4096, model: "netvlad")
/// try index.add(descriptors: model.embed(images: images), files: names)   // rows are normalized here
/// try index.save(to: "photos.db")
/// let loaded = try RetrievalIndex.load(from: "photos.db")
/// let hits = try IndexSearcher(index: loaded, runtime: session.runtime).search(queries: q, k: 10)
/// ```
///
/// On disk an index is a folder:
/// - `manifest.json`: `{"format": "gpuinfer-retrieval-index", "version": 1, "model": …,
///   "dimension": D, "count": N, "descriptors": "descriptors.npy", "files": "files.jsonl",
///   "root": folder the paths are relative to (or null), "skipped": [{"path", "reason"}]}`;
///   written last, so a folder without it is not a finished index.
/// - `descriptors.npy`: float32 `[N, D]`, C order, every row of unit L2 norm.
/// - `files.jsonl`: N lines `{"path": "relative/path.jpg"}`, row order.
///
/// `load` checks all of it and throws `RetrievalIndexError` naming the file and the problem.
public struct RetrievalIndex: Sendable, Equatable {
    public static let formatName = "gpuinfer-retrieval-index"
    public static let formatVersion = 1
    public static let manifestFile = "manifest.json", descriptorsFile = "descriptors.npy", filesFile = "files.jsonl"
    /// Rows whose stored norm is farther than this from 1 are rejected by `load` (fp32 normalization
    /// leaves ~1e-7·√D; 1e-3 also admits descriptors normalized by other tools, e.g. in fp16).
    public static let normTolerance: Float = 1e-3

    public let dimension: Int
    /// The model (zoo name or .onnx path) that made the descriptors; queries must use the same.
    public var model: String
    /// Folder the file paths are relative to, if any.
    public var root: String?
    /// What made the descriptors (`ModelFingerprint`: the model file's SHA-256, input size and
    /// preprocessing); nil in indexes written before fingerprints or built from descriptors.
    public var fingerprint: String?
    /// Files the indexer skipped (kept for the record).
    public var skipped: [SkippedFile] = []
    /// How `save` writes the descriptors (float16 halves the bytes; loading widens them exactly).
    public var storage: DescriptorStorage = .float32
    /// Row-major [count, dimension], every row of unit L2 norm.
    public internal(set) var descriptors: [Float] = []
    /// The file of each row, relative to `root`.
    public internal(set) var files: [String] = []

    public var count: Int { files.count }

    /// An empty index of `dimension`-wide descriptors.
    public init(dimension: Int, model: String, root: String? = nil) throws {
        guard dimension >= 1 else { throw RetrievalIndexError.invalidDescriptors(reason: "dimension \(dimension)") }
        self.dimension = dimension
        self.model = model
        self.root = root
    }

    /// Appends rows (row-major [files.count, dimension]), L2-normalizing each. Throws
    /// `invalidDescriptors` for a wrong size, a non-finite value or an all-zero row.
    public mutating func add(descriptors rows: [Float], files names: [String]) throws {
        descriptors += try Self.normalized(rows, count: names.count, dimension: dimension)
        files += names
    }

    /// Appends an [N, dimension] tensor of descriptors for `files`.
    public mutating func add(descriptors tensor: Tensor, files names: [String]) throws {
        guard tensor.dtype.isFloat, tensor.rank == 2, tensor.shape[0] == names.count, tensor.shape[1] == dimension else {
            throw RetrievalIndexError.invalidDescriptors(reason: "expected [\(names.count), \(dimension)] floats, got \(tensor.dtype)\(tensor.shape)")
        }
        try add(descriptors: tensor.floats, files: names)
    }

    /// Row `i` of the descriptor matrix.
    public func descriptor(_ i: Int) -> ArraySlice<Float> { descriptors[(i * dimension)..<((i + 1) * dimension)] }

    /// The file of row `i`, joined to `root` when there is one.
    public func path(_ i: Int) -> String {
        guard let root, !root.isEmpty else { return files[i] }
        return (root as NSString).appendingPathComponent(files[i])
    }

    /// `rows` with each row divided by its L2 norm (accumulated in Double).
    public static func normalized(_ rows: [Float], count: Int, dimension: Int) throws -> [Float] {
        guard rows.count == count * dimension else {
            throw RetrievalIndexError.invalidDescriptors(reason: "\(rows.count) values are not \(count) rows of \(dimension)")
        }
        var out = rows
        for r in 0..<count {
            let range = (r * dimension)..<((r + 1) * dimension)
            var sum = 0.0
            for v in rows[range] {
                guard v.isFinite else { throw RetrievalIndexError.invalidDescriptors(reason: "row \(r) has a NaN or infinite value") }
                sum += Double(v) * Double(v)
            }
            guard sum > 0 else { throw RetrievalIndexError.invalidDescriptors(reason: "row \(r) is all zeros (it has no direction)") }
            let scale = Float(1 / sum.squareRoot())
            for i in range { out[i] = rows[i] * scale }
        }
        return out
    }

    // MARK: - Files

    struct Manifest: Codable, Equatable {
        var format: String
        var version: Int
        var model: String
        var dimension: Int
        var count: Int
        var descriptors: String
        var files: String
        var root: String?
        var skipped: [SkippedFile]?
        var fingerprint: String?
    }

    struct FileLine: Codable { var path: String }

    /// Writes the index folder at `path` (created if needed; an existing index there is replaced).
    /// The manifest goes last, so an interrupted save leaves no index that `load` accepts as whole.
    public func save(to path: String) throws {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw GPUInferError.io(path: path, reason: "cannot create folder: \(FileSystemErrors.reason(error))")
        }
        let manifestPath = (path as NSString).appendingPathComponent(Self.manifestFile)
        try? fm.removeItem(atPath: manifestPath)
        try DescriptorFile.write(descriptors, rows: count, dimension: dimension, path: (path as NSString).appendingPathComponent(Self.descriptorsFile), storage: storage)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var lines = Data()
        for f in files {
            lines.append(try encoder.encode(FileLine(path: f)))
            lines.append(0x0A)
        }
        try Self.writeAtomically(lines, (path as NSString).appendingPathComponent(Self.filesFile))
        let manifest = Manifest(format: Self.formatName, version: Self.formatVersion, model: model, dimension: dimension, count: count,
                                descriptors: Self.descriptorsFile, files: Self.filesFile, root: root, skipped: skipped, fingerprint: fingerprint)
        encoder.outputFormatting.insert(.prettyPrinted)
        try Self.writeAtomically(try encoder.encode(manifest), manifestPath)
    }

    static func writeAtomically(_ data: Data, _ path: String) throws {
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw GPUInferError.io(path: path, reason: "cannot write: \(FileSystemErrors.reason(error))")
        }
    }

    /// Reads and checks the index folder at `path`: one folder (format 1) or the shards of a
    /// sharded index (format 2, `ShardedIndex`), concatenated in shard order.
    public static func load(from path: String) throws -> RetrievalIndex {
        if ShardedIndex.isSharded(path) { return try ShardedIndex.load(path) }
        return try loadFormat1(from: path)
    }

    /// Reads and checks a format-1 index folder.
    static func loadFormat1(from path: String) throws -> RetrievalIndex {
        let manifestPath = (path as NSString).appendingPathComponent(manifestFile)
        guard FileManager.default.fileExists(atPath: manifestPath) else {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                throw RetrievalIndexError.corrupt(path: path, reason: "an index is a folder (with manifest.json), this is a file")
            }
            throw RetrievalIndexError.missingFile(path: manifestPath)
        }
        guard let manifestData = FileManager.default.contents(atPath: manifestPath) else {
            throw GPUInferError.io(path: manifestPath, reason: "cannot read")
        }
        let manifest: Manifest
        do { manifest = try JSONDecoder().decode(Manifest.self, from: manifestData) } catch {
            throw RetrievalIndexError.corrupt(path: manifestPath, reason: "not a valid manifest: \(Self.describe(error))")
        }
        guard manifest.format == formatName else {
            throw RetrievalIndexError.corrupt(path: manifestPath, reason: "format is '\(manifest.format)', not '\(formatName)'")
        }
        guard manifest.version == formatVersion else {
            throw RetrievalIndexError.unsupportedVersion(path: manifestPath, found: manifest.version, supported: ShardedIndex.formatVersion)
        }
        guard manifest.dimension >= 1, manifest.count >= 0 else {
            throw RetrievalIndexError.corrupt(path: manifestPath, reason: "dimension \(manifest.dimension), count \(manifest.count)")
        }
        for name in [manifest.descriptors, manifest.files] where name.isEmpty || name.contains("/") || name.hasPrefix(".") {
            throw RetrievalIndexError.corrupt(path: manifestPath, reason: "'\(name)' is not a file name inside the index folder")
        }
        let descriptorsPath = (path as NSString).appendingPathComponent(manifest.descriptors)
        let (values, rows, dimension, storage) = try DescriptorFile.read(path: descriptorsPath)
        guard rows == manifest.count, dimension == manifest.dimension else {
            throw RetrievalIndexError.mismatch(path: descriptorsPath, reason: "shape (\(rows), \(dimension)), manifest says (\(manifest.count), \(manifest.dimension))")
        }
        for r in 0..<rows {
            var sum = 0.0
            for i in (r * dimension)..<((r + 1) * dimension) { sum += Double(values[i]) * Double(values[i]) }
            let norm = Float(sum.squareRoot())
            guard norm.isFinite, abs(norm - 1) <= normTolerance else {
                throw RetrievalIndexError.corrupt(path: descriptorsPath, reason: "row \(r) has L2 norm \(norm), not 1")
            }
        }
        let filesPath = (path as NSString).appendingPathComponent(manifest.files)
        guard let filesData = FileManager.default.contents(atPath: filesPath) else {
            throw FileManager.default.fileExists(atPath: filesPath) ? GPUInferError.io(path: filesPath, reason: "cannot read") as Error
                : RetrievalIndexError.missingFile(path: filesPath)
        }
        let files = try parseFileLines(filesData, path: filesPath)
        guard files.count == manifest.count else {
            throw RetrievalIndexError.mismatch(path: filesPath, reason: "\(files.count) file(s), manifest and descriptors say \(manifest.count)")
        }
        var index = try RetrievalIndex(dimension: dimension, model: manifest.model, root: manifest.root)
        index.descriptors = values
        index.storage = storage
        index.files = files
        index.skipped = manifest.skipped ?? []
        index.fingerprint = manifest.fingerprint
        return index
    }

    /// Parses `{"path": …}` lines; the last line must end with a newline (else it was cut off).
    static func parseFileLines(_ data: Data, path: String) throws -> [String] {
        if data.isEmpty { return [] }
        guard data.last == 0x0A else {
            throw RetrievalIndexError.truncated(path: path, expectedBytes: data.count + 1, actualBytes: data.count)
        }
        let decoder = JSONDecoder()
        var files: [String] = []
        for (n, line) in data.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast().enumerated() {
            do { files.append(try decoder.decode(FileLine.self, from: Data(line)).path) } catch {
                throw RetrievalIndexError.corrupt(path: path, reason: "line \(n + 1) is not {\"path\": …}: \(describe(error))")
            }
        }
        return files
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case let DecodingError.keyNotFound(key, _): "missing key '\(key.stringValue)'"
        case let DecodingError.typeMismatch(_, context): "wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        case let DecodingError.valueNotFound(_, context): "null at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.dataCorrupted: "not valid JSON"
        default: "\(error)"
        }
    }
}

/// A ranked match of a search over a `RetrievalIndex`.
public struct RetrievalMatch: Sendable, Equatable {
    /// 1-based rank.
    public let rank: Int
    /// Row in the index.
    public let index: Int
    /// Cosine similarity.
    public let score: Float
    /// The row's file (relative to the index root).
    public let file: String
}

/// Searches a `RetrievalIndex` on an OpenCL device (`DeviceSearch`) or, with no runtime, on the CPU
/// (`ReferenceSearch`). Queries are L2-normalized first, so scores are cosine similarities.
public final class IndexSearcher: @unchecked Sendable {
    public let index: RetrievalIndex
    public let device: DeviceSearch?

    /// Uploads the index to `runtime`'s device (nil: search on the CPU).
    public init(index: RetrievalIndex, runtime: CLRuntime?, maxChunkBytes: Int? = nil, options: ExecutionOptions = ExecutionOptions()) throws {
        self.index = index
        device = try runtime.map {
            try DeviceSearch(runtime: $0, database: index.descriptors, rows: index.count, dimension: index.dimension, maxChunkBytes: maxChunkBytes,
                             options: options)
        }
    }

    /// The best `k` matches for each row of `queries` ([Q, dimension] floats), all queries in one batch.
    public func search(queries: Tensor, k: Int) throws -> [[RetrievalMatch]] {
        guard queries.dtype.isFloat, queries.rank == 2, queries.shape[1] == index.dimension else {
            throw RetrievalIndexError.mismatch(path: "<queries>", reason: "queries are \(queries.dtype)\(queries.shape), the index holds \(index.dimension)-d descriptors")
        }
        let q = queries.shape[0]
        let normalized = try RetrievalIndex.normalized(queries.floats, count: q, dimension: index.dimension)
        let hits = try device?.search(queries: normalized, queryCount: q, k: k)
            ?? ReferenceSearch.search(queries: normalized, queryCount: q, database: index.descriptors, rows: index.count, dimension: index.dimension, k: k)
        return hits.map { list in
            list.enumerated().map { RetrievalMatch(rank: $0.offset + 1, index: $0.element.index, score: $0.element.score, file: index.files[$0.element.index]) }
        }
    }
}
