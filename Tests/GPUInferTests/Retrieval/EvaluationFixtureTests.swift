// recall@N, mAP@100 and GAP against the independent NumPy implementations of
// Tests/Models/make_eval_fixtures.py (eval_metrics.py: the benchmark's test.py and the delf
// Google-Landmarks metrics): generated datasets with exact score ties, a database image at exactly
// 25 m and one 8 mm further, queries without positives, N beyond the database, queries with 150
// relevant images, repeated and missing predictions, Ignored rows, confidence ties. The rankings
// come from gpuinfer's own search (device and CPU) and must equal the oracle's exactly; then the
// tiny real-photo set (Tests/Models/make_vpr_fixtures.py) through `gpuinfer eval vpr`.
import Foundation
import Testing
@testable import GPUInfer
@testable import GPUInferRetrieval

@Suite(.serialized) struct EvaluationFixtureTests {
    static let script = "Tests/Models/make_eval_fixtures.py"

    static func json(_ relative: String, script: String = script) throws -> [String: Any] {
        let path = try GeneratedData.require(relative, script: script)
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    @Test(arguments: ["recall_small", "recall_medium"])
    func recallEqualsTheOracle(name: String) throws {
        let expected = try Self.json("eval/\(name)/expected.json")
        func npy(_ file: String) throws -> Tensor { try Npy.read(path: try GeneratedData.require("eval/\(name)/\(file)", script: Self.script)) }
        let db = try npy("db_descriptors.npy"), queries = try npy("query_descriptors.npy"), ranked = try npy("ranked.npy")
        // UTM coordinates in float64 (.npy <f8 is read as Float: use the CSV, which keeps them exact).
        func utm(_ file: String) throws -> [UTMCoordinate] {
            let text = try String(contentsOfFile: try GeneratedData.require("eval/\(name)/\(file)", script: Self.script), encoding: .utf8)
            return text.split(whereSeparator: \.isNewline).dropFirst().map { line in
                let c = line.split(separator: ",")
                return UTMCoordinate(east: Double(c[1]) ?? .nan, north: Double(c[2]) ?? .nan)
            }
        }
        let dbUTM = try utm("db_utm.csv"), queryUTM = try utm("query_utm.csv")
        let k = try #require(expected["top_k"] as? Int)
        let index = try RetrievalIndex(dimension: db.shape[1], model: "fixture")
        var indexed = index
        try indexed.add(descriptors: db.floats, files: (0..<db.shape[0]).map { "db\($0)" })
        for runtime in [try TestDevice.require(), nil] as [CLRuntime?] {
            let matches = try IndexSearcher(index: indexed, runtime: runtime).search(queries: queries, k: k)
            let got = matches.map { $0.map(\.index) }
            let want = (0..<ranked.shape[0]).map { q in (0..<ranked.shape[1]).map { Int(ranked.ints[q * ranked.shape[1] + $0]) } }
            #expect(got == want, "\(name): ranking (\(runtime == nil ? "cpu" : "device")) differs from the oracle's")
            let ns = try #require(expected["recall_values"] as? [Int])
            let report = try PlaceRecognitionEvaluation.evaluate(database: dbUTM, queries: queryUTM, queryPaths: (0..<queryUTM.count).map { "q\($0)" },
                                                                 ranked: got, recalls: ns)
            let recall = try #require(expected["recall"] as? [String: Double])
            for (n, r) in report.recalls { #expect(abs(r - (recall["\(n)"] ?? -1)) < 1e-12, "\(name) recall@\(n): \(r) vs \(recall["\(n)"] ?? -1)") }
            let positives = try #require(expected["positives"] as? [[Int]])
            #expect(report.queries.map(\.positives) == positives, "\(name): positives")
            let first = try #require(expected["first_correct_rank"] as? [Any])
            #expect(report.queries.map { $0.firstPositiveRank ?? 0 } == first.map { ($0 as? Int) ?? 0 }, "\(name): first correct ranks")
        }
    }

    @Test func gldv2MetricsEqualTheOracle() throws {
        let expected = try Self.json("eval/gldv2/expected.json")
        func path(_ file: String) throws -> String { try GeneratedData.require("eval/gldv2/\(file)", script: Self.script) }
        let retrieval = try RetrievalEvaluation.readSolution(path: try path("retrieval_solution.csv"))
        let submission = try RetrievalEvaluation.readSubmission(path: try path("retrieval_predictions.csv"))
        let map = try RetrievalEvaluation.meanAveragePrecision(predictions: submission.retrieval, truth: retrieval.truth)
        let wantMap = try #require((expected["mAP@100"] as? [String: Double])?["all"])
        #expect(abs(map - wantMap) < 1e-12, "mAP@100 \(map) vs \(wantMap)")
        let recognition = try RetrievalEvaluation.readSolution(path: try path("recognition_solution.csv"))
        let predictions = try RetrievalEvaluation.readSubmission(path: try path("recognition_predictions.csv"))
        let gap = try RetrievalEvaluation.globalAveragePrecision(predictions: predictions.recognition, truth: recognition.truth)
        let wantGap = try #require((expected["GAP"] as? [String: Double])?["all"])
        #expect(abs(gap - wantGap) < 1e-12, "GAP \(gap) vs \(wantGap)")
        // The CLI prints the same.
        let r = try gpuinfer(["eval", "gldv2", "--predictions", try path("retrieval_predictions.csv"), "--solution", try path("retrieval_solution.csv")])
        #expect(r.status == 0 && r.out.contains(String(format: "mAP@100: %.6f", wantMap)), "\(r.out)\(r.err)")
        let g = try gpuinfer(["eval", "gldv2", "--predictions", try path("recognition_predictions.csv"), "--solution", try path("recognition_solution.csv")])
        #expect(g.status == 0 && g.out.contains(String(format: "GAP: %.6f", wantGap)), "\(g.out)\(g.err)")
    }

    /// Eight real photos as a database and five crops/other views as queries, named with made-up
    /// UTM coordinates: rocket_crop's nearest database image is 25.10 m away (a miss); the other
    /// four find a positive first with the benchmark's NetVLAD (normalized descriptors, so cosine
    /// ranks as the benchmark's L2 does): recall@1 = @5 = @10 = 4/5, as onnxruntime's ranking gives.
    @Test func tinyRealPhotoSetThroughTheCLI() throws {
        let vpr = "Tests/Models/make_vpr_fixtures.py"
        let tiny = try Self.json("vpr/tiny_set/tiny_set.json", script: vpr)
        let folder = GeneratedData.url("vpr/tiny_set").path
        let model = try GeneratedData.require("vpr/resnet18_netvlad.onnx", script: vpr)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-tiny-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: work) }
        let r = try gpuinfer(["eval", "vpr", "--model", model, "--database", folder + "/database", "--queries", folder + "/queries", "--recalls", "1,5,10",
                              "--device", "0", "--work", work, "--json", work + "/r.json", "--quiet"])
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        let out = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/r.json"))) as? [String: Any])
        let expected = try #require(((tiny["models"] as? [String: Any])?["resnet18_netvlad"] as? [String: Any])?["recall"] as? [String: Double])
        #expect((out["recall"] as? [String: Double]) == expected && expected == ["1": 0.8, "5": 0.8, "10": 0.8], "\(out["recall"] ?? "-") vs \(expected)")
        // Positives by hand (tiny_set.json lists them per query, in database order).
        let queries = try #require(tiny["queries"] as? [[String: Any]])
        let database = try #require(tiny["database"] as? [[String: Any]])
        let got = try #require(out["queries"] as? [[String: Any]])
        for q in queries {
            let file = ((q["file"] as? String ?? "") as NSString).lastPathComponent
            let want = (q["positives"] as? [Int] ?? []).map { ((database[$0]["file"] as? String ?? "") as NSString).lastPathComponent }
            let row = try #require(got.first { ($0["path"] as? String) == file }, "\(file)")
            #expect((row["positives"] as? [String]) == want, "\(file): \(row["positives"] ?? "-") vs \(want)")
        }
        #expect(r.out.contains("1 of 5 queries have no database image within 25.0 m") && r.out.contains("rocket"), "\(r.out)")
    }
}
