// Evaluation of retrieval the way its communities report it: recall@N for visual place
// recognition (deep-visual-geo-localization-benchmark: a query is right at N if one of its N best
// database images lies within 25 m, UTM coordinates taken from the file names), mAP@100 for
// Google-Landmarks-v2 retrieval and GAP for its recognition track (Kaggle's definitions).
import Foundation
import GPUInfer

/// A position in UTM meters.
public struct UTMCoordinate: Sendable, Equatable, Codable {
    public var east: Double
    public var north: Double
    public init(east: Double, north: Double) {
        self.east = east
        self.north = north
    }

    /// Euclidean distance in meters.
    public func distance(to other: UTMCoordinate) -> Double {
        ((east - other.east) * (east - other.east) + (north - other.north) * (north - other.north)).squareRoot()
    }
}

/// An evaluation input that is not what it must be: which file, and why.
public enum EvaluationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A file name without the benchmark's `@UTM_east@UTM_north@` fields, and no CSV entry.
    case missingCoordinates(path: String)
    /// A CSV or solution file that cannot be read as its format says.
    case badFile(path: String, line: Int, reason: String)
    /// Inputs that disagree (counts, empty sets, bad parameters).
    case invalid(String)

    public var description: String {
        switch self {
        case let .missingCoordinates(path):
            "\(path): no UTM coordinates (name it @UTM_east@UTM_north@….jpg as the geo-localization benchmark does, or list it in a CSV path,utm_east,utm_north)"
        case let .badFile(path, line, reason): "\(path):\(line): \(reason)"
        case let .invalid(reason): reason
        }
    }
}

/// The lines of a UTF-8 text file, trimmed, blank ones kept (line numbers stay right); any
/// newline ends a line ("\r\n" is one Character in Swift).
func textLines(_ path: String) throws -> [String] {
    guard let data = FileManager.default.contents(atPath: path) else { throw GPUInferError.io(path: path, reason: "cannot read") }
    guard let text = String(data: data, encoding: .utf8) else { throw EvaluationError.badFile(path: path, line: 1, reason: "not UTF-8 text") }
    return text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
}

/// recall@N of visual place recognition.
public enum PlaceRecognitionEvaluation {
    /// The benchmark's file-name convention: `…/@UTM_east@UTM_north@UTM_zone_number@…@.jpg`, the
    /// fields after the first two `@` of the file name.
    public static func coordinate(fromFileName path: String) -> UTMCoordinate? {
        let fields = (path as NSString).lastPathComponent.split(separator: "@", omittingEmptySubsequences: false)
        guard fields.count >= 3, let east = Double(fields[1]), let north = Double(fields[2]), east.isFinite, north.isFinite else { return nil }
        return UTMCoordinate(east: east, north: north)
    }

    /// Reads `path,utm_east,utm_north` lines (a header line is skipped; paths as written, matched
    /// against image paths relative to the folder or absolute).
    public static func readCoordinates(csv path: String) throws -> [String: UTMCoordinate] {
        var result: [String: UTMCoordinate] = [:]
        for (i, line) in try textLines(path).enumerated() {
            if line.isEmpty { continue }
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 3 else { throw EvaluationError.badFile(path: path, line: i + 1, reason: "expected path,utm_east,utm_north, got \(cells.count) fields") }
            guard let east = Double(cells[1]), let north = Double(cells[2]), east.isFinite, north.isFinite else {
                if i == 0 { continue }  // a header
                throw EvaluationError.badFile(path: path, line: i + 1, reason: "coordinates '\(cells[1])', '\(cells[2])' are not finite numbers")
            }
            result[cells[0]] = UTMCoordinate(east: east, north: north)
        }
        return result
    }

    /// One query's outcome.
    public struct QueryOutcome: Sendable, Codable, Equatable {
        public var path: String
        /// Database rows within the threshold, ascending.
        public var positives: [Int]
        /// Database rows by descending score (ties: lower row first), the best max(N).
        public var ranked: [Int]
        /// 1-based rank of the first positive in `ranked`, nil if none is there.
        public var firstPositiveRank: Int?
    }

    /// recall@N for each N (a fraction in [0, 1]) and the per-query outcomes.
    public struct Report: Sendable {
        public var recalls: [(n: Int, recall: Double)]
        public var queries: [QueryOutcome]
        /// Queries with no database image within the threshold (they count as misses).
        public var queriesWithoutPositives: Int { queries.filter(\.positives.isEmpty).count }
    }

    /// Database rows within `thresholdMeters` (inclusive, as the benchmark's radius search) of each query.
    public static func positives(database: [UTMCoordinate], queries: [UTMCoordinate], thresholdMeters: Double) -> [[Int]] {
        queries.map { q in database.indices.filter { database[$0].distance(to: q) <= thresholdMeters } }
    }

    /// recall@N over `ranked` (per query, database rows best first): a query is correct at N when
    /// one of its first N rows is a positive; N beyond the ranked list means the whole list.
    public static func evaluate(database: [UTMCoordinate], queries: [UTMCoordinate], queryPaths: [String], ranked: [[Int]],
                                recalls: [Int], thresholdMeters: Double = 25) throws -> Report {
        guard queries.count == ranked.count, queries.count == queryPaths.count else {
            throw EvaluationError.invalid("\(queries.count) queries, \(ranked.count) ranked lists, \(queryPaths.count) paths")
        }
        guard !queries.isEmpty else { throw EvaluationError.invalid("no queries") }
        guard !recalls.isEmpty, recalls.allSatisfy({ $0 >= 1 }) else { throw EvaluationError.invalid("recall N values must be ≥ 1, got \(recalls)") }
        guard thresholdMeters.isFinite, thresholdMeters >= 0 else { throw EvaluationError.invalid("the threshold must be a finite distance ≥ 0, got \(thresholdMeters)") }
        for list in ranked { for r in list where r < 0 || r >= database.count { throw EvaluationError.invalid("ranked row \(r) is outside the database of \(database.count)") } }
        let positives = positives(database: database, queries: queries, thresholdMeters: thresholdMeters)
        var outcomes: [QueryOutcome] = []
        for (q, list) in ranked.enumerated() {
            let set = Set(positives[q])
            let first = list.firstIndex { set.contains($0) }.map { $0 + 1 }
            outcomes.append(QueryOutcome(path: queryPaths[q], positives: positives[q], ranked: list, firstPositiveRank: first))
        }
        let values = recalls.map { n in
            (n, Double(outcomes.filter { $0.firstPositiveRank.map { $0 <= n } ?? false }.count) / Double(outcomes.count))
        }
        return Report(recalls: values, queries: outcomes)
    }
}

/// Google-Landmarks-v2 metrics (Kaggle's definitions).
public enum RetrievalEvaluation {
    /// A solution file: `id,images,Usage` (retrieval: space-separated relevant index ids) or
    /// `id,landmarks,Usage` (recognition: the query's landmark id, empty for none). Rows whose
    /// Usage is `Ignored` are left out, as Kaggle scores them.
    public struct Solution: Sendable {
        public enum Kind: Sendable { case retrieval, recognition }
        public var kind: Kind
        /// Query id → relevant index ids (retrieval) or its landmark ids (recognition; empty: no landmark).
        public var truth: [String: Set<String>]
    }

    /// Reads a Kaggle solution CSV.
    public static func readSolution(path: String) throws -> Solution {
        let lines = try textLines(path)
        guard let header = lines.first?.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }), header.count >= 2, header[0] == "id" else {
            throw EvaluationError.badFile(path: path, line: 1, reason: "expected a header id,images[,Usage] or id,landmarks[,Usage]")
        }
        let kind: Solution.Kind
        switch header[1] {
        case "images": kind = .retrieval
        case "landmarks": kind = .recognition
        default: throw EvaluationError.badFile(path: path, line: 1, reason: "second column is '\(header[1])', expected images or landmarks")
        }
        let usageColumn = header.firstIndex(of: "usage")
        var truth: [String: Set<String>] = [:]
        for (i, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == header.count else {
                throw EvaluationError.badFile(path: path, line: i + 1, reason: "\(cells.count) fields, the header has \(header.count)")
            }
            guard !cells[0].isEmpty else { throw EvaluationError.badFile(path: path, line: i + 1, reason: "empty id") }
            guard truth[cells[0]] == nil else { throw EvaluationError.badFile(path: path, line: i + 1, reason: "id '\(cells[0])' appears twice") }
            if let u = usageColumn, cells[u].lowercased() == "ignored" { continue }
            truth[cells[0]] = Set(cells[1].split(separator: " ").map(String.init))
        }
        return Solution(kind: kind, truth: truth)
    }

    /// Kaggle's mAP@k (k = 100): for each solution query with at least one relevant image,
    /// AP = Σ_{i ≤ k} P(i)·rel(i) / min(#relevant, k) over its predictions (repeats of an id count
    /// once, at their first rank); queries without a prediction score 0; the mean is over those
    /// queries. Predictions for ids outside the solution are ignored.
    public static func meanAveragePrecision(predictions: [String: [String]], truth: [String: Set<String>], k: Int = 100) throws -> Double {
        guard k >= 1 else { throw EvaluationError.invalid("k must be ≥ 1, got \(k)") }
        let scored = truth.filter { !$0.value.isEmpty }
        guard !scored.isEmpty else { throw EvaluationError.invalid("no query of the solution has a relevant image") }
        var total = 0.0
        for (id, relevant) in scored {
            var seen = Set<String>(), hits = 0, sum = 0.0, rank = 0
            for p in predictions[id] ?? [] where seen.insert(p).inserted {
                rank += 1
                if rank > k { break }
                if relevant.contains(p) {
                    hits += 1
                    sum += Double(hits) / Double(rank)
                }
            }
            total += sum / Double(min(relevant.count, k))
        }
        return total / Double(scored.count)
    }

    /// Kaggle's Global Average Precision (micro-AP) of recognition predictions (one label and
    /// confidence per query): sorted by descending confidence (ties: ascending id),
    /// GAP = Σ_i P(i)·rel(i) / M, M = the solution's queries that have a landmark. Predictions for
    /// ids outside the solution are ignored; a query without a prediction just never counts.
    public static func globalAveragePrecision(predictions: [String: (label: String, confidence: Double)], truth: [String: Set<String>]) throws -> Double {
        let m = truth.values.filter { !$0.isEmpty }.count
        guard m > 0 else { throw EvaluationError.invalid("no query of the solution has a landmark") }
        let ordered = predictions.filter { truth[$0.key] != nil }.sorted {
            $0.value.confidence > $1.value.confidence || ($0.value.confidence == $1.value.confidence && $0.key < $1.key)
        }
        var correct = 0, sum = 0.0
        for (i, (id, p)) in ordered.enumerated() where truth[id]?.contains(p.label) == true {
            correct += 1
            sum += Double(correct) / Double(i + 1)
        }
        return sum / Double(m)
    }

    /// Reads a Kaggle submission: `id,images` (space-separated ids, best first) for retrieval or
    /// `id,landmarks` ("label confidence") for recognition.
    public static func readSubmission(path: String) throws -> (retrieval: [String: [String]], recognition: [String: (label: String, confidence: Double)]) {
        var retrieval: [String: [String]] = [:], recognition: [String: (label: String, confidence: Double)] = [:]
        let lines = try textLines(path)
        let header = lines.first?.lowercased() ?? ""
        let isRecognition = header.hasPrefix("id,landmarks")
        guard isRecognition || header.hasPrefix("id,images") else {
            throw EvaluationError.badFile(path: path, line: 1, reason: "expected a header id,images or id,landmarks")
        }
        for (i, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            let cells = line.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 2, !cells[0].isEmpty else { throw EvaluationError.badFile(path: path, line: i + 1, reason: "expected id,value") }
            if isRecognition {
                let parts = cells[1].split(separator: " ")
                if parts.isEmpty { continue }
                guard parts.count == 2, let c = Double(parts[1]), c.isFinite else {
                    throw EvaluationError.badFile(path: path, line: i + 1, reason: "expected 'label confidence', got '\(cells[1])'")
                }
                recognition[cells[0]] = (String(parts[0]), c)
            } else {
                retrieval[cells[0]] = cells[1].split(separator: " ").map(String.init)
            }
        }
        return (retrieval, recognition)
    }
}
