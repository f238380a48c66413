// Cast, CastLike and inference BatchNormalization: hand-computed values and device vs reference.
import Testing
@testable import GPUInfer

@Suite struct ElementwiseCastTests {
    static func castTo(_ t: DType) -> [String: Attribute] { ["to": .int(t.rawValue)] }

    @Test func floatToIntegerTruncatesTowardZero() throws {
        let x = EW.floats([8], [1.9, -1.9, 0.5, -0.5, 1e20, -1e20, .nan, .infinity])
        try checkOp("Cast", attributes: Self.castTo(.int64), inputs: [x],
                    expected: [EW.ints([8], [1, -1, 0, 0, .max, .min, 0, 0])], rtol: 0, atol: 0)
        // Narrow targets wrap like a C cast of the truncated value: 300 → 44 and −1 → 255 in uint8.
        let y = EW.floats([5], [300.7, -1, 255, 3e9, -129])
        try checkOp("Cast", attributes: Self.castTo(.uint8), inputs: [y], expected: [EW.ints([5], [44, 255, 255, 0, 127], .uint8)], rtol: 0, atol: 0)
        try checkOp("Cast", attributes: Self.castTo(.int8), inputs: [y], expected: [EW.ints([5], [44, -1, -1, 0, 127], .int8)], rtol: 0, atol: 0)
        try checkOp("Cast", attributes: Self.castTo(.int32), inputs: [y],
                    expected: [EW.ints([5], [300, -1, 255, -1_294_967_296, -129], .int32)], rtol: 0, atol: 0)
        // Bool: anything non-zero (NaN included) is true.
        try checkOp("Cast", attributes: Self.castTo(.bool), inputs: [EW.floats([4], [0, -0.0, 0.1, .nan])],
                    expected: [EW.bools([4], [false, false, true, true])], rtol: 0, atol: 0)
        try checkOp("Cast", attributes: Self.castTo(.float32), inputs: [x], expected: [x], rtol: 0, atol: 0)
    }

    @Test func integerSourcesOnDevice() throws {
        let x = EW.ints([5], [-(1 << 40), 3, 0, 300, -1])
        try checkElementwise("Cast", attributes: Self.castTo(.float32), inputs: [x], expected: EW.floats([5], [-1_099_511_627_776, 3, 0, 300, -1]))
        try checkElementwise("Cast", attributes: Self.castTo(.uint8), inputs: [x], expected: EW.ints([5], [0, 3, 0, 44, 255], .uint8))
        try checkElementwise("Cast", attributes: Self.castTo(.int32), inputs: [x], expected: EW.ints([5], [0, 3, 0, 300, -1], .int32))
        try checkElementwise("Cast", attributes: Self.castTo(.bool), inputs: [x], expected: EW.bools([5], [true, true, false, true, true]))
        let b = EW.bools([3], [true, false, true])
        try checkElementwise("Cast", attributes: Self.castTo(.float32), inputs: [b], expected: EW.floats([3], [1, 0, 1]))
        try checkElementwise("Cast", attributes: Self.castTo(.int64), inputs: [b], expected: EW.ints([3], [1, 0, 1]))
    }

    @Test func castLikeTakesTheSecondInputsType() throws {
        let x = EW.floats([3], [2.7, -2.7, 0])
        try checkOp("CastLike", inputs: [x, EW.ints([1], [0], .int32)], constant: [1], opset: 15,
                    expected: [EW.ints([3], [2, -2, 0], .int32)], rtol: 0, atol: 0)
        try checkOp("CastLike", inputs: [x, EW.floats([2], [0, 0])], opset: 15, expected: [x], rtol: 0, atol: 0)
        try checkElementwise("CastLike", inputs: [EW.ints([2], [7, -7]), EW.floats([1], [0])], opset: 15, expected: EW.floats([2], [7, -7]))
    }

    @Test func castMatchesReferenceOnAwkwardShapes() throws {
        var rng = TestRandom(seed: 31)
        for shape in [[7], [3, 5, 13], [2, 1, 3, 1, 5]] {
            let x = rng.tensor(shape, -300, 300)
            for t in DType.allCases { try checkOp("Cast", attributes: Self.castTo(t), inputs: [x], rtol: 0, atol: 0) }
            let i = rng.ints(shape, -70000, 70000)
            for t in DType.allCases { try checkElementwise("Cast", attributes: Self.castTo(t), inputs: [i]) }
        }
    }

    @Test func unsupportedTargetsThrowAtLoad() {
        for code in [10, 11, 8, 0] {  // FLOAT16, DOUBLE, STRING, UNDEFINED
            #expect(throws: GPUInferError.self) { try checkOp("Cast", attributes: ["to": .int(code)], inputs: [EW.floats([1], [1])]) }
        }
    }

    // MARK: BatchNormalization

    @Test func batchNormByHand() throws {
        // Channel 0: (x − 1)/√4·1 + 0; channel 1: (x − 3)/√0.25·2 + 1.
        let x = EW.floats([1, 2, 1, 2], [1, 2, 3, 4])
        let p = [EW.floats([2], [1, 2]), EW.floats([2], [0, 1]), EW.floats([2], [1, 3]), EW.floats([2], [4, 0.25])]
        try checkOp("BatchNormalization", attributes: ["epsilon": .float(0)], inputs: [x] + p, constant: [1, 2, 3, 4],
                    expected: [EW.floats([1, 2, 1, 2], [0, 0.5, 1, 5])], rtol: 0, atol: 0)
        // Default ε = 1e-5: (2 − 1)/√4.00001 = 0.4999994, (4 − 3)/√0.25001·2 + 1 = 4.99992.
        try checkOp("BatchNormalization", inputs: [x] + p, constant: [1, 2, 3, 4], opset: 9,
                    expected: [EW.floats([1, 2, 1, 2], [0, 0.4999994, 1, 4.99992])], rtol: 1e-6, atol: 1e-6)
    }

    @Test func batchNormMatchesReferenceOnAnyRank() throws {
        var rng = TestRandom(seed: 32)
        // (x − μ)/√(σ²+ε)·γ: sqrt ≤ 3 ulp and division ≤ 2.5 ulp in OpenCL, so ≤ 8 ulp relative on a
        // term of magnitude ≤ 1.5/√0.5·2 ≈ 4.3 before β is added: atol 4.3·8 ulp ≈ 35 ulp.
        for shape in [[3, 5], [2, 3, 17], [2, 3, 5, 7], [2, 3, 2, 3, 5], [1, 7, 1, 1]] {
            let c = shape[1]
            let params = [rng.tensor([c], 0.5, 2), rng.tensor([c], -1, 1), rng.tensor([c], -0.5, 0.5), rng.tensor([c], 0.5, 2)]
            let x = rng.tensor(shape)
            try checkOp("BatchNormalization", attributes: ["epsilon": .float(1e-3)], inputs: [x] + params, constant: [1, 2, 3, 4],
                        rtol: 8 * .ulpOfOne, atol: 35 * .ulpOfOne)
            // Parameters as runtime inputs too.
            try checkOp("BatchNormalization", inputs: [x] + params, opset: 15, rtol: 8 * .ulpOfOne, atol: 35 * .ulpOfOne)
        }
    }

    @Test func batchNormRejectsTrainingAndBadShapes() {
        let x = EW.floats([1, 2, 2], [1, 2, 3, 4]), p = EW.floats([2], [1, 1])
        #expect(throws: GPUInferError.self) {
            try checkOp("BatchNormalization", attributes: ["training_mode": .int(1)], inputs: [x, p, p, p, p], opset: 15)
        }
        #expect(throws: GPUInferError.self) {
            try checkOp("BatchNormalization", inputs: [x, EW.floats([3], [1, 1, 1]), p, p, p])
        }
        #expect(throws: GPUInferError.self) { try checkOp("BatchNormalization", inputs: [EW.floats([2], [1, 2]), p, p, p, p]) }
    }
}
