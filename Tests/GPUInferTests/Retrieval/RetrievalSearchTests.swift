// Search kernels (Kernels/topk_search.cl via DeviceSearch) against the CPU reference, and both
// against an exact NumPy ranking of 10,000 random unit vectors (make_retrieval_fixtures.py).
import Foundation
import Testing
@testable import GPUInfer
@testable import GPUInferVision
@testable import GPUInferRetrieval

@Suite struct RetrievalSearchTests {
    static let script = "Tests/Models/make_retrieval_fixtures.py"

    struct Fixture {
        let db: Tensor, queries: Tensor, top: Tensor, topScores: Tensor
        init() throws {
            func load(_ name: String) throws -> Tensor { try Npy.read(path: GeneratedData.require("retrieval/\(name).npy", script: script)) }
            db = try load("search_db")
            queries = try load("search_queries")
            top = try load("search_top10")
            topScores = try load("search_top10_scores")
        }
    }

    /// Checks hits against NumPy's exact top-10. Indices must be equal (the fixture guarantees a
    /// gap > 1e-5 between different scores, exact ties rank the lower index first); scores within
    /// 1e-5: a float32 dot product of two 100-d unit vectors is off by at most ~100 · 6e-8 = 6e-6.
    func expectNumPyRanking(_ hits: [[SearchHit]], _ f: Fixture, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(hits.count == 100, sourceLocation: sourceLocation)
        for (q, list) in hits.enumerated() {
            let expected = (0..<10).map { Int(f.top.ints[q * 10 + $0]) }
            #expect(list.map(\.index) == expected, "\(what): query \(q)", sourceLocation: sourceLocation)
            for (j, h) in list.enumerated() where abs(h.score - f.topScores.floats[q * 10 + j]) > 1e-5 {
                Issue.record("\(what): query \(q) rank \(j + 1) score \(h.score), NumPy \(f.topScores.floats[q * 10 + j])", sourceLocation: sourceLocation)
            }
        }
    }

    @Test func referenceMatchesNumPyTop10() throws {
        let f = try Fixture()
        let hits = try ReferenceSearch.search(queries: f.queries.floats, queryCount: 100, database: f.db.floats, rows: 10000, dimension: 100, k: 10)
        expectNumPyRanking(hits, f, "reference")
        // Query 0 is row 0, which row 9990 copies: an exact tie, lower index first.
        #expect(hits[0].prefix(2).map(\.index) == [0, 9990])
        #expect(hits[0][0].score == hits[0][1].score)
    }

    /// The whole database in one chunk, in chunks of 2,500 rows, and in uneven chunks of 1,311
    /// (resident on the device, and streamed through one chunk buffer).
    @Test(arguments: [(nil, false), (1_000_000, false), (524_400, false), (524_400, true)])
    func deviceMatchesNumPyTop10(maxChunkBytes: Int?, streamed: Bool) throws {
        let runtime = try TestDevice.require()
        let f = try Fixture()
        for kernel in [DeviceSearch.ScoresKernel.tiled, .packed] {
            let search = try DeviceSearch(runtime: runtime, database: f.db.floats, rows: 10000, dimension: 100, maxChunkBytes: maxChunkBytes,
                                          residency: streamed ? .streamed : .resident, scoresKernel: kernel)
            #expect(search.resident == !streamed && search.scoresKernel == kernel)
            if let maxChunkBytes { #expect(search.chunkRows == maxChunkBytes / 400) }
            let hits = try search.search(queries: f.queries.floats, queryCount: 100, k: 10)
            expectNumPyRanking(hits, f, "device (\(kernel)), chunks of \(search.chunkRows) rows")
        }
    }

    /// Small-integer vectors make every dot product exact in float32, so the device must equal the
    /// reference exactly, ties (there are many) included: lower index first.
    @Test(arguments: [
        (1, 1, 1, 1, 0), (7, 3, 5, 10, 0), (1000, 33, 9, 7, 4000), (513, 130, 17, 1, 0), (2049, 4, 300, 64, 8192),
        (3000, 64, 2, 600, 100_000), (10, 5, 3, 10, 20), (1001, 37, 3, 5, 12000), (77, 19, 13, 4, 0),
    ])
    func deviceEqualsReferenceExactly(rows: Int, dimension: Int, queries: Int, k: Int, chunkBytes: Int) throws {
        let runtime = try TestDevice.require()
        var rng = TestRandom(seed: UInt64(rows * 31 + dimension))
        let db = (0..<(rows * dimension)).map { _ in Float(Int(rng.next() % 5) - 2) }
        let qs = (0..<(queries * dimension)).map { _ in Float(Int(rng.next() % 5) - 2) }
        let expected = try ReferenceSearch.search(queries: qs, queryCount: queries, database: db, rows: rows, dimension: dimension, k: k)
        // Both scores kernels (the packed one's query tiles of 1…6 and row panels of 16 get tails here).
        for kernel in [DeviceSearch.ScoresKernel.tiled, .packed] {
            let search = try DeviceSearch(runtime: runtime, database: db, rows: rows, dimension: dimension, maxChunkBytes: chunkBytes == 0 ? nil : chunkBytes,
                                          residency: rows % 2 == 1 ? .streamed : .automatic, scoresKernel: kernel)
            let got = try search.search(queries: qs, queryCount: queries, k: k)
            #expect(got.count == queries)
            #expect(got.allSatisfy { $0.count == min(k, rows) })
            for q in 0..<queries where got[q] != expected[q] {
                Issue.record("\(kernel) query \(q): device \(got[q].prefix(12)), reference \(expected[q].prefix(12)) (chunks of \(search.chunkRows) rows)")
                break
            }
        }
    }

    /// The packed chunk layout: row r, value d at [r / 16][d][r % 16]; the last panel's missing rows zero.
    @Test func packedChunkLayout() {
        let rows = 19, dim = 3
        let values = (0..<(rows * dim)).map { Float($0 + 1) }
        let packed = DeviceSearch.pack(values[...], rows: rows, dimension: dim)
        #expect(packed.count == 2 * 16 * dim)
        for p in 0..<2 {
            for d in 0..<dim {
                for lane in 0..<16 {
                    let r = p * 16 + lane
                    #expect(packed[(p * dim + d) * 16 + lane] == (r < rows ? values[r * dim + d] : 0))
                }
            }
        }
    }

    @Test func searchRejectsBadArguments() throws {
        let runtime = try TestDevice.require()
        let db: [Float] = [1, 0, 0, 1]
        #expect(throws: GPUInferError.self) { try ReferenceSearch.search(queries: [1, 0], queryCount: 1, database: db, rows: 2, dimension: 2, k: 0) }
        #expect(throws: GPUInferError.self) { try ReferenceSearch.search(queries: [1], queryCount: 1, database: db, rows: 2, dimension: 2, k: 1) }
        #expect(throws: GPUInferError.self) { try DeviceSearch(runtime: runtime, database: db, rows: 3, dimension: 2) }
        let search = try DeviceSearch(runtime: runtime, database: db, rows: 2, dimension: 2)
        #expect(throws: GPUInferError.self) { try search.search(queries: [.nan, 0], queryCount: 1, k: 1) }
        #expect(try search.search(queries: [], queryCount: 0, k: 3).isEmpty)
        let empty = try DeviceSearch(runtime: runtime, database: [], rows: 0, dimension: 2)
        #expect(try empty.search(queries: [1, 0], queryCount: 1, k: 3) == [[]])
    }
}

/// The scores kernel selector: the kernel style, or the `searchScores` option.
@Suite struct SearchSelectorTests {
    @Test func scoresKernelFollowsTheKernelStyle() throws {
        // packed in CPU style, tiled in GPU style, on the same (PoCL) device.
        let runtime = try TestDevice.require()
        let db = (0..<64).map { Float($0 % 7) }
        var gpu = ExecutionOptions()
        gpu.kernelStyle = .gpu
        #expect(try DeviceSearch(runtime: runtime, database: db, rows: 8, dimension: 8, options: gpu).scoresKernel == .tiled)
        var cpu = ExecutionOptions()
        cpu.kernelStyle = .cpu
        #expect(try DeviceSearch(runtime: runtime, database: db, rows: 8, dimension: 8, options: cpu).scoresKernel == .packed)
        cpu.searchScores = .tiled
        #expect(try DeviceSearch(runtime: runtime, database: db, rows: 8, dimension: 8, options: cpu).scoresKernel == .tiled)
    }
}
