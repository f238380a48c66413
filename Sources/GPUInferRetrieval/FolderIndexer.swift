// Builds a RetrievalIndex from every image under a folder, in batches, resumably: each finished
// batch is appended to the output folder (descriptor rows, then a progress line naming its files)
// before the next starts, so an interrupted run continues where it stopped and ends with the same
// index as an uninterrupted one.
import GPUInfer
import GPUInferVision
import Foundation

/// Where an indexing run stands (passed to the progress callback after every batch).
public struct IndexingProgress: Sendable {
    /// Candidate image files handled so far (embedded or skipped), this run and earlier ones.
    public let done: Int
    /// Candidate image files in the folder.
    public let total: Int
    /// Rows in the index so far.
    public let embedded: Int
    /// Image files skipped so far (corrupt, unreadable).
    public let failed: Int
    /// Images embedded per second in this run.
    public let imagesPerSecond: Double
}

/// What an indexing run did.
public struct IndexingReport: Sendable {
    /// The finished index (nil when the run stopped early, see `maxBatches`).
    public let index: RetrievalIndex?
    /// Rows found from an earlier, interrupted run.
    public let resumedRows: Int
    /// Rows embedded in this run.
    public let embeddedThisRun: Int
    /// Files left out (not images, corrupt images), earlier runs included.
    public let skipped: [SkippedFile]
    /// Candidate image files still to do (0 when finished).
    public let remaining: Int
    public let seconds: Double
    /// On a resumed run, what changed in the folder since the interrupted run: files that appeared
    /// where it had already passed (embedded now), indexed files that are gone (their rows
    /// dropped), indexed files whose size or modification time changed (embedded again).
    public var added: [String] = []
    public var removed: [String] = []
    public var changed: [String] = []
    public var imagesPerSecond: Double { seconds > 0 ? Double(embeddedThisRun) / seconds : 0 }
}

/// Indexes a folder of images with an `ImageModel` into an index folder (see `RetrievalIndex`).
///
/// Files are taken in sorted relative-path order, recursively; hidden files and folders (names
/// starting with `.`) and the output folder itself are ignored. A file is a candidate image when its
/// extension is jpg/jpeg/jpe/png (any case) or its first bytes are a JPEG or PNG signature; other
/// files are reported as skipped, as are candidates that fail to decode. Candidates go through the
/// model `batchSize` at a time.
///
/// While running, the output folder holds `progress.jsonl` (a header line, then one line per
/// finished batch: its last candidate, the row count, the files embedded and skipped) and
/// `descriptors.partial` (the normalized rows, raw float32). Each batch appends the rows first and
/// the line second, both flushed to disk, so a run killed at any point leaves a consistent prefix:
/// rerunning drops a torn last line and any rows past the last line, then continues with the same
/// batch boundaries (the batch size of the first run is kept). At the end the index is saved
/// (`manifest.json` last) and the two progress files are removed.
public final class FolderIndexer {
    public static let progressFile = "progress.jsonl", partialFile = "descriptors.partial"
    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "jpe", "png"]

    public let model: ImageModel
    public let modelName: String
    /// Anything that identifies the model file (e.g. its size); a resumed run must match it.
    public let modelFingerprint: String
    public let folder: String
    public let output: String
    public let batchSize: Int
    public var maxPixels = ImageDecoder.defaultMaxPixels
    /// Batches decoded ahead of the one on the device (0: decode each batch when its turn comes).
    public var lookahead = ImageBatchPipeline.defaultLookahead
    /// The candidate files (relative to `folder`), in this order, instead of the folder's listing:
    /// a shard's slice (`ShardedIndex`) or a `--file-list`. Missing or unreadable ones are skipped.
    public var files: [String]?
    /// How the finished index stores its descriptors.
    public var storage: DescriptorStorage = .float32

    public init(model: ImageModel, modelName: String, modelFingerprint: String = "", folder: String, output: String, batchSize: Int = 8) throws {
        guard batchSize >= 1 else { throw GPUInferError.invalidInput("batch size must be at least 1") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) else { throw GPUInferError.io(path: folder, reason: "no such folder") }
        guard isDirectory.boolValue else { throw GPUInferError.io(path: folder, reason: "not a folder") }
        self.model = model
        self.modelName = modelName
        self.modelFingerprint = modelFingerprint
        self.folder = URL(fileURLWithPath: folder).standardizedFileURL.path
        self.output = URL(fileURLWithPath: output).standardizedFileURL.path
        self.batchSize = batchSize
    }

    /// The folder's files: candidate images and the other files (as skipped), relative paths, sorted.
    public static func listFiles(in folder: String, excluding excluded: String? = nil) throws -> (images: [String], others: [SkippedFile]) {
        let fm = FileManager.default
        let root = URL(fileURLWithPath: folder).standardizedFileURL.path
        var isFolder: ObjCBool = false
        guard fm.fileExists(atPath: root, isDirectory: &isFolder), isFolder.boolValue else { throw GPUInferError.io(path: folder, reason: "no such folder") }
        guard let walker = fm.enumerator(atPath: root) else { throw GPUInferError.io(path: folder, reason: "cannot list") }
        var images: [String] = [], others: [SkippedFile] = []
        while let relative = walker.nextObject() as? String {
            let full = (root as NSString).appendingPathComponent(relative)
            var isDirectory: ObjCBool = false
            let name = (relative as NSString).lastPathComponent
            if name.hasPrefix(".") || full == excluded {
                walker.skipDescendants()
                continue
            }
            guard fm.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            if let problem = RegularFile.problem(full) {
                others.append(SkippedFile(path: relative, reason: problem))
                continue
            }
            if imageExtensions.contains((name as NSString).pathExtension.lowercased()) || hasImageSignature(full) {
                images.append(relative)
            } else {
                others.append(SkippedFile(path: relative, reason: "not an image file (neither a JPEG nor a PNG)"))
            }
        }
        images.sort()
        others.sort { $0.path < $1.path }
        return (images, others)
    }

    static func hasImageSignature(_ path: String) -> Bool {
        // Opened only if regular: a FIFO in the folder would block a plain open forever.
        guard let (fd, _) = try? RegularFile.open(path, what: "image") else { return false }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 8)) ?? Data())
        return head.starts(with: [0xFF, 0xD8, 0xFF]) || head.starts(with: ImageDecoder.pngSignature)
    }

    // MARK: - Progress files

    struct Header: Codable, Equatable {
        var format = "gpuinfer-index-progress"
        var version = 1
        var model: String
        var fingerprint: String
        var root: String
        var batch: Int
    }

    struct BatchLine: Codable {
        var through: String
        var rows: Int
        var dimension: Int?
        var files: [String]
        var skipped: [SkippedFile]
        /// Size and modification time of each of `files` when it was embedded ("size:seconds.nanoseconds").
        var stamps: [String]?
    }

    /// A file's size and modification time, to notice a file replaced since it was embedded.
    static func stamp(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return "\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }

    /// State recovered from the progress files.
    struct Resumed {
        var header: Header
        var through: String?
        var rows = 0
        var dimension: Int?
        var files: [String] = []
        /// `files`' stamps when embedded (nil: an older progress file without them).
        var stamps: [String?] = []
        var failed: [SkippedFile] = []
    }

    private var progressPath: String { (output as NSString).appendingPathComponent(Self.progressFile) }
    private var partialPath: String { (output as NSString).appendingPathComponent(Self.partialFile) }

    /// Reads progress.jsonl and descriptors.partial, repairing a torn tail; nil when absent.
    func resume() throws -> Resumed? {
        guard let data = FileManager.default.contents(atPath: progressPath) else { return nil }
        let decoder = JSONDecoder()
        var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
        // A final segment without a newline is a line cut off by the interruption.
        lines.removeLast()
        guard let first = lines.first, let header = try? decoder.decode(Header.self, from: Data(first)) else {
            throw RetrievalIndexError.corrupt(path: progressPath, reason: "no valid header line (delete the folder or pass --restart)")
        }
        let expected = Header(model: modelName, fingerprint: modelFingerprint, root: folder, batch: header.batch)
        guard header == expected else {
            throw RetrievalIndexError.mismatch(path: progressPath, reason: "an interrupted run with model '\(header.model)' (\(header.fingerprint)) on \(header.root) is there, this one is '\(modelName)' (\(modelFingerprint)) on \(folder); pass --restart to discard it")
        }
        var state = Resumed(header: header)
        var validBytes = first.count + 1
        for (n, line) in lines.dropFirst().enumerated() {
            guard let batch = try? decoder.decode(BatchLine.self, from: Data(line)) else {
                throw RetrievalIndexError.corrupt(path: progressPath, reason: "line \(n + 2) is not a batch record")
            }
            if let d = batch.dimension, let known = state.dimension, d != known {
                throw RetrievalIndexError.mismatch(path: progressPath, reason: "line \(n + 2) has dimension \(d), earlier lines \(known)")
            }
            state.dimension = state.dimension ?? batch.dimension
            state.files += batch.files
            state.stamps += batch.stamps.map { $0.map(Optional.some) } ?? [String?](repeating: nil, count: batch.files.count)
            guard state.stamps.count == state.files.count else {
                throw RetrievalIndexError.corrupt(path: progressPath, reason: "line \(n + 2) has \(batch.stamps?.count ?? 0) stamps for \(batch.files.count) files")
            }
            state.failed += batch.skipped
            state.rows = batch.rows
            state.through = batch.through
            validBytes += line.count + 1
            guard state.rows == state.files.count else {
                throw RetrievalIndexError.corrupt(path: progressPath, reason: "line \(n + 2) says \(batch.rows) rows, the lines name \(state.files.count) files")
            }
        }
        // Drop the torn line, then descriptor rows written after the last complete line.
        if validBytes < data.count { try truncate(progressPath, to: validBytes) }
        let rowBytes = state.rows * (state.dimension ?? 0) * 4
        let partialSize = ((try? FileManager.default.attributesOfItem(atPath: partialPath))?[.size] as? NSNumber)?.intValue ?? 0
        guard partialSize >= rowBytes else {
            throw RetrievalIndexError.truncated(path: partialPath, expectedBytes: rowBytes, actualBytes: partialSize)
        }
        if partialSize > rowBytes { try truncate(partialPath, to: rowBytes) }
        return state
    }

    private func truncate(_ path: String, to size: Int) throws {
        guard Foundation.truncate(path, off_t(size)) == 0 else {
            throw GPUInferError.io(path: path, reason: "cannot truncate: \(String(cString: strerror(errno)))")
        }
    }

    private func create(_ path: String, _ data: Data) throws {
        guard FileManager.default.createFile(atPath: path, contents: data) else { throw GPUInferError.io(path: path, reason: "cannot create") }
    }

    private func append(_ data: Data, to path: String) throws {
        if !FileManager.default.fileExists(atPath: path) { try create(path, Data()) }
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: data)
            try handle.synchronize()
        } catch {
            throw GPUInferError.io(path: path, reason: "cannot append: \(error)")
        }
    }

    private func jsonLine<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(value)
        data.append(0x0A)
        return data
    }

    /// Throws `notAnIndex` unless the index files `restart` would delete in `output` are an
    /// index's: none of them exists, or `manifest.json` is a gpuinfer index's manifest (its
    /// "format"), or, with no manifest, `progress.jsonl` begins with an interrupted run's header.
    static func checkOwnsIndexFiles(_ output: String) throws {
        let fm = FileManager.default
        let names = [RetrievalIndex.manifestFile, RetrievalIndex.filesFile, RetrievalIndex.descriptorsFile, progressFile, partialFile]
        let present = names.filter { fm.fileExists(atPath: (output as NSString).appendingPathComponent($0)) }
        guard !present.isEmpty else { return }
        func firstJSON(_ name: String) -> [String: Any]? {
            guard let h = FileHandle(forReadingAtPath: (output as NSString).appendingPathComponent(name)) else { return nil }
            defer { try? h.close() }
            // A manifest or a progress header is small: 1 MB bounds what is read of a stranger's file.
            guard let data = try? h.read(upToCount: 1 << 20) else { return nil }
            let line = name == progressFile ? data.prefix { $0 != 0x0A } : data[...]
            return (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any]
        }
        if present.contains(RetrievalIndex.manifestFile) {
            if firstJSON(RetrievalIndex.manifestFile)?["format"] as? String == RetrievalIndex.formatName { return }
        } else if present.contains(progressFile), firstJSON(progressFile)?["format"] as? String == Header(model: "", fingerprint: "", root: "", batch: 0).format {
            return
        }
        throw RetrievalIndexError.notAnIndex(path: output, files: present)
    }

    // MARK: - Running

    /// Indexes the folder (continuing an interrupted run unless `restart`). `maxBatches` stops after
    /// that many batches in this run, leaving the progress files for a later run to continue.
    @discardableResult
    public func run(restart: Bool = false, maxBatches: Int? = nil, progress: ((IndexingProgress) -> Void)? = nil) throws -> IndexingReport {
        let started = Date()
        let fm = FileManager.default
        try FileSystemErrors.createFolder(output, what: "index folder")
        // One writer at a time: a second index run into this folder stops here (the lock goes when
        // this run ends, or its process dies).
        let lock = try IndexLock(folder: output)
        defer { lock.release() }
        let manifestPath = (output as NSString).appendingPathComponent(RetrievalIndex.manifestFile)
        if restart {
            try Self.checkOwnsIndexFiles(output)
            for name in [Self.progressFile, Self.partialFile, RetrievalIndex.manifestFile, RetrievalIndex.descriptorsFile, RetrievalIndex.filesFile] {
                try? fm.removeItem(atPath: (output as NSString).appendingPathComponent(name))
            }
        } else if fm.fileExists(atPath: manifestPath) && !fm.fileExists(atPath: progressPath) {
            throw RetrievalIndexError.alreadyExists(path: output)
        }
        let listing = try files.map { (images: $0, others: [SkippedFile]()) } ?? Self.listFiles(in: folder, excluding: output)
        var state: Resumed
        if let resumed = try resume() {
            state = resumed
        } else {
            guard !listing.images.isEmpty else {
                throw GPUInferError.invalidInput("\(folder): no JPEG or PNG files to index (\(listing.others.count) other file(s))")
            }
            state = Resumed(header: Header(model: modelName, fingerprint: modelFingerprint, root: folder, batch: batchSize))
            try? fm.removeItem(atPath: partialPath)
            try create(partialPath, Data())
            try create(progressPath, try jsonLine(state.header))
        }
        let batch = state.header.batch
        // What changed since an interrupted run: rows of files that are gone or were replaced are
        // dropped; every present file that has no kept row and did not fail is to do (new files
        // sorting before where the run had got to included); the index is sorted by file at the end.
        let present = Set(listing.images)
        var dropped = Set<Int>()
        var report = (added: [String](), removed: [String](), changed: [String]())
        for (row, file) in state.files.enumerated() {
            if !present.contains(file) {
                dropped.insert(row)
                report.removed.append(file)
            } else if let recorded = state.stamps[row], recorded != Self.stamp((folder as NSString).appendingPathComponent(file)) {
                dropped.insert(row)
                report.changed.append(file)
            }
        }
        state.failed = state.failed.filter { present.contains($0.path) }
        let kept = Set(state.files.indices.filter { !dropped.contains($0) }.map { state.files[$0] })
        let failedPaths = Set(state.failed.map(\.path))
        let todo = listing.images.filter { !kept.contains($0) && !failedPaths.contains($0) }
        if let through = state.through {
            let changedSet = Set(report.changed)
            report.added = todo.filter { $0 <= through && !changedSet.contains($0) }
        }
        let resumedRows = state.rows - dropped.count
        let total = listing.images.count
        var done = total - todo.count
        var embedded = 0
        var batches = 0
        // Batch k + 1 is decoded and resized in the background while batch k runs.
        let pipeline = try ImageBatchPipeline(paths: todo.map { (folder as NSString).appendingPathComponent($0) },
                                              preprocessing: model.preprocessing, batchSize: batch, batching: .files,
                                              maxPixels: maxPixels, lookahead: lookahead)
        for prepared in pipeline {
            if let maxBatches, batches >= maxBatches { break }
            let names = Array(todo[prepared.files])
            var line = BatchLine(through: names[names.count - 1], rows: state.rows, dimension: state.dimension, files: [], skipped: [], stamps: [])
            // Files in order: the skipped ones and the embedded ones each keep the listing's order.
            line.skipped = prepared.failures.map { SkippedFile(path: todo[$0.index], reason: Self.reason($0.error)) }
            var rows: [Float] = []
            if !prepared.images.isEmpty {
                let y = try model.embed(prepared)
                let dimension = y.count / prepared.images.count
                if let known = state.dimension, known != dimension {
                    throw RetrievalIndexError.mismatch(path: progressPath, reason: "the model gives \(dimension)-d descriptors, the interrupted run stored \(known)-d ones")
                }
                state.dimension = dimension
                line.dimension = dimension
                for (i, item) in prepared.images.enumerated() {
                    let name = todo[item.index]
                    do {
                        rows += try RetrievalIndex.normalized(Array(y.floats[(i * dimension)..<((i + 1) * dimension)]), count: 1, dimension: dimension)
                        line.files.append(name)
                        line.stamps?.append(Self.stamp((folder as NSString).appendingPathComponent(name)) ?? "")
                    } catch {
                        line.skipped.append(SkippedFile(path: name, reason: "the model's descriptor cannot be normalized: \(error)"))
                    }
                }
            }
            try rows.withUnsafeBytes { try append(Data($0), to: partialPath) }
            line.rows += line.files.count
            try append(try jsonLine(line), to: progressPath)
            state.rows = line.rows
            state.files += line.files
            state.stamps += (line.stamps ?? []).map(Optional.some)
            state.failed += line.skipped
            embedded += line.files.count
            done += names.count
            batches += 1
            let elapsed = Date().timeIntervalSince(started)
            progress?(IndexingProgress(done: done, total: total, embedded: state.rows, failed: state.failed.count,
                                       imagesPerSecond: elapsed > 0 ? Double(embedded) / elapsed : 0))
        }
        let skipped = (listing.others + state.failed).sorted { $0.path < $1.path }
        let remaining = total - done
        guard remaining == 0 else {
            var r = IndexingReport(index: nil, resumedRows: resumedRows, embeddedThisRun: embedded, skipped: skipped, remaining: remaining,
                                   seconds: Date().timeIntervalSince(started))
            (r.added, r.removed, r.changed) = report
            return r
        }
        guard let dimension = state.dimension, state.rows > dropped.count else {
            throw GPUInferError.invalidInput("\(folder): no image could be indexed (\(total) candidate image(s), \(skipped.count) file(s) skipped)")
        }
        let (values, rows, _) = try Self.readPartial(partialPath, dimension: dimension)
        guard rows == state.rows else {
            throw RetrievalIndexError.mismatch(path: partialPath, reason: "\(rows) rows, progress.jsonl names \(state.rows) files")
        }
        var index = try RetrievalIndex(dimension: dimension, model: modelName, root: folder)
        // The rows were normalized batch by batch; they go in as stored, less the dropped ones, in
        // file order (that of an uninterrupted run over the folder as it is now).
        var order = state.files.indices.filter { !dropped.contains($0) }
        if !dropped.isEmpty || !report.added.isEmpty { order.sort { state.files[$0] < state.files[$1] } }
        if order == Array(0..<rows) {
            index.descriptors = values
        } else {
            var picked = [Float]()
            picked.reserveCapacity(order.count * dimension)
            for row in order { picked += values[(row * dimension)..<((row + 1) * dimension)] }
            index.descriptors = picked
        }
        index.files = order.map { state.files[$0] }
        index.skipped = skipped
        index.storage = storage
        index.fingerprint = modelFingerprint
        // Stored as halves: the index returned holds what loading it gives back.
        if storage == .float16 { index.descriptors = index.descriptors.map { Float(Float16($0)) } }
        try index.save(to: output)
        try? fm.removeItem(atPath: partialPath)
        try? fm.removeItem(atPath: progressPath)
        var r = IndexingReport(index: index, resumedRows: resumedRows, embeddedThisRun: embedded, skipped: skipped, remaining: 0,
                               seconds: Date().timeIntervalSince(started))
        (r.added, r.removed, r.changed) = report
        return r
    }

    static func reason(_ error: GPUInferError) -> String {
        switch error {
        case let .invalidImage(_, reason): reason
        case let .io(_, reason): reason
        default: "\(error)"
        }
    }

    static func readPartial(_ path: String, dimension: Int) throws -> (values: [Float], rows: Int, dimension: Int) {
        guard let data = FileManager.default.contents(atPath: path) else { throw RetrievalIndexError.missingFile(path: path) }
        guard data.count % (4 * dimension) == 0 else {
            throw RetrievalIndexError.truncated(path: path, expectedBytes: (data.count / (4 * dimension) + 1) * 4 * dimension, actualBytes: data.count)
        }
        let values = [Float](unsafeUninitializedCapacity: data.count / 4) { buffer, initialized in
            data.copyBytes(to: UnsafeMutableRawBufferPointer(buffer))
            initialized = data.count / 4
        }
        return (values, values.count / dimension, dimension)
    }
}
