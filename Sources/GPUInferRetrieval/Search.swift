// Nearest-neighbour search over L2-normalized descriptors by cosine similarity: an exact CPU
// reference (the oracle) and the OpenCL version (Kernels/topk_search.cl), which ranks the database
// chunk by chunk — a GEMM of the queries against the chunk, then a per-query top-k kept on the device.
//
// Ranking order (both backends): higher score first; equal scores: lower database index first.
import GPUInfer
import Foundation

/// One search result: a database row and its cosine similarity to the query.
public struct SearchHit: Sendable, Equatable, CustomStringConvertible {
    /// Row of the database (0-based).
    public let index: Int
    /// Dot product of the query and the row (the cosine similarity when both are L2-normalized).
    public let score: Float

    public init(index: Int, score: Float) {
        self.index = index
        self.score = score
    }

    /// True when `self` ranks before `other`: higher score, or equal score and lower index.
    @inlinable public func ranksBefore(_ other: SearchHit) -> Bool {
        score > other.score || (score == other.score && index < other.index)
    }

    public var description: String { "#\(index) \(score)" }
}

/// Shapes shared by both backends, checked before any work.
enum SearchInput {
    static func check(queries: [Float], queryCount: Int, database count: Int, rows: Int, dimension: Int, k: Int) throws {
        guard dimension >= 1 else { throw GPUInferError.invalidInput("search: dimension must be at least 1") }
        guard queryCount >= 0, queries.count == queryCount * dimension else {
            throw GPUInferError.invalidInput("search: \(queries.count) query values are not \(queryCount) × \(dimension)")
        }
        guard rows >= 0, count == rows * dimension else {
            throw GPUInferError.invalidInput("search: \(count) database values are not \(rows) × \(dimension)")
        }
        guard k >= 1 else { throw GPUInferError.invalidInput("search: k must be at least 1 (got \(k))") }
        guard queries.allSatisfy(\.isFinite) else { throw GPUInferError.invalidInput("search: a query has a NaN or infinite value") }
    }
}

/// The exact CPU search: every score in Float arithmetic (a sequential sum over the dimension),
/// then a ranking of all rows. The oracle for `DeviceSearch`.
public enum ReferenceSearch {
    /// The `min(k, rows)` best rows for each of `queryCount` queries (`queries` is row-major
    /// [queryCount, dimension], `database` row-major [rows, dimension]).
    public static func search(queries: [Float], queryCount: Int, database: [Float], rows: Int, dimension: Int, k: Int) throws -> [[SearchHit]] {
        try SearchInput.check(queries: queries, queryCount: queryCount, database: database.count, rows: rows, dimension: dimension, k: k)
        return database.withUnsafeBufferPointer { db in
            queries.withUnsafeBufferPointer { qs in
                (0..<queryCount).map { q in
                    var hits: [SearchHit] = []
                    hits.reserveCapacity(rows)
                    let qo = q * dimension
                    for r in 0..<rows {
                        let ro = r * dimension
                        var s: Float = 0
                        for d in 0..<dimension { s += qs[qo + d] * db[ro + d] }
                        hits.append(SearchHit(index: r, score: s))
                    }
                    return topK(hits, k)
                }
            }
        }
    }

    /// The best `k` of `hits` in ranking order.
    static func topK(_ hits: [SearchHit], _ k: Int) -> [SearchHit] {
        if hits.count <= 4 * k { return Array(hits.sorted { $0.ranksBefore($1) }.prefix(k)) }
        var best: [SearchHit] = []
        best.reserveCapacity(k + 1)
        for h in hits {
            if best.count == k, let last = best.last, !h.ranksBefore(last) { continue }
            var p = best.count
            while p > 0 && h.ranksBefore(best[p - 1]) { p -= 1 }
            best.insert(h, at: p)
            if best.count > k { best.removeLast() }
        }
        return best
    }
}

/// Searches a database held on an OpenCL device.
///
/// The database is split into chunks of at most `maxChunkBytes` (default: the device's largest
/// allocation, capped at 256 MiB), so a 100,000 × 4096 database never needs one 1.6 GB buffer. The
/// chunks stay resident on the device when the whole database fits in half its global memory, else
/// they are streamed through one chunk buffer on every search. Per query batch and chunk it runs
/// `search_scores` (queries · chunkᵀ), `topk_segments` (the top-k of each slice of a score row) and
/// `topk_merge` (into the running per-query top-k); only the final [Q, k] is read back.
/// For `k` above `maxDeviceK` the per-chunk scores are read back and ranked on the host instead.
///
/// The scores kernel depends on the device (`ScoresKernel`): GPUs run `search_scores` on the
/// row-major chunks; other devices (PoCL) keep the chunks packed in 16-row panels and run
/// `search_scores_packed`, a CPU-style GEMM micro-kernel (5–8× faster there). `GPUINFER_SEARCH_SCORES`
/// = `tiled` or `packed` overrides the automatic choice.
public final class DeviceSearch: @unchecked Sendable {
    /// How the query · database scores are computed.
    public enum ScoresKernel: String, Sendable {
        /// `packed` in CPU style, `tiled` in GPU style (`ExecutionOptions.searchScores` overrides it).
        case automatic
        /// `search_scores`: row-major chunks, a work-item computes 4 queries × 8 rows as float4 dot products.
        case tiled
        /// `search_scores_packed`: chunks packed as [rows/16][dimension][16], a work-item computes
        /// up to 6 queries × 16 rows in float16 registers.
        case packed
    }
    /// Where the database chunks live between searches.
    public enum Residency: Sendable {
        /// Resident when the database fits in half the device's global memory, else streamed.
        case automatic
        /// Uploaded once, kept on the device.
        case resident
        /// Copied chunk by chunk through one buffer on every search (device memory: one chunk).
        case streamed
    }

    public let runtime: CLRuntime
    public let rows: Int
    public let dimension: Int
    /// Database rows per chunk.
    public let chunkRows: Int
    /// Whether the chunks stay on the device between searches.
    public let resident: Bool
    /// The largest k ranked on the device (private-memory lists in the kernels).
    public static let maxDeviceK = 512
    /// The scores kernel in use (`.tiled` or `.packed`).
    public let scoresKernel: ScoresKernel
    /// Rows per panel of a packed chunk (the kernel's PR), and queries per work-item (its TQ at most).
    static let panelRows = 16, packedQueries = 6

    private let database: [Float]
    private var chunks: [CLBuffer] = []
    private let lock = NSLock()

    /// Puts `database` (row-major [rows, dimension], normally L2-normalized) on `runtime`'s device.
    public init(runtime: CLRuntime, database: [Float], rows: Int, dimension: Int, maxChunkBytes: Int? = nil, residency: Residency = .automatic,
                scoresKernel: ScoresKernel = .automatic, options: ExecutionOptions = ExecutionOptions()) throws {
        try SearchInput.check(queries: [], queryCount: 0, database: database.count, rows: rows, dimension: dimension, k: 1)
        // Row indices are int32 in the kernels (offsets are 64-bit).
        guard rows < Int(Int32.max) else { throw GPUInferError.invalidInput("search: \(rows) rows is more than 2^31 - 1") }
        self.runtime = runtime
        self.rows = rows
        self.dimension = dimension
        self.database = database
        switch scoresKernel {
        case .automatic:
            switch options.searchScores {
            case .tiled: self.scoresKernel = .tiled
            case .packed: self.scoresKernel = .packed
            case .auto: self.scoresKernel = options.kernelFamily(for: runtime.device) == .gpu ? .tiled : .packed
            }
        case .tiled, .packed: self.scoresKernel = scoresKernel
        }
        var deviceMax = runtime.device.maxAllocation > 0 ? Int(clamping: runtime.device.maxAllocation) : 1 << 28
        // A packed chunk is padded to whole panels: leave room for the padding within the device's limit.
        if self.scoresKernel == .packed { deviceMax = max(4 * dimension, deviceMax - (Self.panelRows - 1) * 4 * dimension) }
        let budget = max(4 * dimension, min(maxChunkBytes ?? (1 << 28), deviceMax))
        // Indices inside a chunk are int32 in the kernels: keep chunk elements < 2^31.
        chunkRows = max(1, min(rows, budget / (4 * dimension), (Int(Int32.max) - 1) / dimension))
        let total = rows * dimension * 4
        switch residency {
        case .automatic: resident = runtime.device.globalMemory == 0 || UInt64(total) <= runtime.device.globalMemory / 2
        case .resident: resident = true
        case .streamed: resident = false
        }
        if resident {
            for start in stride(from: 0, to: rows, by: chunkRows) {
                let end = min(start + chunkRows, rows)
                chunks.append(try runtime.buffer(chunkValues(start: start, count: end - start)))
            }
        }
    }

    /// The `min(k, rows)` best rows for each of `queryCount` queries (row-major [queryCount, dimension]).
    public func search(queries: [Float], queryCount: Int, k: Int) throws -> [[SearchHit]] {
        try SearchInput.check(queries: queries, queryCount: queryCount, database: database.count, rows: rows, dimension: dimension, k: k)
        guard queryCount > 0 else { return [] }
        guard rows > 0 else { return Array(repeating: [], count: queryCount) }
        lock.lock()
        defer { lock.unlock() }
        let kk = min(k, rows)
        // Queries per pass: at most 256, and the score block [group, chunkRows] no larger than a
        // database chunk [chunkRows, dimension] (so within the device's allocation limit).
        let group = max(1, min(queryCount, 256, dimension))
        var results: [[SearchHit]] = []
        results.reserveCapacity(queryCount)
        let streamBuffer = resident ? nil : try runtime.buffer(bytes: chunkFloats(rows: chunkRows) * 4)
        let scores = try runtime.buffer(bytes: group * chunkRows * 4)
        let queryBuffer = try runtime.buffer(bytes: group * dimension * 4)
        for q0 in stride(from: 0, to: queryCount, by: group) {
            let nq = min(group, queryCount - q0)
            let scoreKernel: ScoreKernel
            if scoresKernel == .packed {
                // 6 queries × 16 rows per work-item: 12 ymm accumulators on AVX2; fewer queries, fewer.
                let tq = min(nq, Self.packedQueries)
                scoreKernel = try ScoreKernel(kernel: runtime.kernel("search_scores_packed", file: "topk_search", options: "-DTQ=\(tq) -DPR=\(Self.panelRows)"),
                                              queriesPerItem: tq, rowsPerItem: Self.panelRows, packed: true)
            } else {
                // 4 queries × 8 rows per work-item (1.5× faster than 4 × 4 on PoCL/EPYC); below 4 queries
                // 1 × 8, since a tile of 4 would compute 4 - nq clamped copies of the last query.
                let tile = nq < 4 ? (q: 1, r: 8) : (q: 4, r: 8)
                scoreKernel = try ScoreKernel(kernel: runtime.kernel("search_scores", file: "topk_search", options: "-DTQ=\(tile.q) -DTR=\(tile.r)"),
                                              queriesPerItem: tile.q, rowsPerItem: tile.r, packed: false)
            }
            try runtime.write(queryBuffer, Array(queries[(q0 * dimension)..<((q0 + nq) * dimension)]))
            if kk <= Self.maxDeviceK {
                results += try deviceTopK(nq: nq, k: kk, queryBuffer: queryBuffer, scores: scores, scoreKernel: scoreKernel, streamBuffer: streamBuffer)
            } else {
                results += try hostTopK(nq: nq, k: kk, queryBuffer: queryBuffer, scores: scores, scoreKernel: scoreKernel, streamBuffer: streamBuffer)
            }
        }
        return results
    }

    /// The device buffer holding chunk `c` (uploading it first when streaming).
    private func chunk(_ c: Int, start: Int, count: Int, streamBuffer: CLBuffer?) throws -> CLBuffer {
        guard let streamBuffer else { return chunks[c] }
        try runtime.write(streamBuffer, chunkValues(start: start, count: count))
        return streamBuffer
    }

    /// Rows `start ..< start + count` as the scores kernel reads them: row-major, or packed.
    private func chunkValues(start: Int, count: Int) -> [Float] {
        let rowMajor = database[(start * dimension)..<((start + count) * dimension)]
        return scoresKernel == .packed ? Self.pack(rowMajor, rows: count, dimension: dimension) : Array(rowMajor)
    }

    /// Floats in a chunk buffer of `rows` rows.
    private func chunkFloats(rows: Int) -> Int {
        scoresKernel == .packed ? (rows + Self.panelRows - 1) / Self.panelRows * Self.panelRows * dimension : rows * dimension
    }

    /// Row-major [rows, dimension] → [ceil(rows/16)][dimension][16], the missing rows of the last
    /// panel zero.
    static func pack(_ values: ArraySlice<Float>, rows: Int, dimension: Int) -> [Float] {
        let p = panelRows, panels = (rows + p - 1) / p
        var out = [Float](repeating: 0, count: panels * p * dimension)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for panel in 0..<panels {
                    for lane in 0..<min(p, rows - panel * p) {
                        let row = src.baseAddress! + (panel * p + lane) * dimension
                        let base = panel * p * dimension + lane
                        for d in 0..<dimension { dst[base + d * p] = row[d] }
                    }
                }
            }
        }
        return out
    }

    /// search_scores built for a tile size.
    struct ScoreKernel {
        let kernel: CLKernel
        let queriesPerItem: Int, rowsPerItem: Int
        /// search_scores_packed (global [query tiles, row panels]) rather than search_scores.
        let packed: Bool
    }

    private func encodeScores(_ score: ScoreKernel, queries: CLBuffer, chunk: CLBuffer, scores: CLBuffer, nq: Int, nr: Int) throws {
        let kernel = score.kernel
        try kernel.set(0, buffer: queries)
        try kernel.set(1, buffer: chunk)
        try kernel.set(2, buffer: scores)
        try kernel.set(3, Int32(nq))
        try kernel.set(4, Int32(nr))
        try kernel.set(5, Int32(dimension))
        let rowItems = (nr + score.rowsPerItem - 1) / score.rowsPerItem, queryItems = (nq + score.queriesPerItem - 1) / score.queriesPerItem
        if score.packed {
            // One work-group per row panel, all query tiles: the panel stays in cache across them
            // (the implementation picks when that is more than a work-group may hold).
            let local = queryItems <= runtime.device.maxWorkGroupSize ? [queryItems, 1] : nil
            try runtime.enqueue(kernel, global: [queryItems, rowItems], local: local)
        } else {
            try runtime.enqueue(kernel, global: [rowItems, queryItems], local: nil)
        }
    }

    private func deviceTopK(nq: Int, k: Int, queryBuffer: CLBuffer, scores: CLBuffer, scoreKernel: ScoreKernel, streamBuffer: CLBuffer?) throws -> [[SearchHit]] {
        let options = "-DTOPK=\(k)"
        let segmentKernel = try runtime.kernel("topk_segments", file: "topk_search", options: options)
        let mergeKernel = try runtime.kernel("topk_merge", file: "topk_search", options: options)
        // Each slice of a score row is long enough that its top-k is worth merging (≥ 4k rows).
        let segmentLength = max(128, 4 * k)
        let maxSegments = (chunkRows + segmentLength - 1) / segmentLength
        let candS = try runtime.buffer(bytes: nq * maxSegments * k * 4)
        let candI = try runtime.buffer(bytes: nq * maxSegments * k * 4)
        let bestS = try runtime.buffer([Float](repeating: -.infinity, count: nq * k))
        let bestI = try runtime.buffer([Int32](repeating: -1, count: nq * k))
        for (c, start) in stride(from: 0, to: rows, by: chunkRows).enumerated() {
            let nr = min(chunkRows, rows - start)
            let chunkBuffer = try chunk(c, start: start, count: nr, streamBuffer: streamBuffer)
            try encodeScores(scoreKernel, queries: queryBuffer, chunk: chunkBuffer, scores: scores, nq: nq, nr: nr)
            let nseg = (nr + segmentLength - 1) / segmentLength
            try segmentKernel.set(0, buffer: scores)
            try segmentKernel.set(1, buffer: candS)
            try segmentKernel.set(2, buffer: candI)
            try segmentKernel.set(3, Int32(nq))
            try segmentKernel.set(4, Int32(nr))
            try segmentKernel.set(5, Int32(segmentLength))
            try segmentKernel.set(6, Int32(nseg))
            try segmentKernel.set(7, Int32(start))
            try runtime.enqueue(segmentKernel, global: [nseg, nq], local: nil)
            try mergeKernel.set(0, buffer: candS)
            try mergeKernel.set(1, buffer: candI)
            try mergeKernel.set(2, buffer: bestS)
            try mergeKernel.set(3, buffer: bestI)
            try mergeKernel.set(4, Int32(nq))
            try mergeKernel.set(5, Int32(nseg))
            try runtime.enqueue(mergeKernel, global: [nq], local: nil)
        }
        let s = try runtime.read(bestS, count: nq * k, as: Float.self)
        let i = try runtime.read(bestI, count: nq * k, as: Int32.self)
        return (0..<nq).map { q in
            (0..<k).compactMap { j in i[q * k + j] >= 0 ? SearchHit(index: Int(i[q * k + j]), score: s[q * k + j]) : nil }
        }
    }

    private func hostTopK(nq: Int, k: Int, queryBuffer: CLBuffer, scores: CLBuffer, scoreKernel: ScoreKernel, streamBuffer: CLBuffer?) throws -> [[SearchHit]] {
        var best = Array(repeating: [SearchHit](), count: nq)
        for (c, start) in stride(from: 0, to: rows, by: chunkRows).enumerated() {
            let nr = min(chunkRows, rows - start)
            let chunkBuffer = try chunk(c, start: start, count: nr, streamBuffer: streamBuffer)
            try encodeScores(scoreKernel, queries: queryBuffer, chunk: chunkBuffer, scores: scores, nq: nq, nr: nr)
            let values = try runtime.read(scores, count: nq * nr, as: Float.self)
            for q in 0..<nq {
                let hits = (0..<nr).map { SearchHit(index: start + $0, score: values[q * nr + $0]) }
                best[q] = ReferenceSearch.topK(best[q] + hits, k)
            }
        }
        return best
    }
}
