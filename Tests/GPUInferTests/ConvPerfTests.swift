// TEMPORARY timing probe.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct ConvPerfTests {
    @Test func timing() throws {
        var rng = TestRandom(seed: 1)
        let cases: [(String, [String: Any], [Int], [Int])] = [
            ("Conv", ["pads": [1, 1, 1, 1]], [1, 64, 56, 56], [64, 64, 3, 3]),
            ("Conv", [:], [1, 256, 56, 56], [64, 256, 1, 1]),
            ("Conv", ["pads": [3, 3, 3, 3], "strides": [2, 2]], [1, 3, 224, 224], [64, 3, 7, 7]),
            ("Conv", ["pads": [1, 1, 1, 1], "group": 32], [1, 32, 112, 112], [32, 1, 3, 3]),
            ("Gemm", ["transB": 1], [1, 2048], [1000, 2048]),
            ("MaxPool", ["kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]], [1, 64, 112, 112], []),
            ("GlobalAveragePool", [:], [1, 2048, 7, 7], []),
        ]
        for (op, a, xs, ws) in cases {
            let inputs: [Tensor?] = ws.isEmpty ? [rng.tensor(xs)] : [rng.tensor(xs), rng.tensor(ws)]
            let model = try singleNodeModel(op, attributes: attrs(a), inputs: inputs, constant: [1])
            let feeds = ["in0": inputs[0]!]
            var t0 = Date()
            _ = try ReferenceExecutor().run(model, inputs: feeds)
            let ref = Date().timeIntervalSince(t0)
            let session = Session(model: model, runtime: try TestDevice.require())
            _ = try session.run(feeds)
            t0 = Date()
            for _ in 0..<3 { _ = try session.run(feeds) }
            let dev = Date().timeIntervalSince(t0) / 3
            print("PERF \(op) \(xs) \(ws): reference \(String(format: "%.1f", ref * 1000)) ms, device \(String(format: "%.1f", dev * 1000)) ms")
        }
    }
}
