// ONNX backend conformance: runs the ONNX node test cases (and the model folders the onnx wheel
// ships) on the reference backend and the OpenCL device, and reports pass/fail/skip per op type.
//
// Data: `.venv/bin/python Tests/Conformance/generate_node_tests.py` (or Tests/generate-test-data.sh).
// Environment:
//   GPUINFER_CONFORMANCE_FILTER=Conv,relu  only cases whose name contains one of the substrings
//                                          (case-insensitive) or whose op type is one of them.
// Verdicts: pass; skip = the engine refused the model cleanly at load time (unsupportedOp,
// unsupportedDType, opset outside the supported range, a test tensor of an unsupported type);
// fail = wrong values, dtype or shape, or any error after a successful load (errors that are
// refusals at plan time are marked "refused"); out of scope = an op outside the project's op list,
// another domain, or sequence/map/optional values. The test fails on any in-scope failure.
// A case that crashes the test process is remembered (conformance-crashed-<suite>.txt) and
// reported as a failure by later runs of the same test binary instead of being run again, so one
// crash does not hide the rest of the report; a rebuild or a filter selecting it retries it.
import Foundation
import Testing
@testable import GPUInfer

/// One entry of a suite's cases.json.
struct ConformanceCase: Decodable, Sendable {
    let name: String
    /// The op the case is about (for `_expanded` cases: the op whose function body was expanded).
    let op: String
    let expanded: Bool
    /// Default-domain op types in the graph.
    let ops: [String]
    /// Other domains used.
    let domains: [String]
    let opset: Int?
    let rtol: Double
    let atol: Double
    let data_sets: Int
    /// Why the generator did not write the case (sequence/map/optional values), if it did not.
    let skipped: String?

    /// Row of the per-op table.
    var group: String { expanded ? "\(op) (expanded)" : op }
}

/// A suite's cases.json.
struct ConformanceIndex: Decodable {
    let suite: String
    let onnx_version: String
    let cases: [ConformanceCase]
}

/// The verdict on one case.
enum ConformanceOutcome {
    case pass
    /// Wrong values or an error after load; `refused` when the error is an engine refusal at plan time.
    case fail(String, refused: Bool)
    /// A clean refusal at load time.
    case skip(String)
    case outOfScope(String)
}

enum Conformance {
    /// The project's op list; anything registered in `OpRegistry` is in scope too.
    static let projectOps: Set<String> = [
        "Conv", "Relu", "Clip", "Sigmoid", "MaxPool", "AveragePool", "GlobalAveragePool", "Add", "Sub", "Mul", "Div",
        "Pow", "Sqrt", "MatMul", "Gemm", "Softmax", "ReduceSum", "ReduceMean", "ReduceL2", "ReduceMax",
        "LpNormalization", "Reshape", "Flatten", "Transpose", "Concat", "Slice", "Squeeze", "Unsqueeze", "Gather",
        "Identity", "Constant", "Shape", "Max", "Min", "Exp", "Log", "Tanh", "Neg", "Abs", "Erf", "HardSigmoid",
        "HardSwish", "LeakyRelu", "PRelu", "Cast", "Expand", "Pad", "Split", "Tile", "Where", "ArgMax", "Resize",
        "ConvTranspose", "BatchNormalization",
    ]
    static var scope: Set<String> { projectOps.union(OpRegistry.byName.keys) }

    /// Substrings from GPUINFER_CONFORMANCE_FILTER (lowercased), empty when unset.
    static let filters: [String] = (ProcessInfo.processInfo.environment["GPUINFER_CONFORMANCE_FILTER"] ?? "")
        .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }

    static func selected(_ c: ConformanceCase) -> Bool {
        filters.isEmpty || filters.contains { f in c.name.lowercased().contains(f) || c.op.lowercased() == f }
    }

    /// Whether a load-time error is a clean refusal (a skip) rather than a bug.
    static func isCleanRefusal(_ e: GPUInferError) -> Bool {
        switch e {
        case .unsupportedOp, .unsupportedDType: return true
        case let .invalidModel(_, reason): return reason.contains("opset") && reason.contains("supported range")
        default: return false
        }
    }

    /// Loads `input_K.pb` / `output_K.pb` of one data set, in K order.
    static func tensors(in dir: URL, prefix: String) throws -> [Tensor] {
        var result: [Tensor] = []
        while true {
            let path = dir.appendingPathComponent("\(prefix)_\(result.count).pb").path
            guard FileManager.default.fileExists(atPath: path) else { return result }
            result.append(try ONNXLoader.loadTensor(path: path))
        }
    }

    /// Compares the graph outputs of one run with the expected tensors.
    static func mismatch(_ got: [String: Tensor], _ model: Model, _ expected: [Tensor], _ c: ConformanceCase) -> String? {
        guard expected.count == model.outputs.count else {
            return "\(expected.count) expected outputs for \(model.outputs.count) graph outputs"
        }
        for (k, (vi, e)) in zip(model.outputs, expected).enumerated() {
            guard let a = got[vi.name] else { return "output \(k) '\(vi.name)' missing" }
            if let m = tensorMismatch(a, e, rtol: c.rtol, atol: c.atol) { return "output \(k) '\(vi.name)': \(m)" }
        }
        return nil
    }

    static func refusal(_ e: Error) -> Bool {
        guard let g = e as? GPUInferError else { return false }
        switch g {
        case .unsupportedOp, .unsupportedDType: return true
        case let .shapeMismatch(_, _, reason): return reason.contains("unsupported")
        default: return false
        }
    }

    /// Runs one case on both backends.
    static func evaluate(_ c: ConformanceCase, folder: URL, runtime: CLRuntime?) -> ConformanceOutcome {
        if !c.domains.isEmpty { return .outOfScope("domain \(c.domains.joined(separator: ", "))") }
        let outside = c.ops.filter { !scope.contains($0) }
        if !outside.isEmpty { return .outOfScope("ops outside the project: \(outside.joined(separator: ", "))") }
        if let why = c.skipped { return .outOfScope(why) }
        let model: Model
        do { model = try Model(path: folder.appendingPathComponent("model.onnx").path) } catch let e as GPUInferError {
            return isCleanRefusal(e) ? .skip("load: \(e)") : .fail("load: \(e)", refused: false)
        } catch { return .fail("load: \(error)", refused: false) }
        for k in 0..<max(c.data_sets, 1) {
            let dir = folder.appendingPathComponent("test_data_set_\(k)")
            let inputs: [Tensor], expected: [Tensor]
            do {
                inputs = try tensors(in: dir, prefix: "input")
                expected = try tensors(in: dir, prefix: "output")
            } catch let e as GPUInferError {
                if case .unsupportedDType = e { return .skip("test data: \(e)") }
                return .fail("test data \(k): \(e)", refused: false)
            } catch { return .fail("test data \(k): \(error)", refused: false) }
            let names = model.inputs.map(\.name)
            guard inputs.count == names.count else {
                return .fail("data set \(k) has \(inputs.count) inputs, the model takes \(names.count) (\(names))", refused: false)
            }
            let feeds = Dictionary(uniqueKeysWithValues: zip(names, inputs))
            var problems: [String] = []
            var refused = false
            do {
                if let m = mismatch(try ReferenceExecutor().run(model, inputs: feeds), model, expected, c) { problems.append("reference: \(m)") }
            } catch {
                refused = refused || refusal(error)
                problems.append("reference: error: \(error)")
            }
            if let runtime {
                do {
                    let got = try Session(model: model, runtime: runtime).run(feeds)
                    if let m = mismatch(got, model, expected, c) { problems.append("device: \(m)") }
                } catch {
                    refused = refused || refusal(error)
                    problems.append("device: error: \(error)")
                }
            } else {
                problems.append("device: no OpenCL device (install pocl-opencl-icd)")
            }
            if !problems.isEmpty {
                return .fail((c.data_sets > 1 ? "data set \(k): " : "") + problems.joined(separator: "; "), refused: refused)
            }
        }
        return .pass
    }

    /// Identifies the running test binary (its path and modification time).
    static let testBinaryBuild: String = {
        let path = Bundle.main.executablePath ?? CommandLine.arguments[0]
        let date = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? nil
        return "\(path)@\(date?.timeIntervalSince1970 ?? 0)"
    }()

    /// Runs every selected case of `suite`, prints and writes the report, and records an issue per failure.
    static func runSuite(_ suite: String, title: String, reportName: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let folder = GeneratedData.url(suite)
        let indexPath = try GeneratedData.require("\(suite)/cases.json", script: "Tests/Conformance/generate_node_tests.py",
                                                  sourceLocation: sourceLocation)
        let index = try JSONDecoder().decode(ConformanceIndex.self, from: Data(contentsOf: URL(fileURLWithPath: indexPath)))
        let runtime = TestDevice.runtime
        let runningFile = GeneratedData.url("conformance-running-\(suite).txt")
        let crashedFile = GeneratedData.url("conformance-crashed-\(suite).txt")
        // Crash records are tagged with the test binary's build; a rebuilt binary retries them.
        let build = testBinaryBuild
        var crashed = Set(((try? String(contentsOf: crashedFile, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "\t", maxSplits: 1).map(String.init)
            return parts.count == 2 && parts[1] == build ? parts[0] : nil
        })
        if let r = try? String(contentsOf: runningFile, encoding: .utf8) {
            let parts = r.split(separator: "\t", maxSplits: 1).map(String.init)
            if parts.count == 2 && parts[1] == build { crashed.insert(parts[0]) }
        }
        let start = Date()
        var results: [(ConformanceCase, ConformanceOutcome)] = []
        for c in index.cases where selected(c) {
            if crashed.contains(c.name) && filters.isEmpty {
                results.append((c, .fail("crashed the test process in an earlier run of this build (rebuild, or run with GPUINFER_CONFORMANCE_FILTER=\(c.name), to retry)", refused: false)))
                continue
            }
            try? "\(c.name)\t\(build)".write(to: runningFile, atomically: false, encoding: .utf8)
            let outcome = evaluate(c, folder: folder.appendingPathComponent(c.name), runtime: runtime)
            crashed.remove(c.name)
            results.append((c, outcome))
        }
        try? FileManager.default.removeItem(at: runningFile)
        if crashed.isEmpty { try? FileManager.default.removeItem(at: crashedFile) } else {
            try? crashed.sorted().map { "\($0)\t\(build)\n" }.joined().write(to: crashedFile, atomically: true, encoding: .utf8)
        }
        let report = makeReport(title: "\(title) (onnx \(index.onnx_version))", results: results,
                                seconds: Date().timeIntervalSince(start), device: runtime?.device.name ?? "none")
        print(report)
        try? report.write(to: GeneratedData.url(reportName), atomically: true, encoding: .utf8)
        writeResultsJSON(results, to: GeneratedData.url(reportName.replacingOccurrences(of: ".txt", with: ".json")))
        let failures = results.compactMap { c, o -> (String, String)? in
            if case let .fail(m, _) = o { return (c.name, m) }
            return nil
        }
        for (name, message) in failures.prefix(200) {
            Issue.record("\(suite) \(name): \(message)", sourceLocation: sourceLocation)
        }
        if !failures.isEmpty {
            Issue.record("\(suite): \(failures.count) in-scope case(s) fail; see \(GeneratedData.url(reportName).path)", sourceLocation: sourceLocation)
        }
    }

    /// The per-op table, then failures, skips and the out-of-scope ops.
    static func makeReport(title: String, results: [(ConformanceCase, ConformanceOutcome)], seconds: Double, device: String) -> String {
        struct Row { var pass = 0, fail = 0, refused = 0, skip = 0 }
        var rows: [String: Row] = [:]
        var outOfScope: [String: Int] = [:]
        var failures: [String] = [], skips: [String] = []
        for (c, o) in results {
            switch o {
            case .pass: rows[c.group, default: Row()].pass += 1
            case let .fail(m, refused):
                rows[c.group, default: Row()].fail += 1
                if refused { rows[c.group, default: Row()].refused += 1 }
                failures.append("  \(c.name) [\(c.group)]\(refused ? " (refused)" : ""): \(m)")
            case let .skip(m):
                rows[c.group, default: Row()].skip += 1
                skips.append("  \(c.name) [\(c.group)]: \(m)")
            case .outOfScope:
                outOfScope[c.group, default: 0] += 1
            }
        }
        let total = rows.values.reduce(into: Row()) { t, r in t.pass += r.pass; t.fail += r.fail; t.refused += r.refused; t.skip += r.skip }
        let filterNote = filters.isEmpty ? "" : " [filter: \(filters.joined(separator: ","))]"
        var lines = [
            "\(title)\(filterNote): \(results.count) cases, device \(device), \(String(format: "%.1f", seconds)) s",
            "in scope: \(total.pass + total.fail + total.skip)  pass \(total.pass)  fail \(total.fail) (refused at run: \(total.refused))  skip \(total.skip)  out of scope \(outOfScope.values.reduce(0, +))",
            "",
            "op".padding(toLength: 42, withPad: " ", startingAt: 0) + "  pass  fail  (refused)  skip",
        ]
        func cell(_ v: Int, _ w: Int) -> String { String(repeating: " ", count: max(0, w - "\(v)".count)) + "\(v)" }
        for key in rows.keys.sorted() {
            let r = rows[key]!
            lines.append(key.padding(toLength: 42, withPad: " ", startingAt: 0) + "  " + cell(r.pass, 4) + "  " + cell(r.fail, 4)
                         + "  " + cell(r.refused, 9) + "  " + cell(r.skip, 4))
        }
        lines.append("")
        lines.append("failures (\(failures.count)):")
        lines += failures
        lines.append("")
        lines.append("skips: clean refusals at load (\(skips.count)):")
        lines += skips
        lines.append("")
        lines.append("out of scope (\(outOfScope.values.reduce(0, +)) cases): "
                     + outOfScope.keys.sorted().map { "\($0) \(outOfScope[$0]!)" }.joined(separator: ", "))
        return lines.joined(separator: "\n") + "\n"
    }

    /// Machine-readable verdicts: [{name, op, status, message}].
    static func writeResultsJSON(_ results: [(ConformanceCase, ConformanceOutcome)], to url: URL) {
        let items: [[String: String]] = results.map { c, o in
            switch o {
            case .pass: return ["name": c.name, "op": c.group, "status": "pass"]
            case let .fail(m, refused): return ["name": c.name, "op": c.group, "status": refused ? "refused" : "fail", "message": m]
            case let .skip(m): return ["name": c.name, "op": c.group, "status": "skip", "message": m]
            case let .outOfScope(m): return ["name": c.name, "op": c.group, "status": "out-of-scope", "message": m]
            }
        }
        if let data = try? JSONSerialization.data(withJSONObject: items, options: [.prettyPrinted, .sortedKeys]) {
            try? data.write(to: url)
        }
    }
}

@Suite(.serialized) struct ConformanceTests {
    /// Every ONNX node test case whose ops are all in the project's op list.
    @Test func onnxNodeCases() throws {
        try Conformance.runSuite("onnx-node", title: "ONNX node conformance", reportName: "conformance-report.txt")
    }

    /// The small models the onnx wheel ships (pytorch-operator, pytorch-converted, simple).
    @Test(arguments: ["pytorch-operator", "pytorch-converted", "simple"])
    func shippedModelCases(suite: String) throws {
        try Conformance.runSuite(suite, title: "ONNX \(suite) conformance", reportName: "conformance-report-\(suite).txt")
    }
}
