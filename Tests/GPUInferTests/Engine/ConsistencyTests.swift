// The op ↔ kernel ↔ test bookkeeping that a new op or kernel must keep straight: every registered
// op has a test that names it; every kernel name the Swift sources use exists in Kernels/ and
// every Kernels/*.cl file builds on the test device; every kernel in Kernels/ is used.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct ConsistencyTests {
    /// The text of every .swift file under `folder` (relative to the repository root).
    static func swiftText(_ folder: String) throws -> String {
        let root = repoRoot.appendingPathComponent(folder).path
        let files = FileManager.default.enumerator(atPath: root)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }
        return try files.sorted().map { try String(contentsOfFile: root + "/" + $0, encoding: .utf8) }.joined(separator: "\n")
    }

    /// `__kernel void NAME(` per Kernels/<file>.cl (common.cl has helpers only). Kernels a macro
    /// defines (`NAME##_c`, `reduce_##NAME##_float` in elementwise.cl, reduce.cl, argmax.cl,
    /// pool.cl) are not listed: their names come from tables in Swift and the ops' own tests
    /// launch every row of those tables on the device.
    static func kernels() throws -> [String: [String]] {
        let dir = repoRoot.appendingPathComponent("Kernels").path
        var result: [String: [String]] = [:]
        for f in try FileManager.default.contentsOfDirectory(atPath: dir) where f.hasSuffix(".cl") {
            let text = try String(contentsOfFile: dir + "/" + f, encoding: .utf8)
            // `__kernel void NAME(` or `__kernel __attribute__((…)) void NAME(` (work-group size attributes).
            let pattern = try NSRegularExpression(pattern: #"__kernel\s+(?:__attribute__\(\(.*?\)\)\s*)?void\s+([A-Za-z0-9_#]+)\s*\("#)
            let names = pattern.matches(in: text, range: NSRange(text.startIndex..., in: text))
                .map { String(text[Range($0.range(at: 1), in: text)!]) }.filter { !$0.contains("#") && $0 != "NAME" }
            result[String(f.dropLast(3))] = names
        }
        return result
    }

    @Test func everyRegisteredOpHasATest() throws {
        let tests = try Self.swiftText("Tests/GPUInferTests")
        let conformance = try String(contentsOfFile: repoRoot.appendingPathComponent("Tests/Conformance/generate_node_tests.py").path, encoding: .utf8)
        var missing: [String] = []
        for type in OpRegistry.types {
            for name in type.opTypes where !tests.contains("\"\(name)\"") && !conformance.contains("\"\(name)\"") {
                missing.append(type.domain.isEmpty ? name : "\(type.domain)::\(name)")
            }
        }
        #expect(missing.isEmpty, "registered ops no test names: \(missing)")
    }

    @Test func everyKernelNameUsedExistsAndEveryFileBuilds() throws {
        let kernels = try Self.kernels()
        let sources = try Self.swiftText("Sources")
        // kernel("NAME", file: "FILE" …) with literal names.
        let pattern = try NSRegularExpression(pattern: #"kernel\(\s*"([a-z0-9_]+)",\s*file:\s*"([a-z0-9_]+)""#)
        let matches = pattern.matches(in: sources, range: NSRange(sources.startIndex..., in: sources))
        #expect(matches.count > 30)
        for m in matches {
            let name = String(sources[Range(m.range(at: 1), in: sources)!]), file = String(sources[Range(m.range(at: 2), in: sources)!])
            #expect(kernels[file]?.contains(name) == true, "kernel \(name) is not defined in Kernels/\(file).cl")
        }
        // Every file compiles on the test device: with its own defaults (kernels parameterised by
        // -D defines carry #ifndef defaults), or, for the files generic over the element type, with T = float.
        let runtime = try TestDevice.require()
        for (file, names) in kernels where file != "common" {
            guard let name = names.first else { continue }
            if (try? runtime.kernel(name, file: file).materialize()) != nil { continue }
            #expect(throws: Never.self, "Kernels/\(file).cl") { try runtime.kernel(name, file: file, options: "-DT=float").materialize() }
        }
    }

    @Test func everyKernelIsUsed() throws {
        let kernels = try Self.kernels()
        let sources = try Self.swiftText("Sources")
        // Names Swift builds at run time, each with the source text that builds it.
        let built = ["softmax_float": "_float\", file: \"softmax\"", "log_softmax_float": "_float\", file: \"softmax\"",
                     "hardmax_float": "_float\", file: \"softmax\""]
        var unused: [String] = []
        for (file, names) in kernels {
            for name in names where !sources.contains("\"\(name)\"") {
                if let how = built[name], sources.contains(how) { continue }
                unused.append("\(file).cl: \(name)")
            }
        }
        #expect(unused.isEmpty, "kernels no Swift code launches: \(unused.sorted())")
    }
}
