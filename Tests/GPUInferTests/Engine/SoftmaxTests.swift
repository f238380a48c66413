// Softmax, LogSoftmax and Hardmax: hand-computed values, opset 11 (2-D coercion) vs 13 (one
// axis), stability with large inputs, and device vs reference over every axis of [2,3,65].
import Foundation
import Testing
@testable import GPUInfer

@Suite struct SoftmaxTests {
    /// Tolerance for rows of `len` elements: each output involves one exp/log (≤ 4 ulp ≈ 5e-7
    /// relative) and a fp32 sum of `len` terms in (0, 1] (≤ len·2⁻²⁴ relative, ≈ len·6e-8).
    /// Softmax is relative to the output; LogSoftmax's error is absolute (log of the sum).
    func tolerance(_ op: String, _ len: Int) -> (rtol: Float, atol: Float) {
        let t = Float(len) * 6e-8 + 1e-6
        switch op {
        case "Hardmax": return (0, 0)
        case "LogSoftmax": return (1e-6, t)
        default: return (t, 1e-7)
        }
    }

    @Test func handComputedRows() throws {
        let x = Tensor(shape: [2, 3], floats: [1, 2, 3, 1000, 1000, -Float.infinity])
        try checkOp("Softmax", inputs: [x], opset: 13,
                    expected: [Tensor(shape: [2, 3], floats: [0.09003057, 0.24472847, 0.66524096, 0.5, 0.5, 0])])
        try checkOp("LogSoftmax", inputs: [x], opset: 13,
                    expected: [Tensor(shape: [2, 3], floats: [-2.40760596, -1.40760596, -0.40760596, -0.69314718, -0.69314718, -.infinity])])
        // Hardmax marks the first maximum only.
        let ties = Tensor(shape: [2, 3], floats: [3, 1, 3, -1, 5, 5])
        try checkOp("Hardmax", inputs: [ties], opset: 13, expected: [Tensor(shape: [2, 3], floats: [1, 0, 0, 0, 1, 0])], rtol: 0, atol: 0)
    }

    @Test func opset11CoercesTo2DButOpset13UsesOneAxis() throws {
        let x = Tensor(shape: [2, 2, 2], floats: [1, 2, 3, 4, 5, 6, 7, 8])
        // Opset 11, default axis 1: rows [1,2,3,4] and [5,6,7,8] are normalised as a whole.
        let row4: [Float] = [0.0320586, 0.08714432, 0.23688282, 0.64391426]
        try checkOp("Softmax", inputs: [x], opset: 11, expected: [Tensor(shape: [2, 2, 2], floats: row4 + row4)])
        // Opset 13, default axis −1: pairs [1,2], [3,4], ….
        let pair: [Float] = [0.26894142, 0.73105858]
        try checkOp("Softmax", inputs: [x], opset: 13, expected: [Tensor(shape: [2, 2, 2], floats: Array([[Float]](repeating: pair, count: 4).joined()))])
        // Opset 13, axis 1: pairs (1,3), (2,4), … along the middle axis.
        let (lo, hi): (Float, Float) = (0.11920292, 0.88079708)
        try checkOp("Softmax", attributes: ["axis": .int(1)], inputs: [x], opset: 13,
                    expected: [Tensor(shape: [2, 2, 2], floats: [lo, lo, hi, hi, lo, lo, hi, hi])])
        // Hardmax, opset 11: one 1 per coerced row of 4.
        try checkOp("Hardmax", inputs: [x], opset: 11, expected: [Tensor(shape: [2, 2, 2], floats: [0, 0, 0, 1, 0, 0, 0, 1])], rtol: 0, atol: 0)
        try checkOp("LogSoftmax", attributes: ["axis": .int(-3)], inputs: [x], opset: 12,
                    expected: [Tensor(shape: [2, 2, 2], floats: [Float](repeating: 0, count: 8).indices.map { i in
                        let r = Array(1...8).map { Double($0) }
                        let m = 8.0, s = r.reduce(0) { $0 + exp($1 - m) }
                        return Float(r[i] - m - log(s))
                    })])
    }

    @Test(arguments: ["Softmax", "LogSoftmax", "Hardmax"]) func deviceMatchesReferenceOnEveryAxis(op: String) throws {
        var rng = TestRandom(seed: 5)
        let x = rng.tensor([2, 3, 65], -4, 4)
        for axis in [0, 1, 2, -1, -2, -3] {
            let len = x.shape[Shape.axis(axis, rank: 3)!]
            let t13 = tolerance(op, len)
            try checkOp(op, attributes: ["axis": .int(axis)], inputs: [x], opset: 13, rtol: t13.rtol, atol: t13.atol)
            let t11 = tolerance(op, x.shape[Shape.axis(axis, rank: 3)!...].reduce(1, *))
            try checkOp(op, attributes: ["axis": .int(axis)], inputs: [x], opset: 11, rtol: t11.rtol, atol: t11.atol)
        }
        // ([1, 16, 4, 37], 1): a YOLOv8 DFL head's softmax over 16 bins with 148 positions behind the
        // axis (the CPU style's 16-lane kernel, a partial last block); ([2, 5, 16], 1): exactly 16.
        for (shape, axis) in [([7], 0), ([2, 1, 3, 1, 5], 2), ([2, 1, 3, 1, 5], -1), ([2, 1, 3, 1, 5], 0), ([1, 1000], 1),
                              ([1, 16, 4, 37], 1), ([2, 5, 16], 1)] {
            let y = rng.tensor(shape, -4, 4)
            let t = tolerance(op, shape[Shape.axis(axis, rank: shape.count)!])
            try checkOp(op, attributes: ["axis": .int(axis)], inputs: [y], opset: 13, rtol: t.rtol, atol: t.atol)
        }
    }

    @Test func badAxisIsRejected() {
        #expect(throws: GPUInferError.self) {
            try checkOp("Softmax", attributes: ["axis": .int(3)], inputs: [Tensor(shape: [2, 3, 4], floats: [Float](repeating: 0, count: 24))])
        }
    }
}
