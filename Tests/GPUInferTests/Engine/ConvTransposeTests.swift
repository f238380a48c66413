// ConvTranspose: hand-computed references and device vs reference (see sumTolerance in ConvTests).
import Testing
@testable import GPUInfer

@Suite struct ConvTransposeTests {
    let x = Tensor(shape: [1, 1, 2, 2], floats: [1, 2, 3, 4]), ones = Tensor(shape: [1, 1, 2, 2], floats: [1, 1, 1, 1])

    /// Device vs reference on random data; each output sums at most C/group · ∏kernel products.
    @discardableResult
    func convT(_ x: [Int], _ w: [Int], bias: Bool = true, _ a: [String: Any] = [:], seed: UInt64 = 1,
               sourceLocation: SourceLocation = #_sourceLocation) throws -> Tensor {
        var rng = TestRandom(seed: seed)
        let group = a["group"] as? Int ?? 1
        let tol = sumTolerance(x[1] / group * w.dropFirst(2).reduce(1, *))
        let inputs: [Tensor?] = [rng.tensor(x), rng.tensor(w)] + (bias ? [rng.tensor([w[1] * group])] : [])
        return try checkOp("ConvTranspose", attributes: attrs(a), inputs: inputs, constant: [1, 2], rtol: tol, atol: tol,
                           sourceLocation: sourceLocation)[0]
    }

    @Test func handComputed() throws {
        // Stride 1: each input pixel spreads over a 2×2 block; overlaps add.
        try checkOp("ConvTranspose", inputs: [x, ones], constant: [1],
                    expected: [Tensor(shape: [1, 1, 3, 3], floats: [1, 3, 2, 4, 10, 6, 3, 7, 4])], rtol: 0, atol: 0)
        // Stride 2: disjoint blocks; pads 1 crop one row/column on each side; output_padding adds one at the end.
        try checkOp("ConvTranspose", attributes: attrs(["strides": [2, 2]]), inputs: [x, ones], constant: [1],
                    expected: [Tensor(shape: [1, 1, 4, 4], floats: [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])], rtol: 0, atol: 0)
        try checkOp("ConvTranspose", attributes: attrs(["strides": [2, 2], "pads": [1, 1, 1, 1]]), inputs: [x, ones], constant: [1],
                    expected: [Tensor(shape: [1, 1, 2, 2], floats: [1, 2, 3, 4])], rtol: 0, atol: 0)
        try checkOp("ConvTranspose", attributes: attrs(["strides": [2, 2], "pads": [1, 1, 0, 0], "output_padding": [1, 1]]),
                    inputs: [x, ones, Tensor(shape: [1], floats: [0.5])], constant: [1, 2],
                    expected: [Tensor(shape: [1, 1, 4, 4], floats: [1.5, 2.5, 2.5, 0.5, 3.5, 4.5, 4.5, 0.5, 3.5, 4.5, 4.5, 0.5, 0.5, 0.5, 0.5, 0.5])],
                    rtol: 0, atol: 0)
    }

    @Test func handComputed1DOutputShapeAndAutoPad() throws {
        // Stride 2, kernel [1, 1, 1] on [1, 2, 3]: full output [1, 1, 3, 2, 5, 3, 3] (length 7).
        let x = Tensor(shape: [1, 1, 3], floats: [1, 2, 3]), w = Tensor(shape: [1, 1, 3], floats: [1, 1, 1])
        try checkOp("ConvTranspose", attributes: attrs(["strides": [2]]), inputs: [x, w], constant: [1],
                    expected: [Tensor(shape: [1, 1, 7], floats: [1, 1, 3, 2, 5, 3, 3])], rtol: 0, atol: 0)
        // Length 6 needs total padding 1: SAME_UPPER drops the last element, SAME_LOWER and output_shape the first.
        try checkOp("ConvTranspose", attributes: attrs(["strides": [2], "auto_pad": "SAME_UPPER"]), inputs: [x, w], constant: [1],
                    expected: [Tensor(shape: [1, 1, 6], floats: [1, 1, 3, 2, 5, 3])], rtol: 0, atol: 0)
        try checkOp("ConvTranspose", attributes: attrs(["strides": [2], "auto_pad": "SAME_LOWER"]), inputs: [x, w], constant: [1],
                    expected: [Tensor(shape: [1, 1, 6], floats: [1, 3, 2, 5, 3, 3])], rtol: 0, atol: 0)
        try checkOp("ConvTranspose", attributes: attrs(["strides": [2], "output_shape": [6]]), inputs: [x, w], constant: [1],
                    expected: [Tensor(shape: [1, 1, 6], floats: [1, 3, 2, 5, 3, 3])], rtol: 0, atol: 0)
        // group 2 with dilation 2: channel g convolves channel g only.
        try checkOp("ConvTranspose", attributes: attrs(["group": 2, "dilations": [2]]),
                    inputs: [Tensor(shape: [1, 2, 2], floats: [1, 2, 10, 20]), Tensor(shape: [2, 1, 2], floats: [1, -1, 1, 1])], constant: [1],
                    expected: [Tensor(shape: [1, 2, 4], floats: [1, 2, -1, -2, 10, 20, 10, 20])], rtol: 0, atol: 0)
    }

    @Test func deviceVsReference() throws {
        #expect(try convT([2, 3, 7, 9], [3, 5, 3, 3], ["strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]]).shape == [2, 5, 14, 18])
        try convT([1, 4, 5, 6], [4, 3, 3, 3], ["group": 2], seed: 2)                                   // Cout 6, Mg 3
        try convT([1, 5, 6, 7], [5, 1, 4, 4], ["group": 5, "strides": [2, 2], "pads": [1, 1, 1, 1]], seed: 3)  // depthwise
        try convT([1, 3, 5, 7], [3, 9, 3, 2], bias: false, ["dilations": [2, 3], "strides": [3, 2], "pads": [0, 2, 1, 1]], seed: 4)
        try convT([2, 6, 13], [6, 7, 5], ["strides": [3], "pads": [2, 1], "output_padding": [2]], seed: 5)  // 1-D
        try convT([1, 64, 4, 4], [64, 8, 4, 4], ["strides": [2, 2], "pads": [1, 1, 1, 1]], seed: 6)         // K = 1024
        for mode in ["SAME_UPPER", "SAME_LOWER", "VALID"] {
            for size in [[6, 6], [5, 7]] {
                for (k, s) in [(3, 2), (4, 2), (3, 1)] {
                    let y = try convT([1, 3] + size, [3, 4, k, k], ["auto_pad": mode, "strides": [s, s]], seed: 7)
                    if mode != "VALID" { #expect(y.shape == [1, 4] + size.map { $0 * s }) }
                }
            }
        }
        #expect(try convT([1, 3, 5, 5], [3, 4, 3, 3], ["strides": [2, 2], "output_shape": [1, 4, 10, 12]], seed: 8).shape == [1, 4, 10, 12])
        try convT([1, 3, 5, 5], [3, 4, 3, 3], ["strides": [2, 2], "output_shape": [9, 10], "auto_pad": "SAME_UPPER"], seed: 9)
    }
}
