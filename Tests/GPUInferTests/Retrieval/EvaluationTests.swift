// recall@N, mAP@100 and GAP on cases small enough to compute by hand, the file formats they read
// (the benchmark's @UTM@ file names, coordinate CSVs, Kaggle solutions and submissions), and
// their refusals.
import Foundation
import Testing
@testable import GPUInfer
@testable import GPUInferRetrieval

@Suite struct EvaluationTests {
    @Test func coordinatesFromFileNames() throws {
        let c = try #require(PlaceRecognitionEvaluation.coordinate(fromFileName: "db/@0543256.19@4178906.64@10@S@037.75501@-122.50000@@@@@@@@.jpg"))
        #expect(c == UTMCoordinate(east: 543256.19, north: 4178906.64))
        #expect(PlaceRecognitionEvaluation.coordinate(fromFileName: "photo.jpg") == nil)
        #expect(PlaceRecognitionEvaluation.coordinate(fromFileName: "@abc@12@.jpg") == nil)
        #expect(PlaceRecognitionEvaluation.coordinate(fromFileName: "@nan@12@.jpg") == nil)
    }

    /// Database at x = 0, 30, 100 m and (0, 24.99); queries at 0 (positives 0 and 3), 200 (none)
    /// and 55 (row 1 at exactly 25 m: inclusive). Rankings put the first positive at ranks 3, —, 1.
    @Test func recallByHand() throws {
        let db = [UTMCoordinate(east: 0, north: 0), UTMCoordinate(east: 30, north: 0), UTMCoordinate(east: 100, north: 0), UTMCoordinate(east: 0, north: 24.99)]
        let queries = [UTMCoordinate(east: 0, north: 0), UTMCoordinate(east: 200, north: 0), UTMCoordinate(east: 55, north: 0)]
        let report = try PlaceRecognitionEvaluation.evaluate(database: db, queries: queries, queryPaths: ["a", "b", "c"],
                                                             ranked: [[2, 1, 3, 0], [0, 1, 2, 3], [1, 0, 2, 3]], recalls: [1, 3, 20])
        #expect(report.queries.map(\.positives) == [[0, 3], [], [1]])
        #expect(report.queries.map(\.firstPositiveRank) == [3, nil, 1])
        #expect(report.recalls.map(\.n) == [1, 3, 20] && report.recalls.map(\.recall) == [1.0 / 3, 2.0 / 3, 2.0 / 3])
        #expect(report.queriesWithoutPositives == 1)
        for bad in [[0], [1, -2]] {
            #expect(throws: EvaluationError.self) {
                _ = try PlaceRecognitionEvaluation.evaluate(database: db, queries: queries, queryPaths: ["a", "b", "c"], ranked: [[0], [0], [0]], recalls: bad.map { $0 - 1 })
            }
        }
        #expect(throws: EvaluationError.self) {
            _ = try PlaceRecognitionEvaluation.evaluate(database: db, queries: queries, queryPaths: ["a", "b", "c"], ranked: [[0], [9], [0]], recalls: [1])
        }
    }

    /// q1: relevant {a, b}, predicted a, x, a (repeat: ignored), b → (1/1 + 2/3) / 2; q2: {c},
    /// predicted x, y → 0; q3: no prediction → 0; q4 Ignored; q5 has no relevant image → left out.
    @Test func meanAveragePrecisionByHand() throws {
        let truth: [String: Set<String>] = ["q1": ["a", "b"], "q2": ["c"], "q3": ["d"], "q5": []]
        let predictions = ["q1": ["a", "x", "a", "b"], "q2": ["x", "y"], "q9": ["a"]]
        let map = try RetrievalEvaluation.meanAveragePrecision(predictions: predictions, truth: truth)
        #expect(abs(map - (1 + 2.0 / 3) / 2 / 3) < 1e-12, "\(map)")
        // k = 1: q1's AP is P(1)·1 / min(2, 1) = 1.
        #expect(abs(try RetrievalEvaluation.meanAveragePrecision(predictions: predictions, truth: truth, k: 1) - 1.0 / 3) < 1e-12)
        #expect(throws: EvaluationError.self) { _ = try RetrievalEvaluation.meanAveragePrecision(predictions: predictions, truth: ["q": []]) }
    }

    /// Predictions by confidence: q2 (0.9, right), q1 (0.8, wrong), q3 (0.8, right: ties by id
    /// put q1 first), q4 (0.1, right) → (1/1 + 2/3 + 3/4) / M, M = 4 queries with a landmark (q6
    /// has none and was not predicted; q5's prediction is not in the solution).
    @Test func globalAveragePrecisionByHand() throws {
        let truth: [String: Set<String>] = ["q1": ["7"], "q2": ["8"], "q3": ["9"], "q4": ["1"], "q6": []]
        let predictions: [String: (label: String, confidence: Double)] = ["q1": ("3", 0.8), "q2": ("8", 0.9), "q3": ("9", 0.8), "q4": ("1", 0.1), "q5": ("1", 1)]
        let gap = try RetrievalEvaluation.globalAveragePrecision(predictions: predictions, truth: truth)
        #expect(abs(gap - (1 + 2.0 / 3 + 3.0 / 4) / 4) < 1e-12, "\(gap)")
    }

    @Test func fileFormats() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-eval-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func write(_ name: String, _ text: String) throws -> String {
            let path = dir + "/" + name
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let solution = try RetrievalEvaluation.readSolution(path: try write("sol.csv", "id,images,Usage\nq1,a b,Public\nq2,c,Private\nq3,d,Ignored\n"))
        #expect(solution.kind == .retrieval && solution.truth == ["q1": ["a", "b"], "q2": ["c"]])
        // Windows line ends (a "\r\n" is one Character in Swift: lines split on newlines of any kind).
        let crlf = try RetrievalEvaluation.readSolution(path: try write("crlf.csv", "id,images,Usage\r\nq1,a b,Public\r\nq2,c,Private\r\n"))
        #expect(crlf.truth == ["q1": ["a", "b"], "q2": ["c"]])
        #expect(try PlaceRecognitionEvaluation.readCoordinates(csv: try write("crlf-utm.csv", "a.jpg,1,2\r\nb.jpg,3,4\r\n")).count == 2)
        let recognition = try RetrievalEvaluation.readSolution(path: try write("rec.csv", "id,landmarks,Usage\nq1,7,Public\nq2,,Private\n"))
        #expect(recognition.kind == .recognition && recognition.truth == ["q1": ["7"], "q2": []])
        let submission = try RetrievalEvaluation.readSubmission(path: try write("sub.csv", "id,landmarks\nq1,7 0.5\nq2,\n"))
        #expect(submission.recognition.count == 1 && submission.recognition["q1"]?.label == "7" && submission.recognition["q1"]?.confidence == 0.5)
        let csv = try PlaceRecognitionEvaluation.readCoordinates(csv: try write("utm.csv", "path,utm_east,utm_north\na.jpg,1.5,2\nsub/b.jpg, 3 ,4\n"))
        #expect(csv == ["a.jpg": UTMCoordinate(east: 1.5, north: 2), "sub/b.jpg": UTMCoordinate(east: 3, north: 4)])
        for (name, text, what) in [("h.csv", "query,images\nq,a\n", "header"), ("d.csv", "id,images\nq,a\nq,b\n", "twice"), ("f.csv", "id,images,Usage\nq,a\n", "fields")] {
            #expect(throws: EvaluationError.self, "\(what)") { _ = try RetrievalEvaluation.readSolution(path: try write(name, text)) }
        }
        #expect(throws: EvaluationError.self) { _ = try PlaceRecognitionEvaluation.readCoordinates(csv: try write("u2.csv", "a.jpg,1\n")) }
        #expect(throws: EvaluationError.self) { _ = try PlaceRecognitionEvaluation.readCoordinates(csv: try write("u3.csv", "path,e,n\na.jpg,1,x\n")) }
        #expect(throws: EvaluationError.self) { _ = try RetrievalEvaluation.readSubmission(path: try write("s2.csv", "id,landmarks\nq1,7\n")) }
    }
}
