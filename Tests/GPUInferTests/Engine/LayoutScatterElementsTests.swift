// ScatterElements and Scatter: the ONNX documentation examples, duplicate and negative indices
// under every reduction on awkward shapes and every axis (float and int64), NaN under max/min,
// out-of-range indices (typed errors in the reference and at plan time; skipped on the device)
// and attribute checks. Every comparison is exact: the device applies each destination's updates
// in the reference's order with the same fp32 operations.
import Testing
@testable import GPUInfer

@Suite struct LayoutScatterElementsTests {
    static let reductions = ["none", "add", "mul", "max", "min"]

    @Test func documentationExamples() throws {
        let zeros = Tensor(zeros: [3, 3])
        try checkOp("ScatterElements", inputs: [zeros, Tensor(shape: [2, 3], ints: [1, 0, 2, 0, 2, 1]),
                                                Tensor(shape: [2, 3], floats: [1, 1.1, 1.2, 2, 2.1, 2.2])],
                    expected: [Tensor(shape: [3, 3], floats: [2, 1.1, 0, 1, 0, 2.2, 0, 2.1, 1.2])], rtol: 0, atol: 0)
        let row = Tensor(shape: [1, 5], floats: [1, 2, 3, 4, 5]), upd = Tensor(shape: [1, 2], floats: [1.1, 2.1])
        let cases: [(indices: [Int64], reduction: String, expected: [Float])] = [
            ([1, 3], "none", [1, 1.1, 3, 2.1, 5]),
            ([1, -3], "none", [1, 1.1, 2.1, 4, 5]),       // negative indices wrap
            ([1, 1], "none", [1, 2.1, 3, 4, 5]),          // duplicates: the last update wins (onnxruntime)
            ([1, 1], "add", [1, 2 + 1.1 + 2.1, 3, 4, 5]),
            ([1, 1], "mul", [1, 2 * 1.1 * 2.1, 3, 4, 5]),
            ([1, 1], "max", [1, 2.1, 3, 4, 5]),
            ([1, 1], "min", [1, 1.1, 3, 4, 5]),
        ]
        for c in cases {
            try checkOp("ScatterElements", attributes: ["axis": .int(1), "reduction": .string(c.reduction)],
                        inputs: [row, Tensor(shape: [1, 2], ints: c.indices), upd], opset: 18,
                        expected: [Tensor(shape: [1, 5], floats: c.expected)], rtol: 0, atol: 0)
        }
        // The deprecated Scatter (opset 9/10) is ScatterElements without reduction.
        try checkOp("Scatter", attributes: ["axis": .int(1)], inputs: [row, Tensor(shape: [1, 2], ints: [1, 3]), upd], opset: 10,
                    expected: [Tensor(shape: [1, 5], floats: [1, 1.1, 3, 2.1, 5])], rtol: 0, atol: 0)
    }

    /// Indices with many duplicates (7 updates into an axis of 5), a narrower indices shape than
    /// data, every axis and reduction; indices as a graph input and as an initializer.
    @Test func awkwardShapesEveryReduction() throws {
        var rng = TestRandom(seed: 31)
        let data = rng.tensor([4, 5, 6], -2, 2), dataInts = rng.ints([4, 5, 6], -9, 9)
        let shapes: [Int: [Int]] = [0: [9, 3, 5], 1: [3, 7, 4], 2: [4, 5, 11], -1: [1, 2, 13]]
        for (axis, q) in shapes {
            let dim = [4, 5, 6][axis < 0 ? axis + 3 : axis]
            let indices = rng.ints(q, -Int64(dim), Int64(dim) - 1)
            let updates = rng.tensor(q, -2, 2), updateInts = rng.ints(q, -9, 9)
            for reduction in Self.reductions {
                let attributes: [String: Attribute] = ["axis": .int(axis), "reduction": .string(reduction)]
                try checkOp("ScatterElements", attributes: attributes, inputs: [data, indices, updates], opset: 18, rtol: 0, atol: 0)
                try checkOp("ScatterElements", attributes: attributes, inputs: [data, indices, updates], constant: [1], opset: 18, rtol: 0, atol: 0)
                try checkEncodedOp("ScatterElements", attributes: attributes, inputs: [dataInts, indices, updateInts], opset: 18)
            }
        }
    }

    @Test func nanUnderMaxAndMin() throws {
        let data = Tensor(shape: [2, 3], floats: [1, .nan, 3, 4, 5, 6])
        let indices = Tensor(shape: [2, 2], ints: [1, 0, 2, 2]), updates = Tensor(shape: [2, 2], floats: [7, .nan, 0, 9])
        for reduction in ["max", "min"] {
            let out = try checkOp("ScatterElements", attributes: ["axis": .int(1), "reduction": .string(reduction)],
                                  inputs: [data, indices, updates], opset: 18, rtol: 0, atol: 0)[0]
            #expect(out.floats[0].isNaN && out.floats[1].isNaN && !out.floats[5].isNaN)
        }
    }

    @Test func outOfRangeIndices() throws {
        let data = Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        let bad = Tensor(shape: [1, 2], ints: [0, 3]), updates = Tensor(shape: [1, 2], floats: [7, 8])
        // Reference: a typed error naming the node.
        #expect {
            try ReferenceExecutor().run(singleNodeModel("ScatterElements", attributes: ["axis": .int(1)], inputs: [data, bad, updates]),
                                        inputs: ["in0": data, "in1": bad, "in2": updates])
        } throws: { e in
            guard case let GPUInferError.shapeMismatch(node, op, _) = e else { return false }
            return node.contains("node") && op == "ScatterElements"
        }
        // Constant indices: refused when the plan is built.
        let model = try singleNodeModel("ScatterElements", attributes: ["axis": .int(1)], inputs: [data, bad, updates], constant: [1])
        #expect(throws: GPUInferError.self) {
            try Session(model: model, runtime: try TestDevice.require()).run(["in0": data, "in2": updates])
        }
        // Device with indices only known at run time: the bad update is skipped, nothing else moves.
        let op = try #require(try OpRegistry.make(Node(name: "n", opType: "ScatterElements", inputs: ["d", "i", "u"], outputs: ["y"],
                                                       attributes: ["axis": .int(1)]), opset: 18) as? ScatterElements)
        for badIndex: Int64 in [3, -4, 1 << 40] {
            let got = try runEncoded("ScatterElements", inputs: [data, Tensor(shape: [1, 2], ints: [0, badIndex]), updates],
                                     outputs: [TensorType(.float32, [2, 3])]) { ctx, ins, outs in
                try op.encode(ctx, inputs: ins, constants: [nil, nil, nil], outputs: outs)
            }[0]
            assertClose(got, Tensor(shape: [2, 3], floats: [7, 2, 3, 4, 5, 6]), rtol: 0, atol: 0, "out-of-range index \(badIndex) skipped")
        }
    }

    @Test func badAttributesAndShapesAreRejected() throws {
        let data = Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]), ix = Tensor(shape: [1, 2], ints: [0, 1])
        let upd = Tensor(shape: [1, 2], floats: [7, 8])
        #expect(throws: GPUInferError.self) {
            try checkOp("ScatterElements", attributes: ["reduction": .string("mean")], inputs: [data, ix, upd], opset: 18)
        }
        #expect(throws: GPUInferError.self) {  // max arrives at opset 18
            try checkOp("ScatterElements", attributes: ["reduction": .string("max")], inputs: [data, ix, upd], opset: 16)
        }
        #expect(throws: GPUInferError.self) {
            try checkOp("Scatter", attributes: ["reduction": .string("add")], inputs: [data, ix, upd], opset: 10)
        }
        #expect(throws: GPUInferError.self) {  // updates and indices differ in shape
            try checkOp("ScatterElements", inputs: [data, ix, Tensor(shape: [2, 1], floats: [7, 8])])
        }
        #expect(throws: GPUInferError.self) {  // indices wider than data off the axis
            try checkOp("ScatterElements", inputs: [data, Tensor(shape: [1, 4], ints: [0, 0, 0, 0]), Tensor(shape: [1, 4], floats: [1, 2, 3, 4])])
        }
    }
}
