// Broadcasting binary ops, comparisons, logic, the variadic Max/Min/Sum/Mean and Where:
// hand-computed values, device vs reference on awkward broadcasts, integer and bool paths.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct ElementwiseBinaryTests {
    /// Shape pairs the device must get right: same shape (contiguous path), both-way broadcast,
    /// scalar on either side, rank 5, per-channel bias, a row vector, [1] ⊗ [1], and rank 8.
    static let shapePairs: [([Int], [Int])] = [
        ([7], [7]), ([3, 5, 13], [3, 5, 13]), ([2, 3, 1, 67], [1, 3, 17, 1]), ([], [3, 5, 13]), ([3, 5, 13], []),
        ([2, 1, 3, 4, 5], [3, 1, 5]), ([2, 16, 7, 7], [16, 1, 1]), ([5, 1], [1, 67]), ([1], [1]),
        ([2, 1, 2, 1, 3, 1, 2, 3], [1, 3, 1, 2, 1, 2, 1, 1]),
    ]

    /// Device-vs-reference tolerance: +, −, ×, comparisons, min/max, fmod and PRelu are exact
    /// (no fma contraction); OpenCL division may be 2.5 ulp off and pow 16 ulp.
    static func tolerance(_ op: String) -> Float {
        switch op {
        case "Div": 3 * .ulpOfOne
        case "Pow": 18 * .ulpOfOne
        default: 0
        }
    }

    @Test func arithmeticByHand() throws {
        let a = EW.floats([6], [1.5, -2, 0, 1e30, .nan, 7])
        let b = EW.floats([6], [0.5, 4, 0, 1e30, 1, -0.0])
        try checkOp("Add", inputs: [a, b], expected: [EW.floats([6], [2, 2, 0, 2e30, .nan, 7])], rtol: 0, atol: 0)
        try checkOp("Sub", inputs: [a, b], expected: [EW.floats([6], [1, -6, 0, 0, .nan, 7])], rtol: 0, atol: 0)
        try checkOp("Mul", inputs: [a, b], expected: [EW.floats([6], [0.75, -8, 0, .infinity, .nan, -0.0])], rtol: 0, atol: 0)
        try checkOp("Div", inputs: [a, b], expected: [EW.floats([6], [3, -0.5, .nan, 1, .nan, -.infinity])], rtol: 0, atol: 0)
        // Scalar ⊗ tensor and tensor ⊗ scalar.
        try checkOp("Sub", inputs: [Tensor.scalar(10), EW.floats([3], [1, 2, 3])], expected: [EW.floats([3], [9, 8, 7])], rtol: 0, atol: 0)
        try checkOp("Div", inputs: [EW.floats([3], [1, 2, 3]), Tensor.scalar(4)], expected: [EW.floats([3], [0.25, 0.5, 0.75])], rtol: 0, atol: 0)
        // [2,1] + [3]: row broadcast.
        try checkOp("Add", inputs: [EW.floats([2, 1], [10, 20]), EW.floats([3], [1, 2, 3])],
                    expected: [EW.floats([2, 3], [11, 12, 13, 21, 22, 23])], rtol: 0, atol: 0)
    }

    /// The float8 kernels for float +, −, ×, ÷ on CPU devices (Kernels/elementwise.cl BINARY_V8):
    /// a scalar on either side, whole vectors plus a tail (3·67·67·2 = 26934 = 8·3366 + 6), exactly
    /// one vector, fewer elements than one vector, same shapes; device vs reference with the
    /// tolerances above (the same correctly rounded operation per lane), hand values for a
    /// preprocessing-like x·a − b chain.
    @Test func vector8Paths() throws {
        var rng = TestRandom(seed: 41)
        let big = rng.tensor([2, 3, 67, 67], -5, 5)
        for op in ["Add", "Sub", "Mul", "Div"] {
            let tol = Self.tolerance(op)
            for (a, b) in [(big, Tensor.scalar(Float(0.75))), (Tensor(shape: [1], floats: [-1.5]), big), (big, rng.tensor([2, 3, 67, 67], 0.5, 2)),
                           (rng.tensor([8]), rng.tensor([8], 0.5, 2)), (rng.tensor([5]), Tensor.scalar(Float(3)))] {
                try checkOp(op, inputs: [a, b], rtol: tol, atol: tol)
            }
        }
        let x = EW.floats([1, 1, 3, 3], [0, 255, 127.5, 51, 102, 153, 204, 1, 2])
        let scaled = try checkOp("Mul", inputs: [x, Tensor.scalar(Float(1.0 / 127.5))], rtol: 0, atol: 0)[0]
        try checkOp("Sub", inputs: [scaled, Tensor.scalar(Float(1))], expected: [Tensor(shape: [1, 1, 3, 3], floats: x.floats.map { $0 * Float(1.0 / 127.5) - 1 })],
                    rtol: 0, atol: 0)
    }

    @Test func powModPReluByHand() throws {
        try checkOp("Pow", inputs: [EW.floats([5], [2, 4, -8, 0, -2]), EW.floats([5], [3, 0.5, 1.0 / 3, 0, 2])],
                    expected: [EW.floats([5], [8, 2, .nan, 1, 4])], rtol: 18 * .ulpOfOne, atol: 0)
        // Float base, int64 exponent (a constant, as exported models have it).
        try checkOp("Pow", inputs: [EW.floats([4], [2, -3, 0.5, 10]), EW.ints([4], [3, 2, -1, 0])], constant: [1],
                    expected: [EW.floats([4], [8, 9, 2, 1])], rtol: 18 * .ulpOfOne, atol: 0)
        try checkOp("Pow", inputs: [EW.floats([2, 3], [1, 2, 3, 4, 5, 6]), Tensor.scalar(Int64(2))], constant: [1],
                    expected: [EW.floats([2, 3], [1, 4, 9, 16, 25, 36])], rtol: 18 * .ulpOfOne, atol: 0)
        // Mod: fmod = 1 keeps the dividend's sign, fmod = 0 takes the divisor's.
        let x = EW.floats([4], [7.5, -7.5, 7.5, -7.5]), y = EW.floats([4], [2, 2, -2, -2])
        try checkOp("Mod", attributes: ["fmod": .int(1)], inputs: [x, y], expected: [EW.floats([4], [1.5, -1.5, 1.5, -1.5])], rtol: 0, atol: 0)
        try checkOp("Mod", inputs: [x, y], expected: [EW.floats([4], [1.5, 0.5, -0.5, -1.5])], rtol: 0, atol: 0)
        // NumPy edge cases: a zero takes the divisor's sign, x mod ±∞ is x or ±∞ by sign, NaN stays NaN.
        let m = try checkOp("Mod", inputs: [EW.floats([7], [0, -0.0, 4, -3, 3, .infinity, .nan]), EW.floats([7], [-2, 2, -2, .infinity, -.infinity, 2, 2])],
                            expected: [EW.floats([7], [-0.0, 0, -0.0, .infinity, -.infinity, .nan, .nan])], rtol: 0, atol: 0)[0]
        #expect(m.floats.prefix(3).map(\.sign) == [.minus, .plus, .minus])
        // PRelu with a per-channel slope [C,1,1] and with a scalar slope.
        let px = EW.floats([1, 2, 1, 2], [-1, 2, -3, 4])
        try checkOp("PRelu", inputs: [px, EW.floats([2, 1, 1], [0.5, 0.25])], expected: [EW.floats([1, 2, 1, 2], [-0.5, 2, -0.75, 4])],
                    rtol: 0, atol: 0)
        try checkOp("PRelu", inputs: [px, EW.floats([1], [0.1])], constant: [1], expected: [EW.floats([1, 2, 1, 2], [-0.1, 2, -0.3, 4])],
                    rtol: 0, atol: 0)
        // The slope must broadcast to X, not the other way.
        #expect(throws: GPUInferError.self) { try checkOp("PRelu", inputs: [EW.floats([2], [1, 2]), EW.floats([3, 2], [1, 2, 3, 4, 5, 6])]) }
    }

    @Test func comparisonsAndLogicByHand() throws {
        let a = EW.floats([5], [1, 2, 3, .nan, -0.0]), b = EW.floats([5], [2, 2, 2, .nan, 0])
        let cases: [(String, [Bool])] = [
            ("Equal", [false, true, false, false, true]), ("Less", [true, false, false, false, false]),
            ("LessOrEqual", [true, true, false, false, true]), ("Greater", [false, false, true, false, false]),
            ("GreaterOrEqual", [false, true, true, false, true]),
        ]
        for (op, want) in cases {
            let r = try checkOp(op, inputs: [a, b], expected: [EW.bools([5], want)], rtol: 0, atol: 0)[0]
            #expect(r.dtype == .bool, "\(op) dtype")
        }
        let p = EW.bools([2, 2], [true, true, false, false]), q = EW.bools([2], [true, false])
        try checkElementwise("And", inputs: [p, q], expected: EW.bools([2, 2], [true, false, false, false]))
        try checkElementwise("Or", inputs: [p, q], expected: EW.bools([2, 2], [true, true, true, false]))
        try checkElementwise("Xor", inputs: [p, q], expected: EW.bools([2, 2], [false, true, true, false]))
        try checkElementwise("Equal", inputs: [p, q], expected: EW.bools([2, 2], [true, false, false, true]))
        try checkElementwise("Less", inputs: [EW.ints([3], [-5, 0, 1 << 40]), EW.ints([1], [0])], expected: EW.bools([3], [true, false, false]))
        #expect(throws: GPUInferError.self) { try checkOp("And", inputs: [EW.floats([1], [1]), EW.floats([1], [0])]) }
    }

    @Test func integerArithmeticByHand() throws {
        let a = EW.ints([5], [7, -7, 7, -7, 5]), b = EW.ints([5], [2, 2, -2, -2, 0])
        try checkElementwise("Add", inputs: [a, b], expected: EW.ints([5], [9, -5, 5, -9, 5]))
        try checkElementwise("Sub", inputs: [a, b], expected: EW.ints([5], [5, -9, 9, -5, 5]))
        try checkElementwise("Mul", inputs: [a, b], expected: EW.ints([5], [14, -14, -14, 14, 0]))
        // Division truncates toward zero like C; x/0 is defined as 0 here (C leaves it undefined).
        try checkElementwise("Div", inputs: [a, b], expected: EW.ints([5], [3, -3, -3, 3, 0]))
        let m = EW.ints([4], [7, -7, 7, -7]), d = EW.ints([4], [3, 3, -3, -3])
        try checkElementwise("Mod", inputs: [m, d], expected: EW.ints([4], [1, 2, -2, -1]))
        try checkElementwise("Mod", attributes: ["fmod": .int(1)], inputs: [m, d], expected: EW.ints([4], [1, -1, 1, -1]))
        try checkElementwise("Pow", inputs: [EW.ints([6], [3, -2, 2, 1, -1, 0]), EW.ints([6], [4, 3, -1, -5, -3, 0])],
                             expected: EW.ints([6], [81, -8, 0, 1, -1, 1]))
        // Integer base, float exponent: the result keeps the base's type; integral exponents are
        // exact, others truncate the float power (2^0.5 = 1.41 → 1, (−8)^(1/3) = NaN → 0).
        try checkElementwise("Pow", inputs: [EW.ints([6], [3, -2, 2, 7, 2, -8], .int32), EW.floats([6], [4, 3, -1, 0, 0.5, 0.3333])],
                             expected: EW.ints([6], [81, -8, 0, 1, 1, 0], .int32))
        try checkElementwise("PRelu", inputs: [EW.ints([3], [-4, 0, 4]), EW.ints([1], [3])], expected: EW.ints([3], [-12, 0, 4]))
        // Results wrap to the integer type like C: uint8 3 − 5 = 254, int32 2³⁰·4 = 0.
        try checkElementwise("Sub", inputs: [EW.ints([1], [3], .uint8), EW.ints([1], [5], .uint8)], expected: EW.ints([1], [254], .uint8))
        try checkElementwise("Mul", inputs: [EW.ints([1], [1 << 30], .int32), EW.ints([1], [4], .int32)], expected: EW.ints([1], [0], .int32))
    }

    @Test func floatOpsMatchReferenceOnAwkwardBroadcasts() throws {
        var rng = TestRandom(seed: 21)
        for op in ["Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"] {
            for (sa, sb) in Self.shapePairs {
                // Pow on positive bases; Div and Mod away from a zero divisor.
                let a = op == "Pow" ? rng.tensor(sa, 0.1, 3) : rng.tensor(sa, -4, 4)
                let b = op == "Pow" ? rng.tensor(sb, -2, 2) : rng.tensor(sb, 0.5, 3)
                let tol = Self.tolerance(op)
                try checkOp(op, attributes: op == "Mod" ? ["fmod": .int(1)] : [:], inputs: [a, b], rtol: tol, atol: tol)
            }
        }
        // Comparisons need ties to be interesting: small integer-valued floats.
        for (sa, sb) in Self.shapePairs {
            let a = Tensor(shape: sa, floats: rng.ints(sa, -2, 2).ints.map(Float.init))
            let b = Tensor(shape: sb, floats: rng.ints(sb, -2, 2).ints.map(Float.init))
            for op in ["Equal", "LessOrEqual", "GreaterOrEqual"] { try checkOp(op, inputs: [a, b], rtol: 0, atol: 0) }
        }
        // PRelu: slope broadcast to X.
        for (sx, ss) in [([2, 3, 5, 7], [3, 1, 1]), ([2, 3, 5, 7], [1]), ([3, 5, 13], [3, 5, 13]), ([2, 1, 3, 4, 5], [4, 1])] {
            try checkOp("PRelu", inputs: [rng.tensor(sx, -3, 3), rng.tensor(ss)], rtol: 0, atol: 0)
        }
    }

    @Test func integerOpsMatchReferenceOnAwkwardBroadcasts() throws {
        var rng = TestRandom(seed: 22)
        for op in ["Add", "Sub", "Mul", "Div", "Mod", "Max", "Min", "Equal", "Less", "GreaterOrEqual"] {
            for (sa, sb) in Self.shapePairs {
                try checkElementwise(op, inputs: [rng.ints(sa, -50, 50), rng.ints(sb, -7, 7)])
            }
        }
        for (sa, sb) in Self.shapePairs {
            try checkElementwise("And", inputs: [rng.ints(sa, 0, 1).cast(to: .bool), rng.ints(sb, 0, 1).cast(to: .bool)])
            try checkElementwise("Pow", inputs: [rng.ints(sa, -5, 5), rng.ints(sb, 0, 6)])
            let exponent = Tensor(shape: sb, floats: rng.ints(sb, -1, 6).ints.map(Float.init))
            try checkElementwise("Pow", inputs: [rng.ints(sa, -5, 5), exponent])
        }
    }

    // MARK: Max, Min, Sum, Mean

    @Test func variadicByHand() throws {
        let a = EW.floats([3], [1, 5, .nan]), b = EW.floats([3], [4, 2, 0]), c = EW.floats([1], [3])
        try checkOp("Max", inputs: [a], expected: [a], rtol: 0, atol: 0)
        try checkOp("Max", inputs: [a, b], expected: [EW.floats([3], [4, 5, .nan])], rtol: 0, atol: 0)
        try checkOp("Min", inputs: [a, b, c], expected: [EW.floats([3], [1, 2, .nan])], rtol: 0, atol: 0)
        try checkOp("Max", inputs: [b, a], expected: [EW.floats([3], [4, 5, .nan])], rtol: 0, atol: 0)
        try checkOp("Sum", inputs: [b], expected: [b], rtol: 0, atol: 0)
        try checkOp("Sum", inputs: [a, b, c], expected: [EW.floats([3], [8, 10, .nan])], rtol: 0, atol: 0)
        // Mean: the sum then ÷ n (OpenCL division ≤ 2.5 ulp).
        try checkOp("Mean", inputs: [b, c], expected: [EW.floats([3], [3.5, 2.5, 1.5])], rtol: 3 * .ulpOfOne, atol: 0)
        try checkOp("Mean", inputs: [b, b, c], expected: [EW.floats([3], [11.0 / 3, 7.0 / 3, 1])], rtol: 3 * .ulpOfOne, atol: 0)
        try checkOp("Mean", inputs: [b], expected: [b], rtol: 0, atol: 0)
        // The output is the broadcast of all inputs, even when the first one is small.
        try checkOp("Sum", inputs: [EW.floats([1], [1]), EW.floats([2, 1], [10, 20]), EW.floats([3], [100, 200, 300])],
                    expected: [EW.floats([2, 3], [111, 211, 311, 121, 221, 321])], rtol: 0, atol: 0)
        try checkElementwise("Max", inputs: [EW.ints([3], [1, -5, 9]), EW.ints([1], [0]), EW.ints([3], [-1, -2, 10])],
                             expected: EW.ints([3], [1, 0, 10]))
        try checkElementwise("Min", inputs: [EW.ints([3], [1, -5, 9])], expected: EW.ints([3], [1, -5, 9]))
    }

    @Test func variadicMatchesReferenceOnAwkwardShapes() throws {
        var rng = TestRandom(seed: 23)
        let sets: [[[Int]]] = [[[3, 5, 13]], [[2, 3, 1, 67], [1, 3, 17, 1]], [[7], [3, 1], [2, 1, 1]], [[2, 1, 3, 4, 5], [], [4, 1]],
                               [[1, 16, 1, 1], [2, 16, 7, 7], [16, 1, 1]]]
        for op in ["Max", "Min", "Sum", "Mean"] {
            for shapes in sets {
                // Both sides fold in the same order, so only Mean's division (≤ 2.5 ulp in OpenCL) may differ.
                let tol: Float = op == "Mean" ? 3 * .ulpOfOne : 0
                try checkOp(op, inputs: shapes.map { rng.tensor($0) }, rtol: tol, atol: tol)
            }
        }
    }

    // MARK: Where

    @Test func whereByHand() throws {
        let cond = EW.bools([2, 3], [true, false, true, false, false, true])
        try checkOp("Where", inputs: [cond, EW.floats([2, 3], [1, 2, 3, 4, 5, 6]), EW.floats([2, 3], [-1, -2, -3, -4, -5, -6])],
                    expected: [EW.floats([2, 3], [1, -2, 3, -4, -5, 6])], rtol: 0, atol: 0)
        // Broadcast across all three: cond [2,1], X [3], Y scalar.
        try checkOp("Where", inputs: [EW.bools([2, 1], [true, false]), EW.floats([3], [1, 2, 3]), Tensor.scalar(0)],
                    expected: [EW.floats([2, 3], [1, 2, 3, 0, 0, 0])], rtol: 0, atol: 0)
        try checkElementwise("Where", inputs: [EW.bools([3], [false, true, false]), EW.ints([3], [1, 2, 3]), EW.ints([1], [-9])],
                             expected: EW.ints([3], [-9, 2, -9]))
        // A float condition is rejected.
        #expect(throws: GPUInferError.self) { try checkOp("Where", inputs: [EW.floats([1], [1]), EW.floats([1], [1]), EW.floats([1], [1])]) }
    }

    @Test func whereMatchesReferenceOnAwkwardShapes() throws {
        var rng = TestRandom(seed: 24)
        let triples: [([Int], [Int], [Int])] = [
            ([3, 5, 13], [3, 5, 13], [3, 5, 13]), ([2, 3, 1, 67], [1, 3, 17, 1], [67]), ([], [7], [3, 1]),
            ([2, 1, 3, 1, 5], [4, 1], []), ([1, 1, 5], [5], [5]),
        ]
        for (sc, sx, sy) in triples {
            let c = rng.ints(sc, 0, 1).cast(to: .bool)
            try checkOp("Where", inputs: [c, rng.tensor(sx), rng.tensor(sy)], rtol: 0, atol: 0)
            try checkElementwise("Where", inputs: [c, rng.ints(sx, -100, 100), rng.ints(sy, -100, 100)])
        }
    }

    @Test func shapeErrorsThrow() {
        #expect(throws: GPUInferError.self) { try checkOp("Add", inputs: [EW.floats([2, 3], [1, 2, 3, 4, 5, 6]), EW.floats([2], [1, 2])]) }
        #expect(throws: GPUInferError.self) { try checkOp("Max", inputs: [EW.floats([3], [1, 2, 3]), EW.floats([2], [1, 2])]) }
        #expect(throws: GPUInferError.self) { try checkElementwise("Add", inputs: [EW.floats([1], [1]), EW.ints([1], [1])]) }
    }
}
