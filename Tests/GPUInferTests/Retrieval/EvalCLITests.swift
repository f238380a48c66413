// `gpuinfer eval vpr` and `eval gldv2` end to end on copies of the retrieval fixture photos named
// with UTM coordinates, with the small embedding model of make_retrieval_fixtures.py: the query
// that is a resized copy of a database photo finds it first (cosine ≈ 1), so recall and mAP here
// follow by hand from the coordinates and ids.
import Foundation
import Testing
@testable import GPUInfer
@testable import GPUInferRetrieval

@Suite(.serialized) struct EvalCLITests {
    static let script = "Tests/Models/make_retrieval_fixtures.py"

    /// database: grace_hopper at (1000, 1000), the others 100 m or more away; queries: the resized
    /// grace_hopper 10 m from it, and a photo 5 km from everything.
    static func folders() throws -> (model: String, work: String, database: String, queries: String) {
        let model = try GeneratedData.require("retrieval/embed_small.onnx", script: script)
        let photos = try GeneratedData.require("retrieval/photos", script: script)
        let query = try GeneratedData.require("retrieval/query_small.jpg", script: script)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-eval-\(UUID().uuidString)").path
        let fm = FileManager.default
        try fm.createDirectory(atPath: work + "/db", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: work + "/q", withIntermediateDirectories: true)
        for (file, east) in [("grace_hopper.jpg", 1000), ("flipped.jpg", 1100), ("crop.png", 1300), ("sub/dark.jpg", 2000)] {
            let ext = (file as NSString).pathExtension
            try fm.copyItem(atPath: photos + "/" + file, toPath: work + "/db/@\(east).0@1000.0@33@T@@\(((file as NSString).lastPathComponent as NSString).deletingPathExtension).\(ext)")
        }
        try fm.copyItem(atPath: query, toPath: work + "/q/@1010.0@1000.0@33@T@@query.jpg")
        try fm.copyItem(atPath: photos + "/noise.png", toPath: work + "/q/@9000.0@6000.0@33@T@@far.png")
        return (model, work, work + "/db", work + "/q")
    }

    @Test func vprRecallFromFileNames() throws {
        let f = try Self.folders()
        defer { try? FileManager.default.removeItem(atPath: f.work) }
        let args = ["eval", "vpr", "--model", f.model, "--database", f.database, "--queries", f.queries, "--recalls", "1,3,10",
                    "--device", "0", "--work", f.work + "/indexes", "--json", f.work + "/r.json", "--quiet"]
        let r = try gpuinfer(args)
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        // The near query finds grace_hopper first; the far one has no positive: 1/2 at every N.
        #expect(r.out.contains("recall@1     50.00 %") && r.out.contains("recall@10    50.00 %"), "\(r.out)")
        #expect(r.out.contains("1 of 2 queries have no database image within 25.0 m") && r.out.contains("far.png"), "\(r.out)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: f.work + "/r.json"))) as? [String: Any])
        #expect((json["recall"] as? [String: Double]) == ["1": 0.5, "3": 0.5, "10": 0.5])
        let queries = json["queries"] as? [[String: Any]] ?? []
        let near = try #require(queries.first { ($0["path"] as? String)?.hasSuffix("query.jpg") == true })
        #expect((near["positives"] as? [String])?.count == 1 && (near["positives"] as? [String])?.first?.contains("grace_hopper") == true)
        #expect((near["ranked"] as? [String])?.count == 4 && near["first_positive_rank"] as? Int == 1)
        // A second run reuses both indexes.
        let again = try gpuinfer(args)
        #expect(again.status == 0 && again.err.contains("already embedded"), "\(again.err)")
        // A coordinates CSV overrides the names: move the far query next to crop.png (rank unknown, but a positive exists).
        try "path,utm_east,utm_north\n@9000.0@6000.0@33@T@@far.png,1300,1010\n".write(toFile: f.work + "/utm.csv", atomically: true, encoding: .utf8)
        let csv = try gpuinfer(args + ["--csv", f.work + "/utm.csv"])
        #expect(csv.status == 0 && !csv.out.contains("have no database image"), "\(csv.out)")
        // A changed folder is embedded again, never scored from a stale index; an image without
        // coordinates is a typed error naming the file.
        try FileManager.default.copyItem(atPath: f.queries + "/@1010.0@1000.0@33@T@@query.jpg", toPath: f.queries + "/plain.jpg")
        let bad = try gpuinfer(args)
        #expect(bad.status == 1 && bad.err.contains("plain.jpg") && bad.err.contains("no UTM coordinates"), "\(bad.err)")
    }

    @Test func gldv2MeanAveragePrecision() throws {
        let f = try Self.folders()
        defer { try? FileManager.default.removeItem(atPath: f.work) }
        let db = f.work + "/index"
        let i = try gpuinfer(["index", "--device", "0", f.model, f.database, "--output", db, "--quiet"])
        #expect(i.status == 0, "\(i.err)")
        // Query ids are file names without extension; the near query's relevant image is grace_hopper.
        let grace = "@1000.0@1000.0@33@T@@grace_hopper", query = "@1010.0@1000.0@33@T@@query", far = "@9000.0@6000.0@33@T@@far"
        try "id,images,Usage\n\(query),\(grace),Public\n\(far),,Ignored\n".write(toFile: f.work + "/solution.csv", atomically: true, encoding: .utf8)
        let r = try gpuinfer(["eval", "gldv2", "--index", db, "--queries", f.queries, "--solution", f.work + "/solution.csv", "--device", "0",
                              "--work", f.work + "/w", "--write-submission", f.work + "/sub.csv", "--quiet"])
        #expect(r.status == 0 && r.out.contains("mAP@100: 1.000000"), "\(r.out)\n\(r.err)")
        // The written submission scores the same.
        let s = try gpuinfer(["eval", "gldv2", "--predictions", f.work + "/sub.csv", "--solution", f.work + "/solution.csv"])
        #expect(s.status == 0 && s.out.contains("mAP@100: 1.000000"), "\(s.out)\n\(s.err)")
        // Recognition: GAP of one right prediction out of two queries with landmarks.
        try "id,landmarks,Usage\na,7,Public\nb,8,Private\nc,,Private\n".write(toFile: f.work + "/rec.csv", atomically: true, encoding: .utf8)
        try "id,landmarks\na,7 0.9\nb,3 0.5\nc,1 0.1\n".write(toFile: f.work + "/pred.csv", atomically: true, encoding: .utf8)
        let g = try gpuinfer(["eval", "gldv2", "--predictions", f.work + "/pred.csv", "--solution", f.work + "/rec.csv"])
        #expect(g.status == 0 && g.out.contains("GAP: 0.500000"), "\(g.out)\n\(g.err)")
        let bad = try gpuinfer(["eval", "gldv2", "--solution", f.work + "/rec.csv"])
        #expect(bad.status != 0 && bad.err.contains("--predictions"), "\(bad.err)")
    }
}
