// `gpuinfer eval vpr` (recall@N of visual place recognition: database and queries embedded into
// resumable indexes, searched on the device, positives within a distance in UTM meters) and
// `gpuinfer eval gldv2` (Google-Landmarks-v2: mAP@100 of retrieval from an index and query
// images, or mAP@100 / GAP of a Kaggle submission file).
import ArgumentParser
import Foundation
import GPUInfer
import GPUInferVision
import GPUInferRetrieval

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval", abstract: "Evaluate retrieval: recall@N (place recognition), mAP@100 and GAP (GLDv2).",
                                                    subcommands: [EvalVPR.self, EvalGLDv2.self])
}

/// Embeds a folder into an index under `work` (resumable: a rerun continues or reuses it).
private func embedFolder(_ folder: String, into path: String, model: ImageModel, modelName: String, fingerprint: String, batch: Int,
                         maxPixels: Int, lookahead: Int, quiet: Bool, label: String) throws -> (index: RetrievalIndex, imagesPerSecond: Double, embedded: Int) {
    let manifest = (path as NSString).appendingPathComponent(RetrievalIndex.manifestFile)
    let progress = (path as NSString).appendingPathComponent(FolderIndexer.progressFile)
    // A finished index of this model over exactly the images the folder holds now is reused.
    let finished = FileManager.default.fileExists(atPath: manifest) && !FileManager.default.fileExists(atPath: progress)
    if finished, let index = try? RetrievalIndex.load(from: path), index.model == modelName, index.root.map({ URL(fileURLWithPath: $0).standardizedFileURL.path })
        == URL(fileURLWithPath: folder).standardizedFileURL.path {
        let images = Set(try FolderIndexer.listFiles(in: folder, excluding: path).images)
        let known = Set(index.files).union(index.skipped.map(\.path))
        if images.isSubset(of: known), Set(index.files).isSubset(of: images) {
            FileHandleWriter.write("\(label): \(index.count) images already embedded in \(path)\n")
            return (index, 0, 0)
        }
        FileHandleWriter.write("\(label): \(folder) changed since \(path) was built: embedding it again\n")
    }
    let indexer = try FolderIndexer(model: model, modelName: modelName, modelFingerprint: fingerprint, folder: folder, output: path, batchSize: batch)
    indexer.maxPixels = maxPixels
    indexer.lookahead = lookahead
    var drew = false
    let report = try indexer.run(restart: finished) { p in
        guard !quiet else { return }
        FileHandleWriter.write("\r\(label): \(p.done)/\(p.total) images, \(p.failed) failed, " + String(format: "%.2f images/s ", p.imagesPerSecond))
        drew = true
    }
    if drew { FileHandleWriter.write("\n") }
    for s in report.skipped { FileHandleWriter.write("\(label): skipped \(s.path): \(s.reason)\n") }
    guard let index = report.index else { throw GPUInferError.invalidInput("\(folder): indexing did not finish") }
    return (index, report.imagesPerSecond, report.embeddedThisRun)
}

/// The folder where `eval` keeps its indexes: --work, else the user cache.
private func workFolder(_ work: String?, model: String, folders: [String]) -> String {
    if let work { return work }
    let base = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"].map { $0 + "/gpuinfer" } ?? (NSHomeDirectory() + "/.cache/gpuinfer")
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in ([model] + folders.map { URL(fileURLWithPath: $0).standardizedFileURL.path }).joined(separator: "\u{0}").utf8 {
        hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
    }
    let name = (model as NSString).lastPathComponent.replacingOccurrences(of: ".onnx", with: "")
    return base + "/eval/" + name + "-" + String(hash, radix: 16)
}

private func writeJSON(_ object: Any, to path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
    do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
        throw GPUInferError.io(path: path, reason: "cannot write: \(FileSystemErrors.reason(error))")
    }
}

struct EvalVPR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vpr", abstract: "recall@N of visual place recognition over a database and a query folder.",
        discussion: """
            Coordinates come from the file names (the geo-localization benchmark's @UTM_east@UTM_north@…@.jpg) \
            or from --csv (path,utm_east,utm_north; paths relative to their folder). A query is correct at N if one \
            of its N best database images lies within --threshold-m meters; queries with no database image that \
            close count as misses and are reported. The database and the queries are embedded into resumable \
            indexes under --work (default: a folder in the user cache), so an interrupted run continues.
            """)

    @Option(help: "Zoo name (e.g. resnet18_gem) or .onnx path of an image model.") var model: String
    @Option(help: "Folder of database images.") var database: String
    @Option(help: "Folder of query images.") var queries: String
    @Option(help: "Comma-separated N values.") var recalls: String = "1,5,10,20"
    @Option(name: .customLong("threshold-m"), help: "Distance in meters within which a database image is a positive.") var thresholdM: Double = 25
    @Option(help: "Coordinates CSV (path,utm_east,utm_north) instead of file names.") var csv: String?
    @Option(help: "Write recall and every query's positives and ranking as JSON.") var json: String?
    @Option(help: "Folder for the database and query indexes (resumable).") var work: String?
    @Option(help: "Images per inference.") var batch: Int = 8
    @OptionGroup var deviceOption: DeviceOption
    @OptionGroup var imageOptions: ImageModelOptions
    @Flag(help: "No progress lines.") var quiet = false

    func parsedRecalls() throws -> [Int] {
        let values = recalls.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else { throw ValidationError("--recalls must be comma-separated integers ≥ 1, got '\(recalls)'") }
        return values.compactMap { $0 }
    }

    func validate() throws {
        _ = try parsedRecalls()
        guard thresholdM.isFinite, thresholdM >= 0 else { throw ValidationError("--threshold-m must be a finite distance ≥ 0") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
    }

    func run() throws {
        try reportingErrors {
            let ns = try parsedRecalls()
            let (imageModel, fingerprint) = try imageOptions.load(model, device: deviceOption)
            let modelName = model.hasSuffix(".onnx") || model.contains("/") ? URL(fileURLWithPath: model).standardizedFileURL.path : model
            let work = workFolder(work, model: modelName, folders: [database, queries])
            let lookahead = try deviceOption.executionOptions().pipelineLookahead
            let db = try embedFolder(database, into: work + "/database", model: imageModel, modelName: modelName, fingerprint: fingerprint, batch: batch,
                                     maxPixels: imageOptions.maxPixels, lookahead: lookahead, quiet: quiet, label: "database")
            let q = try embedFolder(queries, into: work + "/queries", model: imageModel, modelName: modelName, fingerprint: fingerprint, batch: batch,
                                    maxPixels: imageOptions.maxPixels, lookahead: lookahead, quiet: quiet, label: "queries")
            guard db.index.dimension == q.index.dimension else {
                throw RetrievalIndexError.mismatch(path: work, reason: "database \(db.index.dimension)-d, queries \(q.index.dimension)-d descriptors")
            }
            let table = try csv.map { try PlaceRecognitionEvaluation.readCoordinates(csv: $0) } ?? [:]
            func coordinates(_ index: RetrievalIndex) throws -> [UTMCoordinate] {
                try index.files.indices.map { i in
                    let relative = index.files[i]
                    if let c = table[relative] ?? table[index.path(i)] ?? table[(relative as NSString).lastPathComponent] { return c }
                    guard let c = PlaceRecognitionEvaluation.coordinate(fromFileName: relative) else {
                        throw EvaluationError.missingCoordinates(path: index.path(i))
                    }
                    return c
                }
            }
            let dbCoordinates = try coordinates(db.index), queryCoordinates = try coordinates(q.index)
            let clock = ContinuousClock()
            let searcher = try IndexSearcher(index: db.index, runtime: imageModel.session.runtime, options: imageModel.session.options)
            let k = min(ns.max() ?? 1, db.index.count)
            var matches: [[RetrievalMatch]] = []
            let searchTime = try clock.measure {
                matches = try searcher.search(queries: Tensor(shape: [q.index.count, q.index.dimension], floats: q.index.descriptors), k: k)
            }.seconds
            var report: PlaceRecognitionEvaluation.Report?
            let metricTime = try clock.measure {
                report = try PlaceRecognitionEvaluation.evaluate(database: dbCoordinates, queries: queryCoordinates, queryPaths: q.index.files,
                                                                 ranked: matches.map { $0.map(\.index) }, recalls: ns, thresholdMeters: thresholdM)
            }.seconds
            guard let report else { return }
            print("model:     \(model)")
            print("database:  \(db.index.count) images, queries: \(q.index.count), positives within \(thresholdM) m")
            for (n, r) in report.recalls { print(String(format: "recall@%-4d %6.2f %%", n, r * 100)) }
            if report.queriesWithoutPositives > 0 {
                print("\(report.queriesWithoutPositives) of \(q.index.count) queries have no database image within \(thresholdM) m (counted as misses):")
                for o in report.queries where o.positives.isEmpty { print("  \(shown(o.path))") }
            }
            let throughput = String(format: "embedding %.2f images/s (database) and %.2f images/s (queries) where embedded in this run; search %.1f queries/s; metrics %.1f queries/s",
                                    db.imagesPerSecond, q.imagesPerSecond, Double(q.index.count) / max(searchTime, 1e-9), Double(q.index.count) / max(metricTime, 1e-9))
            print("throughput: " + throughput)
            if let json {
                var recallObject: [String: Double] = [:]
                for (n, r) in report.recalls { recallObject["\(n)"] = r }
                let object: [String: Any] = [
                    "model": model, "database": database, "queries_folder": queries, "threshold_m": thresholdM, "recall": recallObject,
                    "queries_without_positives": report.queriesWithoutPositives,
                    "queries": report.queries.map { o -> [String: Any] in
                        ["path": o.path, "positives": o.positives.map { db.index.files[$0] }, "ranked": o.ranked.map { db.index.files[$0] },
                         "first_positive_rank": o.firstPositiveRank as Any]
                    },
                    "throughput": ["database_images_per_s": db.imagesPerSecond, "query_images_per_s": q.imagesPerSecond,
                                   "search_queries_per_s": Double(q.index.count) / max(searchTime, 1e-9), "metric_queries_per_s": Double(q.index.count) / max(metricTime, 1e-9)],
                ]
                try writeJSON(object, to: json)
            }
        }
    }
}

struct EvalGLDv2: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gldv2", abstract: "Google-Landmarks-v2: mAP@100 of retrieval, or GAP of recognition predictions.",
        discussion: """
            With --index and --queries: the queries are embedded with the index's model, searched on the device and \
            scored by mAP@100 against --solution (Kaggle's id,images,Usage; ids are the file names without extension; \
            Ignored rows are left out). With --predictions: a Kaggle submission (id,images or id,landmarks \
            'label confidence') is scored against --solution (mAP@100, or GAP for id,landmarks,Usage).
            """)

    @Option(help: "Index folder of the index images (from `gpuinfer index`).") var index: String?
    @Option(help: "Folder of query images.") var queries: String?
    @Option(help: "Kaggle solution CSV.") var solution: String
    @Option(help: "A Kaggle submission CSV to score instead of searching.") var predictions: String?
    @Option(help: "Write the retrieval predictions as a Kaggle submission CSV.") var writeSubmission: String?
    @Option(help: "Write the scores as JSON.") var json: String?
    @Option(help: "Folder for the query index (resumable).") var work: String?
    @Option(name: .short, help: "Predictions per query.") var k: Int = 100
    @Option(help: "Images per inference.") var batch: Int = 8
    @OptionGroup var deviceOption: DeviceOption
    @OptionGroup var imageOptions: ImageModelOptions
    @Flag(help: "No progress lines.") var quiet = false

    func validate() throws {
        guard (predictions != nil) != (index != nil && queries != nil) else {
            throw ValidationError("give either --predictions FILE, or --index DB and --queries DIR")
        }
        guard k >= 1 else { throw ValidationError("-k must be at least 1") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
    }

    static func stem(_ path: String) -> String { ((path as NSString).lastPathComponent as NSString).deletingPathExtension }

    func run() throws {
        try reportingErrors {
            let truth = try RetrievalEvaluation.readSolution(path: solution)
            var result: [String: Any] = ["solution": solution, "scored_queries": truth.truth.values.filter { !$0.isEmpty }.count]
            if let predictions {
                let submission = try RetrievalEvaluation.readSubmission(path: predictions)
                switch truth.kind {
                case .retrieval:
                    let map = try RetrievalEvaluation.meanAveragePrecision(predictions: submission.retrieval, truth: truth.truth, k: k)
                    print(String(format: "mAP@%d: %.6f", k, map))
                    result["map_at_\(k)"] = map
                case .recognition:
                    let gap = try RetrievalEvaluation.globalAveragePrecision(predictions: submission.recognition, truth: truth.truth)
                    print(String(format: "GAP: %.6f", gap))
                    result["gap"] = gap
                }
            } else if let indexPath = index, let queries {
                guard truth.kind == .retrieval else {
                    throw EvaluationError.invalid("\(solution) is a recognition solution (id,landmarks): score recognition predictions with --predictions")
                }
                let db = try RetrievalIndex.load(from: indexPath)
                let (imageModel, fingerprint) = try imageOptions.load(db.model, device: deviceOption)
                let work = workFolder(work, model: db.model, folders: [indexPath, queries])
                let q = try embedFolder(queries, into: work + "/queries", model: imageModel, modelName: db.model, fingerprint: fingerprint, batch: batch,
                                        maxPixels: imageOptions.maxPixels, lookahead: try deviceOption.executionOptions().pipelineLookahead,
                                        quiet: quiet, label: "queries")
                guard q.index.dimension == db.dimension else {
                    throw RetrievalIndexError.mismatch(path: indexPath, reason: "the index holds \(db.dimension)-d descriptors, the queries \(q.index.dimension)-d")
                }
                let clock = ContinuousClock()
                let searcher = try IndexSearcher(index: db, runtime: imageModel.session.runtime, options: imageModel.session.options)
                var matches: [[RetrievalMatch]] = []
                let searchTime = try clock.measure {
                    matches = try searcher.search(queries: Tensor(shape: [q.index.count, q.index.dimension], floats: q.index.descriptors), k: min(k, db.count))
                }.seconds
                var ranked: [String: [String]] = [:]
                for (i, list) in matches.enumerated() { ranked[Self.stem(q.index.files[i])] = list.map { Self.stem(db.files[$0.index]) } }
                let map = try RetrievalEvaluation.meanAveragePrecision(predictions: ranked, truth: truth.truth, k: k)
                let missing = truth.truth.filter { !$0.value.isEmpty && ranked[$0.key] == nil }.count
                print("index:     \(db.count) images (model \(db.model)); queries: \(q.index.count)")
                print(String(format: "mAP@%d: %.6f", k, map))
                if missing > 0 { print("\(missing) scored queries of the solution are not in \(queries) (they score 0)") }
                print(String(format: "throughput: embedding %.2f images/s where embedded in this run; search %.1f queries/s", q.imagesPerSecond,
                             Double(q.index.count) / max(searchTime, 1e-9)))
                result["map_at_\(k)"] = map
                result["queries_missing"] = missing
                if let writeSubmission {
                    let lines = ["id,images"] + ranked.keys.sorted().map { "\($0)," + (ranked[$0] ?? []).joined(separator: " ") }
                    do { try (lines.joined(separator: "\n") + "\n").write(toFile: writeSubmission, atomically: true, encoding: .utf8) } catch {
                        throw GPUInferError.io(path: writeSubmission, reason: "cannot write: \(FileSystemErrors.reason(error))")
                    }
                }
            }
            if let json { try writeJSON(result, to: json) }
        }
    }
}
