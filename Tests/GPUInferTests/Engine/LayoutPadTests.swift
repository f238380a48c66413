// Pad: hand-computed values (NumPy's np.pad for reflect/edge/wrap) and device vs reference on
// 2×3×5×7 with every mode, negative pads and the axes input. Exact comparisons.
import Testing
@testable import GPUInfer

@Suite struct LayoutPadTests {
    @Test func constantModeHandValues() throws {
        let x = Tensor(shape: [2, 2], floats: [1, 2, 3, 4])
        // pads = [begin0, begin1, end0, end1]
        try checkOp("Pad", inputs: [x, layoutInts([1, 0, 0, 2]), .scalar(Float(9))], constant: [1, 2],
                    expected: [Tensor(shape: [3, 4], floats: [9, 9, 9, 9, 1, 2, 9, 9, 3, 4, 9, 9])], rtol: 0, atol: 0)
        // constant_value as a graph input: read on the device.
        try checkOp("Pad", inputs: [x, layoutInts([0, 1, 1, 0]), .scalar(Float(-3))], constant: [1],
                    expected: [Tensor(shape: [3, 3], floats: [-3, 1, 2, -3, 3, 4, -3, -3, -3])], rtol: 0, atol: 0)
        // Default value 0, negative pads crop.
        try checkOp("Pad", inputs: [layoutIota([3, 4]), layoutInts([-1, 1, 0, -2])], constant: [1],
                    expected: [Tensor(shape: [2, 3], floats: [0, 4, 5, 0, 8, 9])], rtol: 0, atol: 0)
        // Opset 2: pads and value as attributes.
        try checkOp("Pad", attributes: ["pads": .ints([0, 1, 0, 1]), "value": .float(-1)], inputs: [x], opset: 2,
                    expected: [Tensor(shape: [2, 4], floats: [-1, 1, 2, -1, -1, 3, 4, -1])], rtol: 0, atol: 0)
        // Opset 18 axes input (negative axis); int64 data.
        try checkOp("Pad", inputs: [Tensor(shape: [2, 2], ints: [1, 2, 3, 4]), layoutInts([1, 0]), .scalar(Int64(7)), layoutInts([-1])],
                    constant: [1, 2, 3], opset: 18, expected: [Tensor(shape: [2, 3], ints: [7, 1, 2, 7, 3, 4])])
    }

    @Test func reflectEdgeWrapHandValues() throws {
        let x = Tensor(shape: [4], floats: [1, 2, 3, 4])
        let cases: [(String, [Float])] = [("reflect", [4, 3, 2, 1, 2, 3, 4, 3, 2, 1, 2, 3]), ("edge", [1, 1, 1, 1, 2, 3, 4, 4, 4, 4, 4, 4]),
                                          ("wrap", [2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1])]
        for (mode, expected) in cases {
            try checkOp("Pad", attributes: ["mode": .string(mode)], inputs: [x, layoutInts([3, 5])], constant: [1], opset: 19,
                        expected: [Tensor(shape: [12], floats: expected)], rtol: 0, atol: 0)
        }
        // Reflection wider than the input repeats (np.pad semantics).
        try checkOp("Pad", attributes: ["mode": .string("reflect")], inputs: [Tensor(shape: [3], floats: [1, 2, 3]), layoutInts([5, 6])],
                    constant: [1], expected: [Tensor(shape: [14], floats: [2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3, 2, 1])], rtol: 0, atol: 0)
        #expect(throws: GPUInferError.self) { try singleNodeModel("Pad", attributes: ["mode": .string("wrap")], inputs: [x, layoutInts([1, 1])], constant: [1], opset: 18) }
    }

    @Test func allModesOn2x3x5x7() throws {
        var rng = TestRandom(seed: 31)
        let x = rng.tensor([2, 3, 5, 7])
        let pads: [[Int64]] = [[0, 1, 2, 3, 1, 0, 4, 2], [1, -1, 3, -2, 0, 2, -1, 6], [0, 0, 1, 1, 0, 0, 1, 1]]
        for mode in ["constant", "reflect", "edge", "wrap"] {
            for p in pads {
                try checkOp("Pad", attributes: ["mode": .string(mode)], inputs: [x, layoutInts(p), .scalar(Float(0.5))], constant: [1, 2],
                            opset: 19, rtol: 0, atol: 0)
            }
        }
        // Rank 1 and 5, axes subset.
        try checkOp("Pad", attributes: ["mode": .string("reflect")], inputs: [rng.tensor([67]), layoutInts([9, 66])], constant: [1], rtol: 0, atol: 0)
        try checkOp("Pad", attributes: ["mode": .string("edge")], inputs: [rng.tensor([2, 1, 3, 4, 5]), layoutInts([2, 1, 3, 0]), nil, layoutInts([1, -1])],
                    constant: [1, 3], opset: 18, rtol: 0, atol: 0)
    }
}
