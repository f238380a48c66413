// MaxPool / AveragePool / global pools: hand-computed references and device vs reference.
import Testing
@testable import GPUInfer

@Suite struct PoolTests {
    let seq16 = Tensor(shape: [1, 1, 4, 4], floats: (1...16).map(Float.init))

    /// Device vs reference on random data. Max is exact; averages add ≤ 49 terms in the same
    /// order on both sides (no multiply to fuse) and divide once, so they match to a few ulps.
    @discardableResult
    func pool(_ op: String, _ x: [Int], _ a: [String: Any], opset: Int = 17, outputs: Int = 1, seed: UInt64 = 1,
              sourceLocation: SourceLocation = #_sourceLocation) throws -> [Tensor] {
        var rng = TestRandom(seed: seed)
        return try checkOp(op, attributes: attrs(a), inputs: [rng.tensor(x)], outputs: outputs, opset: opset,
                           rtol: op == "MaxPool" ? 0 : 1e-6, atol: op == "MaxPool" ? 0 : 1e-7, sourceLocation: sourceLocation)
    }

    @Test func maxPoolHandComputed() throws {
        try checkOp("MaxPool", attributes: attrs(["kernel_shape": [2, 2], "strides": [2, 2]]), inputs: [seq16], outputs: 2,
                    expected: [Tensor(shape: [1, 1, 2, 2], floats: [6, 8, 14, 16]), Tensor(shape: [1, 1, 2, 2], ints: [5, 7, 13, 15])], rtol: 0, atol: 0)
        // storage_order 1: index = w·H + h.
        try checkOp("MaxPool", attributes: attrs(["kernel_shape": [2, 2], "strides": [2, 2], "storage_order": 1]), inputs: [seq16], outputs: 2,
                    expected: [Tensor(shape: [1, 1, 2, 2], floats: [6, 8, 14, 16]), Tensor(shape: [1, 1, 2, 2], ints: [5, 13, 7, 15])], rtol: 0, atol: 0)
        // ceil_mode: 5 → 3 windows, the last one over row/column 4 only.
        try checkOp("MaxPool", attributes: attrs(["kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1]),
                    inputs: [Tensor(shape: [1, 1, 5, 5], floats: (1...25).map(Float.init))],
                    expected: [Tensor(shape: [1, 1, 3, 3], floats: [7, 9, 10, 17, 19, 20, 22, 24, 25])], rtol: 0, atol: 0)
        // ceil_mode: a window that would start in the right padding is dropped (3 → 2, not 3).
        try checkOp("MaxPool", attributes: attrs(["kernel_shape": [2], "strides": [2], "pads": [1, 1], "ceil_mode": 1]),
                    inputs: [Tensor(shape: [1, 1, 3], floats: [1, 2, 3])], expected: [Tensor(shape: [1, 1, 2], floats: [1, 3])], rtol: 0, atol: 0)
        // NaN propagates; padding never wins even against −∞ inputs.
        try checkOp("MaxPool", attributes: attrs(["kernel_shape": [2], "pads": [1, 0]]),
                    inputs: [Tensor(shape: [1, 1, 4], floats: [-.infinity, 1, .nan, 0])],
                    expected: [Tensor(shape: [1, 1, 4], floats: [-.infinity, 1, .nan, .nan])], rtol: 0, atol: 0)
    }

    @Test func averagePoolHandComputed() throws {
        let x = Tensor(shape: [1, 1, 3], floats: [1, 2, 3])
        let base: [String: Any] = ["kernel_shape": [2], "pads": [1, 1]]
        try checkOp("AveragePool", attributes: attrs(base), inputs: [x],
                    expected: [Tensor(shape: [1, 1, 4], floats: [1, 1.5, 2.5, 3])], rtol: 0, atol: 0)
        try checkOp("AveragePool", attributes: attrs(base.merging(["count_include_pad": 1]) { $1 }), inputs: [x],
                    expected: [Tensor(shape: [1, 1, 4], floats: [0.5, 1.5, 2.5, 1.5])], rtol: 0, atol: 0)
        // ceil_mode: windows start at −1, 1, 3; the last covers 3, 4 (right pad) and 5 (overhang, never counted).
        let x4 = Tensor(shape: [1, 1, 4], floats: [1, 2, 3, 4])
        let ceil: [String: Any] = ["kernel_shape": [3], "strides": [2], "pads": [1, 1], "ceil_mode": 1]
        try checkOp("AveragePool", attributes: attrs(ceil.merging(["count_include_pad": 1]) { $1 }), inputs: [x4],
                    expected: [Tensor(shape: [1, 1, 3], floats: [1, 3, 2])], rtol: 0, atol: 0)
        try checkOp("AveragePool", attributes: attrs(ceil), inputs: [x4],
                    expected: [Tensor(shape: [1, 1, 3], floats: [1.5, 3, 4])], rtol: 0, atol: 0)
        // dilations (opset 19): windows {0, 2}, {1, 3}, {2, 4}.
        try checkOp("AveragePool", attributes: attrs(["kernel_shape": [2], "dilations": [2]]), inputs: [Tensor(shape: [1, 1, 5], floats: [1, 2, 3, 4, 5])],
                    opset: 19, expected: [Tensor(shape: [1, 1, 3], floats: [2, 3, 4])], rtol: 0, atol: 0)
        // 2-D SAME_UPPER, 4×4 input, kernel 3, stride 2: pads 0 before, 1 after.
        try checkOp("AveragePool", attributes: attrs(["kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"]), inputs: [seq16],
                    expected: [Tensor(shape: [1, 1, 2, 2], floats: [6, 7.5, 12, 13.5])], rtol: 0, atol: 0)
    }

    @Test func globalPoolsHandComputed() throws {
        let x = Tensor(shape: [1, 2, 2, 2], floats: [1, 2, 3, 4, 5, 6, 7, 8])
        try checkOp("GlobalAveragePool", inputs: [x], expected: [Tensor(shape: [1, 2, 1, 1], floats: [2.5, 6.5])], rtol: 0, atol: 0)
        try checkOp("GlobalMaxPool", inputs: [x], expected: [Tensor(shape: [1, 2, 1, 1], floats: [4, 8])], rtol: 0, atol: 0)
    }

    @Test func maxPoolDeviceVsReference() throws {
        try pool("MaxPool", [2, 5, 13, 17], ["kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]], outputs: 2)
        try pool("MaxPool", [1, 3, 13, 17], ["kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1], seed: 2)
        try pool("MaxPool", [1, 3, 14, 15], ["kernel_shape": [2, 3], "strides": [2, 3], "pads": [0, 1, 1, 2], "ceil_mode": 1], outputs: 2, seed: 3)
        try pool("MaxPool", [2, 3, 13, 17], ["kernel_shape": [3, 3], "dilations": [2, 2], "storage_order": 1], outputs: 2, seed: 4)
        try pool("MaxPool", [2, 7, 31], ["kernel_shape": [4], "strides": [3], "pads": [2, 1]], outputs: 2, seed: 5)
        // Without Indices (the CPU kernel's float8 column tiles on non-GPU devices), awkward widths.
        try pool("MaxPool", [2, 5, 19, 35], ["kernel_shape": [3, 3], "pads": [1, 1, 1, 1]], seed: 8)
        try pool("MaxPool", [1, 3, 21, 47], ["kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1], seed: 9)
        try pool("MaxPool", [1, 3, 20, 45], ["kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1], seed: 10)
        try pool("MaxPool", [2, 3, 31], ["kernel_shape": [3], "strides": [3], "pads": [1, 1]], seed: 11)
        for mode in ["SAME_UPPER", "SAME_LOWER", "VALID"] {
            for size in [[12, 12], [13, 11]] {
                try pool("MaxPool", [1, 3] + size, ["kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": mode], seed: 6)
                try pool("MaxPool", [1, 3] + size, ["kernel_shape": [2, 2], "strides": [2, 2], "auto_pad": mode], seed: 7)
            }
        }
    }

    @Test func averagePoolDeviceVsReference() throws {
        for include in [0, 1] {
            try pool("AveragePool", [2, 5, 13, 17], ["kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": include])
            try pool("AveragePool", [1, 3, 13, 17], ["kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 1, 2], "ceil_mode": 1, "count_include_pad": include], seed: 2)
            try pool("AveragePool", [2, 3, 13, 17], ["kernel_shape": [3, 2], "dilations": [2, 3], "pads": [2, 1, 0, 3], "count_include_pad": include], opset: 19, seed: 3)
            try pool("AveragePool", [2, 7, 31], ["kernel_shape": [4], "strides": [3], "pads": [2, 1], "ceil_mode": 1, "count_include_pad": include], seed: 4)
            for mode in ["SAME_UPPER", "SAME_LOWER", "VALID"] {
                for size in [[12, 12], [13, 11]] {
                    try pool("AveragePool", [1, 3] + size, ["kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": mode, "count_include_pad": include], seed: 5)
                }
            }
            try pool("AveragePool", [1, 64, 7, 7], ["kernel_shape": [7, 7], "count_include_pad": include], seed: 6)
            // The CPU kernel's float8 column tiles: widths with interior and border tiles, not
            // multiples of 8 (Inception's 3×3 stride 1 pad 1; 2×2 and 3×3 stride 2 with ceil_mode).
            try pool("AveragePool", [2, 5, 19, 35], ["kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": include], seed: 7)
            try pool("AveragePool", [1, 3, 20, 45], ["kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1, "count_include_pad": include], seed: 8)
            try pool("AveragePool", [1, 3, 21, 47], ["kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 1, 1, 0], "ceil_mode": 1, "count_include_pad": include], seed: 9)
        }
    }

    @Test func globalPoolsDeviceVsReference() throws {
        for op in ["GlobalAveragePool", "GlobalMaxPool"] {
            // Averages of up to 221 values: same order on both sides, one division.
            var rng = TestRandom(seed: 3)
            for shape in [[2, 5, 13, 17], [3, 7, 9], [1, 3, 2, 3, 5], [1, 65, 1, 1]] {
                try checkOp(op, inputs: [rng.tensor(shape)], rtol: 1e-6, atol: 1e-7)
            }
        }
    }

    @Test func rejectsUnsupported() throws {
        var rng = TestRandom(seed: 1)
        #expect { try singleNodeModel("MaxPool", attributes: attrs(["kernel_shape": [2, 2, 2]]), inputs: [rng.tensor([1, 1, 4, 4, 4])]) }
            throws: { e in if case .unsupportedOp = e as? GPUInferError { true } else { false } }
        #expect(throws: GPUInferError.self) { try singleNodeModel("AveragePool", inputs: [rng.tensor([1, 1, 4, 4])]) }  // no kernel_shape
    }

    @Test func maxPoolOnUInt8() throws {
        // x (float) → Cast(uint8) → MaxPool 3×3/2 pad 1 → Cast(float): the device runs the long kernel.
        var rng = TestRandom(seed: 77)
        let x = Tensor(shape: [2, 3, 9, 11], floats: (0..<(2 * 3 * 9 * 11)).map { _ in Float(Int(rng.float(0, 256))) })
        let nodes = [
            Node(name: "c1", opType: "Cast", inputs: ["x"], outputs: ["u"], attributes: ["to": .int(DType.uint8.rawValue)]),
            Node(name: "p", opType: "MaxPool", inputs: ["u"], outputs: ["m"],
                 attributes: ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
            Node(name: "c2", opType: "Cast", inputs: ["m"], outputs: ["y"], attributes: ["to": .int(DType.float32.rawValue)]),
        ]
        let model = try Model(graph: Graph(nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, dims: x.shape)],
                                           outputs: [ValueInfo(name: "y", dtype: nil, dims: nil)], initializers: [:], opset: 17))
        let reference = try ReferenceExecutor().run(model, inputs: ["x": x])["y"]!
        #expect(reference.shape == [2, 3, 5, 6])
        // First window of plane 0: rows 0...1, columns 0...1 (the rest is padding).
        #expect(reference.floats[0] == [x.floats[0], x.floats[1], x.floats[11], x.floats[12]].max())
        let device = try Session(model: model, runtime: try TestDevice.require()).run(["x": x])["y"]!
        assertClose(device, reference, rtol: 0, atol: 0, "uint8 MaxPool")
    }
}
