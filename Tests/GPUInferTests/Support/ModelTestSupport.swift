// Helpers for model-level tests: locating the generated test data, loading .npy/.pb files, and
// comparing whole tensors (element-wise tolerance, max-abs and cosine similarity).
import Foundation
import Testing
@testable import GPUInfer

/// Files written by the Python generators under Tests/data/generated/ (gitignored).
enum GeneratedData {
    /// Tests/data/generated, found from this source file's location.
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("data/generated")

    static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    /// The path of a generated file or folder; records a failure naming the script that writes it
    /// and throws when it is missing.
    static func require(_ relative: String, script: String,
                        sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let path = url(relative).path
        guard FileManager.default.fileExists(atPath: path) else {
            Issue.record("""
                missing generated test data \(path): run `bash Tests/generate-test-data.sh` \
                (or `.venv/bin/python \(script)`) first
                """, sourceLocation: sourceLocation)
            throw GPUInferError.io(path: path, reason: "missing generated test data (run \(script))")
        }
        return path
    }
}

/// How far a tensor is from a reference.
struct TensorDiff: CustomStringConvertible {
    var maxAbs: Double = 0
    var worstIndex = -1
    var cosine: Double = 1
    var description: String {
        "max |a−b| \(String(format: "%.3g", maxAbs)) at \(worstIndex), cosine \(String(format: "%.8f", cosine))"
    }

    /// Compares float tensors of the same shape (NaN anywhere gives an infinite max-abs).
    init(_ a: Tensor, _ b: Tensor) {
        let x = a.floatValues, y = b.floatValues
        var dot = 0.0, nx = 0.0, ny = 0.0
        for i in 0..<min(x.count, y.count) {
            let u = Double(x[i]), v = Double(y[i])
            let d = u.isNaN || v.isNaN ? .infinity : abs(u - v)
            if d > maxAbs || worstIndex < 0 { maxAbs = d; worstIndex = i }
            dot += u * v; nx += u * u; ny += v * v
        }
        cosine = nx == 0 && ny == 0 ? 1 : dot / (nx.squareRoot() * ny.squareRoot())
    }
}

/// The first element-wise mismatch of `actual` against `expected` (ONNX backend-test rules:
/// floats |a−b| ≤ atol + rtol·|b|, NaN positions equal, infinities equal; integers and bools
/// exactly; dtype and shape equal), or nil when they match.
func tensorMismatch(_ actual: Tensor, _ expected: Tensor, rtol: Double, atol: Double) -> String? {
    guard actual.dtype == expected.dtype else { return "dtype \(actual.dtype), expected \(expected.dtype)" }
    guard actual.shape == expected.shape else { return "shape \(actual.shape), expected \(expected.shape)" }
    if !expected.dtype.isFloat {
        guard let i = (0..<expected.count).first(where: { actual.ints[$0] != expected.ints[$0] }) else { return nil }
        let bad = (0..<expected.count).filter { actual.ints[$0] != expected.ints[$0] }.count
        return "element \(i) of \(expected.count): \(actual.ints[i]), expected \(expected.ints[i]) (\(bad) differ)"
    }
    var first = -1
    var bad = 0
    for i in 0..<expected.count {
        let a = Double(actual.floats[i]), b = Double(expected.floats[i])
        let ok = a.isNaN || b.isNaN ? a.isNaN == b.isNaN : (a == b || abs(a - b) <= atol + rtol * abs(b))
        if !ok {
            bad += 1
            if first < 0 { first = i }
        }
    }
    guard first >= 0 else { return nil }
    return "element \(first) of \(expected.count): \(actual.floats[first]), expected \(expected.floats[first]) "
        + "(\(bad) outside rtol \(rtol), atol \(atol))"
}

/// Checks a model output against a reference: same shape, max |a−b| ≤ `maxAbs` and cosine
/// similarity ≥ `minCosine`.
func checkOutput(_ actual: Tensor?, _ expected: Tensor, maxAbs: Double, minCosine: Double = 0.9999, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    guard let actual else {
        Issue.record("\(what): no output", sourceLocation: sourceLocation)
        return
    }
    guard actual.shape == expected.shape, actual.dtype == expected.dtype else {
        Issue.record("\(what): \(actual.dtype)\(actual.shape), expected \(expected.dtype)\(expected.shape)", sourceLocation: sourceLocation)
        return
    }
    let diff = TensorDiff(actual, expected)
    #expect(diff.maxAbs <= maxAbs && diff.cosine >= minCosine,
            "\(what): \(diff) (bounds: max abs \(maxAbs), cosine \(minCosine))", sourceLocation: sourceLocation)
}

/// Runs `body` and checks that it throws a `GPUInferError` accepted by `matches` whose message
/// contains every string in `mentions`. Returns the error.
@discardableResult
func expectGPUInferError(_ what: String, mentions: [String] = [], sourceLocation: SourceLocation = #_sourceLocation,
                         _ matches: (GPUInferError) -> Bool, _ body: () throws -> Void) -> GPUInferError? {
    do {
        try body()
        Issue.record("\(what): no error was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let e as GPUInferError {
        #expect(matches(e), "\(what): wrong error case: \(e)", sourceLocation: sourceLocation)
        for m in mentions {
            #expect(e.description.contains(m), "\(what): message does not mention '\(m)': \(e)", sourceLocation: sourceLocation)
        }
        return e
    } catch {
        Issue.record("\(what): threw a non-GPUInferError: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
