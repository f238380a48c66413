// Unary elementwise ops and Clip: reference vs NumPy/math values, device vs reference on awkward
// shapes, edge values (±0, ±∞, NaN, huge) and the integer paths.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct ElementwiseUnaryTests {
    /// Device-vs-reference budget in ulps per op (relative, and absolute for results near 0 where
    /// inputs are O(1)). OpenCL 1.2 bounds: exp/expm1/log 3, log1p 2, tanh 5, sin/cos/tan/asin/acos/
    /// sinh/cosh/asinh/acosh/atanh 4, atan 5, erf/erfc 16, sqrt 3, division 2.5; glibc adds ≤ 2 on
    /// the reference side; composite formulas add their parts (sigmoid = exp + divide, mish = softplus
    /// + tanh …). Ops built only from +, ×, comparisons and exact rounding must match bit for bit
    /// (elementwise.cl turns off fma contraction).
    static let ulps: [String: Float] = [
        "Sigmoid": 8, "Exp": 5, "Log": 5, "Tanh": 7, "Erf": 18, "Sqrt": 5, "Reciprocal": 3, "Softplus": 8,
        "Softsign": 3, "Sin": 6, "Cos": 6, "Tan": 6, "Asin": 6, "Acos": 6, "Atan": 7, "Sinh": 6, "Cosh": 6,
        "Asinh": 6, "Acosh": 6, "Atanh": 6, "Elu": 5, "Selu": 5, "Celu": 5, "Mish": 16, "Gelu": 18, "GeluTanh": 8,
    ]
    static func tolerance(_ op: String) -> Float { (ulps[op] ?? 0) * Float.ulpOfOne }

    /// Input range where each op is defined and well conditioned.
    static func range(_ op: String) -> (Float, Float) {
        switch op {
        case "Log", "Sqrt", "Reciprocal": (0.01, 5)
        case "Acosh": (1, 6)
        case "Asin", "Acos", "Atanh": (-0.99, 0.99)
        case "Tan": (-1.4, 1.4)
        case "Exp", "Sinh", "Cosh": (-10, 10)
        default: (-6, 6)
        }
    }

    static let floatOps = Unary.table.filter { $0.value.float != nil }.keys.sorted() + ["GeluTanh"]

    /// Runs `op` (GeluTanh = Gelu with approximate "tanh") through `checkOp`.
    @discardableResult
    static func run(_ op: String, _ x: Tensor, attributes: [String: Attribute] = [:], opset: Int = 20,
                    sourceLocation: SourceLocation = #_sourceLocation) throws -> Tensor {
        let tol = tolerance(op)
        var attrs = attributes
        if op == "GeluTanh" { attrs["approximate"] = .string("tanh") }
        return try checkOp(op == "GeluTanh" ? "Gelu" : op, attributes: attrs, inputs: [x], opset: opset, rtol: tol, atol: tol,
                           sourceLocation: sourceLocation)[0]
    }

    @Test func referenceMatchesMathValues() throws {
        // Expected: Python `math` in double, rounded to float32. Reference vs these: ≤ 8 ulp
        // (glibc ≤ 2 ulp per call, composite formulas round a few times).
        let x: [Float] = [-3, -0.5, 0, 0.5, 2]
        let table: [(String, [Float])] = [
            ("Relu", [0.0, 0.0, 0.0, 0.5, 2.0]),
            ("Sigmoid", [0.04742587357759476, 0.3775406777858734, 0.5, 0.622459352016449, 0.8807970881462097]),
            ("Exp", [0.049787066876888275, 0.6065306663513184, 1.0, 1.6487212181091309, 7.389056205749512]),
            ("Tanh", [-0.9950547814369202, -0.46211716532707214, 0.0, 0.46211716532707214, 0.9640275835990906]),
            ("Neg", [3.0, 0.5, -0.0, -0.5, -2.0]),
            ("Abs", [3.0, 0.5, 0.0, 0.5, 2.0]),
            ("Erf", [-0.9999778866767883, -0.5204998850822449, 0.0, 0.5204998850822449, 0.9953222870826721]),
            ("Floor", [-3.0, -1.0, 0.0, 0.0, 2.0]),
            ("Ceil", [-3.0, 0.0, 0.0, 1.0, 2.0]),
            ("Sign", [-1.0, -1.0, 0.0, 1.0, 1.0]),
            ("Softplus", [0.04858735203742981, 0.4740769863128662, 0.6931471824645996, 0.9740769863128662, 2.1269280910491943]),
            ("Softsign", [-0.75, -0.3333333432674408, 0.0, 0.3333333432674408, 0.6666666865348816]),
            ("Sin", [-0.14112000167369843, -0.4794255495071411, 0.0, 0.4794255495071411, 0.9092974066734314]),
            ("Cos", [-0.9899924993515015, 0.8775825500488281, 1.0, 0.8775825500488281, -0.416146844625473]),
            ("Atan", [-1.249045729637146, -0.46364760398864746, 0.0, 0.46364760398864746, 1.1071487665176392]),
            ("Sinh", [-10.017874717712402, -0.5210952758789062, 0.0, 0.5210952758789062, 3.6268603801727295]),
            ("Cosh", [10.067662239074707, 1.1276259422302246, 1.0, 1.1276259422302246, 3.762195587158203]),
            ("Asinh", [-1.8184465169906616, -0.4812118113040924, 0.0, 0.4812118113040924, 1.4436354637145996]),
            ("Elu", [-0.9502129554748535, -0.39346933364868164, 0.0, 0.5, 2.0]),
            ("Selu", [-1.6705687046051025, -0.6917582154273987, 0.0, 0.5253505110740662, 2.1014020442962646]),
            ("Celu", [-0.9502129554748535, -0.39346933364868164, 0.0, 0.5, 2.0]),
            ("LeakyRelu", [-0.029999999329447746, -0.004999999888241291, 0.0, 0.5, 2.0]),
            ("HardSigmoid", [0.0, 0.4000000059604645, 0.5, 0.6000000238418579, 0.8999999761581421]),
            ("HardSwish", [-0.0, -0.2083333283662796, 0.0, 0.2916666567325592, 1.6666666269302368]),
            ("ThresholdedRelu", [0.0, 0.0, 0.0, 0.0, 2.0]),
            ("Mish", [-0.14564746618270874, -0.22074377536773682, 0.0, 0.37524521350860596, 1.9439589977264404]),
            ("Gelu", [-0.004049694165587425, -0.1542687714099884, 0.0, 0.3457312285900116, 1.9544997215270996]),
            ("GeluTanh", [-0.003637392073869705, -0.1542859971523285, 0.0, 0.3457140028476715, 1.9545977115631104]),
        ]
        for (op, want) in table {
            let got = try Self.run(op, EW.floats([5], x))
            assertClose(got, EW.floats([5], want), rtol: 8 * .ulpOfOne, atol: 1e-7, "\(op) vs math")
        }
        // Ops with a restricted domain.
        let domain: [(String, [Float], [Float])] = [
            ("Log", [0.25, 1, 2, 9], [-1.3862943649291992, 0.0, 0.6931471824645996, 2.1972246170043945]),
            ("Sqrt", [0.25, 1, 2, 9], [0.5, 1.0, 1.4142135381698608, 3.0]),
            ("Reciprocal", [0.25, 1, 2, 9], [4.0, 1.0, 0.5, 0.1111111119389534]),
            ("Acosh", [1.25, 2, 3, 10], [0.6931471824645996, 1.316957950592041, 1.7627471685409546, 2.993222951889038]),
            ("Asin", [-0.5, 0, 0.25, 0.75], [-0.5235987901687622, 0.0, 0.252680242061615, 0.8480620980262756]),
            ("Acos", [-0.5, 0, 0.25, 0.75], [2.094395160675049, 1.5707963705062866, 1.3181160688400269, 0.722734272480011]),
            ("Atanh", [-0.5, 0, 0.25, 0.75], [-0.5493061542510986, 0.0, 0.2554128170013428, 0.972955048084259]),
            ("Tan", [-0.5, 0, 0.25, 0.75], [-0.5463024973869324, 0.0, 0.25534191727638245, 0.9315964579582214]),
        ]
        for (op, xs, want) in domain {
            assertClose(try Self.run(op, EW.floats([4], xs)), EW.floats([4], want), rtol: 8 * .ulpOfOne, atol: 1e-7, "\(op) vs math")
        }
        // Round is half to even; Sign keeps ±0.
        let r = try Self.run("Round", EW.floats([8], [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.6, -0.4]))
        #expect(r.floats == [-2, -2, -0, 0, 2, 2, 3, -0])
    }

    @Test func attributesOverrideDefaults() throws {
        let x = EW.floats([4], [-2, -0.5, 0.5, 3])
        assertClose(try Self.run("LeakyRelu", x, attributes: ["alpha": .float(0.5)]), EW.floats([4], [-1, -0.25, 0.5, 3]), rtol: 0, atol: 0)
        assertClose(try Self.run("HardSigmoid", x, attributes: ["alpha": .float(0.25), "beta": .float(0.25)]),
                    EW.floats([4], [0, 0.125, 0.375, 1]), rtol: 0, atol: 0)
        assertClose(try Self.run("ThresholdedRelu", x, attributes: ["alpha": .float(0.4)]), EW.floats([4], [0, 0, 0.5, 3]), rtol: 0, atol: 0)
        // Elu(α=2): 2·(e⁻²−1) = −1.7293294; Celu(α=2): 2·(e^(x/2)−1), −1.2642411 at x = −2.
        assertClose(try Self.run("Elu", x, attributes: ["alpha": .float(2)]), EW.floats([4], [-1.7293294, -0.7869387, 0.5, 3]),
                    rtol: 1e-6, atol: 1e-7)
        assertClose(try Self.run("Celu", x, attributes: ["alpha": .float(2)]), EW.floats([4], [-1.2642411, -0.44239843, 0.5, 3]),
                    rtol: 1e-6, atol: 1e-7)
        // Selu(α=2, γ=3): 3·2·(e⁻²−1) = −5.1879882.
        assertClose(try Self.run("Selu", x, attributes: ["alpha": .float(2), "gamma": .float(3)]),
                    EW.floats([4], [-5.1879882, -2.3608160, 1.5, 9]), rtol: 1e-6, atol: 1e-7)
    }

    @Test func deviceMatchesReferenceOnAwkwardShapes() throws {
        var rng = TestRandom(seed: 11)
        for op in Self.floatOps {
            let (lo, hi) = Self.range(op)
            for shape in [[7], [3, 5, 13], [2, 1, 3, 1, 5], [1]] {
                try Self.run(op, rng.tensor(shape, lo, hi))
            }
        }
    }

    @Test func edgeValuesMatchOnDevice() throws {
        // ±0, ±∞, NaN and huge magnitudes: NaN must come out where the reference has NaN.
        let edge = EW.floats([9], [0, -0.0, .infinity, -.infinity, .nan, 1e30, -1e30, 88.8, -88.8])
        for op in Self.floatOps { try Self.run(op, edge) }
        for op in Self.floatOps where op != "ThresholdedRelu" {
            #expect(try Self.run(op, EW.floats([1], [.nan])).floats[0].isNaN, "\(op)(NaN)")
        }
        // Overflow-safe forms: sigmoid saturates to 0/1, softplus(x) → x, gelu(−30) → −0.
        let s = try Self.run("Sigmoid", EW.floats([2], [-100, 100]))
        #expect(s.floats == [0, 1])
        #expect(try Self.run("Softplus", EW.floats([2], [100, -100])).floats[0] == 100)
        #expect(try Self.run("Gelu", EW.floats([1], [-30])).floats[0] == 0)
    }

    @Test func integerPathsRunOnDevice() throws {
        let x = EW.ints([6], [-5, 0, 7, -1, 1 << 40, Int64.min])
        try checkElementwise("Relu", inputs: [x], expected: EW.ints([6], [0, 0, 7, 0, 1 << 40, 0]))
        try checkElementwise("Neg", inputs: [x], expected: EW.ints([6], [5, 0, -7, 1, -(1 << 40), Int64.min]))
        try checkElementwise("Abs", inputs: [x], expected: EW.ints([6], [5, 0, 7, 1, 1 << 40, Int64.min]))
        try checkElementwise("Sign", inputs: [x], expected: EW.ints([6], [-1, 0, 1, -1, 1, -1]))
        try checkElementwise("Not", inputs: [EW.bools([3], [true, false, true])], expected: EW.bools([3], [false, true, false]))
        // Wrapping like C: −Int64.min = Int64.min, −(−2³¹) = −2³¹ in int32, |−128| = −128 in int8.
        let big = EW.ints([2], [-2_147_483_648, 3], .int32)
        try checkElementwise("Neg", inputs: [big], expected: EW.ints([2], [-2_147_483_648, -3], .int32))
        try checkElementwise("Abs", inputs: [EW.ints([2], [-128, -3], .int8)], expected: EW.ints([2], [-128, 3], .int8))
        var rng = TestRandom(seed: 3)
        for op in ["Relu", "Neg", "Abs", "Sign"] { try checkElementwise(op, inputs: [rng.ints([3, 5, 13], -1000, 1000)]) }
    }

    @Test func unsupportedTypesAndAttributesThrow() throws {
        #expect(throws: GPUInferError.self) { try checkOp("Gelu", attributes: ["approximate": .string("erf")], inputs: [EW.floats([1], [1])], opset: 20) }
        #expect(throws: GPUInferError.self) { try checkElementwise("Sigmoid", inputs: [EW.ints([2], [1, 2])]) }
        #expect(throws: GPUInferError.self) { try checkOp("Not", inputs: [EW.floats([1], [1])]) }
    }

    // MARK: Clip

    @Test func clipWithInputBounds() throws {
        let x = EW.floats([7], [-3, -1, 0, 0.5, 2, 9, .nan])
        let lo = Tensor.scalar(-1), hi = Tensor.scalar(1)
        try checkOp("Clip", inputs: [x, lo, hi], constant: [1, 2], expected: [EW.floats([7], [-1, -1, 0, 0.5, 1, 1, .nan])], rtol: 0, atol: 0)
        try checkOp("Clip", inputs: [x, lo, nil], constant: [1], expected: [EW.floats([7], [-1, -1, 0, 0.5, 2, 9, .nan])], rtol: 0, atol: 0)
        try checkOp("Clip", inputs: [x, nil, hi], constant: [2], expected: [EW.floats([7], [-3, -1, 0, 0.5, 1, 1, .nan])], rtol: 0, atol: 0)
        try checkOp("Clip", inputs: [x], expected: [x], rtol: 0, atol: 0)
        // min > max: every value becomes max (min(max(x, lo), hi)).
        try checkOp("Clip", inputs: [x, Tensor.scalar(2), Tensor.scalar(1)], constant: [1, 2],
                    expected: [EW.floats([7], [1, 1, 1, 1, 1, 1, .nan])], rtol: 0, atol: 0)
        // Bounds of shape [1] and an awkward random tensor (ReLU6).
        var rng = TestRandom(seed: 5)
        try checkOp("Clip", inputs: [rng.tensor([2, 3, 5, 7], -8, 8), EW.floats([1], [0]), EW.floats([1], [6])], constant: [1, 2], rtol: 0, atol: 0)
    }

    @Test func clipWithRuntimeBounds() throws {
        // Bounds that are graph inputs (not known at plan time) are read from device buffers.
        let x = EW.floats([7], [-3, -1, 0, 0.5, 2, 9, .nan])
        try checkOp("Clip", inputs: [x, Tensor.scalar(-1), Tensor.scalar(1)], expected: [EW.floats([7], [-1, -1, 0, 0.5, 1, 1, .nan])],
                    rtol: 0, atol: 0)
        try checkOp("Clip", inputs: [x, nil, EW.floats([1], [0])], expected: [EW.floats([7], [-3, -1, 0, 0, 0, 0, .nan])], rtol: 0, atol: 0)
        try checkOp("Clip", inputs: [x, Tensor.scalar(0), nil], expected: [EW.floats([7], [0, 0, 0, 0.5, 2, 9, .nan])], rtol: 0, atol: 0)
        // One bound constant, the other at run time.
        try checkOp("Clip", inputs: [x, Tensor.scalar(2), Tensor.scalar(1)], constant: [1], expected: [EW.floats([7], [1, 1, 1, 1, 1, 1, .nan])],
                    rtol: 0, atol: 0)
        var rng = TestRandom(seed: 6)
        try checkOp("Clip", inputs: [rng.tensor([3, 5, 13], -4, 4), Tensor.scalar(-0.5), Tensor.scalar(2.5)], rtol: 0, atol: 0)
        try checkElementwise("Clip", inputs: [EW.ints([5], [-300, -5, 0, 5, 300]), Tensor.scalar(Int64(-10)), Tensor.scalar(Int64(10))],
                             expected: EW.ints([5], [-10, -5, 0, 5, 10]))
        // Bounds must be single values of the input's kind.
        #expect(throws: GPUInferError.self) { try checkOp("Clip", inputs: [x, EW.floats([2], [0, 1])], constant: [1]) }
        #expect(throws: GPUInferError.self) { try checkOp("Clip", inputs: [x, Tensor.scalar(Int64(0))], constant: [1]) }
    }

    @Test func clipWithAttributesBeforeOpset11() throws {
        let x = EW.floats([5], [-3, -1, 0, 2, 9])
        try checkOp("Clip", attributes: ["min": .float(-1), "max": .float(6)], inputs: [x], opset: 6,
                    expected: [EW.floats([5], [-1, -1, 0, 2, 6])], rtol: 0, atol: 0)
        try checkOp("Clip", attributes: ["max": .float(0)], inputs: [x], opset: 6, expected: [EW.floats([5], [-3, -1, 0, 0, 0])], rtol: 0, atol: 0)
        try checkOp("Clip", inputs: [x], opset: 6, expected: [x], rtol: 0, atol: 0)
    }

    @Test func clipOnIntegers() throws {
        let x = EW.ints([6], [-300, -5, 0, 5, 300, 1 << 40])
        try checkElementwise("Clip", inputs: [x, Tensor.scalar(Int64(-10)), Tensor.scalar(Int64(10))], constant: [1, 2],
                             expected: EW.ints([6], [-10, -5, 0, 5, 10, 10]))
        try checkElementwise("Clip", inputs: [x, nil, Tensor.scalar(Int64(0))], constant: [2], expected: EW.ints([6], [-300, -5, 0, 0, 0, 0]))
        try checkElementwise("Clip", inputs: [x, Tensor.scalar(Int64(0)), nil], constant: [1],
                             expected: EW.ints([6], [0, 0, 0, 5, 300, 1 << 40]))
        try checkElementwise("Clip", inputs: [EW.ints([3], [-200, 7, 200], .int32)], expected: EW.ints([3], [-200, 7, 200], .int32))
    }
}
