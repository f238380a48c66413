// CumSum: the ONNX documentation examples, every axis/exclusive/reverse combination on awkward
// shapes (both kernel styles), int64, both device kernels forced on odd row lengths, a 100k row,
// the selector table and the load/plan errors.
//
// Tolerances. The one-work-item-per-row kernel adds in the reference's order (fp32, scan order, no
// multiplications to contract), so it must match the reference exactly. The blocked kernel adds in
// another order: element i is (Σ block sums before its block) + (its block's elements so far), so
// every term passes through at most d = 2·BLOCK + blocks fp32 additions, and the standard bound for
// a recursive sum gives |computed − exact| ≤ γ_d·Σ|x_j| with γ_d = d·u/(1 − d·u), u = 2⁻²⁴ (the
// sum over the terms included in that output). The test checks that bound against an fp64 sum
// (exact to far below it), per element. A sequential fp32 sum of n terms obeys the same bound with
// d = n, which is also checked for the reference.
import Testing
@testable import GPUInfer

@Suite struct CumSumTests {
    /// The axis input: a scalar int64.
    func axis(_ a: Int64) -> Tensor { .scalar(a) }

    @Test func documentationExamples() throws {
        let x = Tensor(shape: [5], floats: [1, 2, 3, 4, 5])
        let cases: [(exclusive: Int, reverse: Int, expected: [Float])] = [
            (0, 0, [1, 3, 6, 10, 15]), (1, 0, [0, 1, 3, 6, 10]), (0, 1, [15, 14, 12, 9, 5]), (1, 1, [14, 12, 9, 5, 0]),
        ]
        for c in cases {
            try checkOp("CumSum", attributes: ["exclusive": .int(c.exclusive), "reverse": .int(c.reverse)], inputs: [x, axis(0)],
                        constant: [1], expected: [Tensor(shape: [5], floats: c.expected)], rtol: 0, atol: 0)
        }
        let m = Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        try checkOp("CumSum", inputs: [m, axis(0)], constant: [1], expected: [Tensor(shape: [2, 3], floats: [1, 2, 3, 5, 7, 9])], rtol: 0, atol: 0)
        try checkOp("CumSum", inputs: [m, axis(-1)], constant: [1], expected: [Tensor(shape: [2, 3], floats: [1, 3, 6, 4, 9, 15])], rtol: 0, atol: 0)
        // int64 data, axis as a 1-element int32 tensor.
        try checkEncodedOp("CumSum", attributes: ["exclusive": .int(1)], inputs: [Tensor(shape: [2, 3], ints: [1, -2, 3, 4, 5, -6]),
                                                                                Tensor(shape: [1], ints: [1], dtype: .int32)], constant: [1])
    }

    /// Same order as the reference: exact, on every axis and flag combination, both kernel styles.
    @Test func awkwardShapesMatchReferenceExactly() throws {
        var rng = TestRandom(seed: 41)
        let x = rng.tensor([3, 5, 7, 2])
        let xi = rng.ints([3, 5, 7], -1000, 1000)
        for a in [0, 1, 2, 3, -1, -3] {
            for exclusive in [0, 1] {
                for reverse in [0, 1] {
                    let attributes: [String: Attribute] = ["exclusive": .int(exclusive), "reverse": .int(reverse)]
                    try checkOp("CumSum", attributes: attributes, inputs: [x, axis(Int64(a))], constant: [1], rtol: 0, atol: 0)
                    if a < 3 { try checkEncodedOp("CumSum", attributes: attributes, inputs: [xi, axis(Int64(a))], constant: [1]) }
                }
            }
        }
        // Int64 sums past 2³² stay exact on the device.
        try checkEncodedOp("CumSum", inputs: [Tensor(shape: [3], ints: [Int64(1) << 40, Int64(1) << 41, -7]), axis(0)], constant: [1])
    }

    /// Per-element check of `got` against an fp64 scan of `x` with the bound γ_d·Σ|x_j| (file header).
    func checkBound(_ got: Tensor, _ x: Tensor, rows g: AxisRows, exclusive: Bool, reverse: Bool, depth: (Int) -> Int,
                    _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let u = 1.0 / Double(1 << 24)
        var worst: (excess: Double, at: Int)? = nil
        for r in 0..<g.rows {
            let idx = g.indices(r)
            var s = 0.0, a = 0.0
            for j in 0..<g.length {
                let p = idx[reverse ? g.length - 1 - j : j]
                if !exclusive { s += Double(x.floats[p]); a += abs(Double(x.floats[p])) }
                let d = Double(depth(j + 1)) * u
                let bound = d / (1 - d) * a
                let excess = abs(Double(got.floats[p]) - s) - bound
                if excess > 0 && excess > (worst?.excess ?? 0) { worst = (excess, p) }
                if exclusive { s += Double(x.floats[p]); a += abs(Double(x.floats[p])) }
            }
        }
        if let worst { Issue.record("\(what): element \(worst.at) exceeds its bound by \(worst.excess)", sourceLocation: sourceLocation) }
    }

    /// Each variant forced on odd row lengths (1, 7, 255, 257, 1000, 4099) and axes, floats within
    /// the bound, int64 exactly.
    @Test func bothVariantsOnOddLengths() throws {
        var rng = TestRandom(seed: 42)
        for shape in [[1], [7], [2, 255], [257, 3], [3, 1000], [4099]] {
            let x = rng.tensor(shape), xi = rng.ints(shape, -1 << 40, 1 << 40)
            for a in [0, shape.count - 1] {
                for (exclusive, reverse) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let attributes: [String: Attribute] = ["exclusive": .int(exclusive), "reverse": .int(reverse)]
                    let op = try #require(try OpRegistry.make(Node(name: "n", opType: "CumSum", inputs: ["x", "a"], outputs: ["y"], attributes: attributes),
                                                              opset: 14) as? CumSum)
                    for variant in [CumSum.Variant.rows, .blocked] {
                        for input in [x, xi] {
                            let g = try op.rows(shape, axis: axis(Int64(a)))
                            let got = try runEncoded("CumSum", inputs: [input], outputs: [TensorType(input.dtype, shape)]) { ctx, ins, outs in
                                try op.encode(ctx, x: try #require(ins[0]), y: outs[0], rows: g, variant: variant)
                            }[0]
                            let ref = try op.reference([input, axis(Int64(a))])[0]
                            let what = "CumSum \(variant) \(shape) axis \(a) exclusive \(exclusive) reverse \(reverse) \(input.dtype)"
                            if variant == .rows || !input.dtype.isFloat {
                                assertClose(got, ref, rtol: 0, atol: 0, what)
                            } else {
                                let blocks = (g.length + CumSum.blockLength - 1) / CumSum.blockLength
                                checkBound(got, input, rows: g, exclusive: exclusive == 1, reverse: reverse == 1,
                                           depth: { _ in 2 * CumSum.blockLength + blocks }, what)
                            }
                        }
                    }
                }
            }
        }
    }

    /// One row of 100 003 elements (the selector picks the blocked scan): device within its bound,
    /// the sequential reference within the sequential bound (d = number of terms).
    @Test func longRow() throws {
        var rng = TestRandom(seed: 43)
        let n = 100_003
        let x = rng.tensor([n])
        #expect(CumSum.variant(rows: 1, length: n) == .blocked)
        let blocks = (n + CumSum.blockLength - 1) / CumSum.blockLength
        for (exclusive, reverse) in [(0, 0), (1, 1)] {
            let model = try singleNodeModel("CumSum", attributes: ["exclusive": .int(exclusive), "reverse": .int(reverse)],
                                            inputs: [x, axis(0)], constant: [1])
            let ref = try ReferenceExecutor().run(model, inputs: ["in0": x])["out0"]!
            let g = AxisRows([n], axis: 0)
            checkBound(ref, x, rows: g, exclusive: exclusive == 1, reverse: reverse == 1, depth: { $0 }, "CumSum reference, 100k row")
            for options in OpVariants.forOp("CumSum") {
                let got = try Session(model: model, runtime: try TestDevice.require(), options: options).run(["in0": x])["out0"]!
                checkBound(got, x, rows: g, exclusive: exclusive == 1, reverse: reverse == 1, depth: { _ in 2 * CumSum.blockLength + blocks },
                           "CumSum device [\(options.summary)], 100k row")
            }
        }
        let xi = rng.ints([n], -1 << 40, 1 << 40)
        try checkEncodedOp("CumSum", attributes: ["reverse": .int(1)], inputs: [xi, axis(0)], constant: [1])
    }

    @Test func selectorTable() {
        #expect(CumSum.variant(rows: 1, length: 7) == .rows)
        #expect(CumSum.variant(rows: 1, length: 2047) == .rows)
        #expect(CumSum.variant(rows: 1, length: 2048) == .blocked)
        #expect(CumSum.variant(rows: 255, length: 100_000) == .blocked)
        #expect(CumSum.variant(rows: 256, length: 100_000) == .rows)
    }

    @Test func badAttributesAndAxesAreRejected() throws {
        let x = Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        #expect(throws: GPUInferError.self) {
            try checkOp("CumSum", attributes: ["exclusive": .int(2)], inputs: [x, axis(0)], constant: [1])
        }
        #expect(throws: GPUInferError.self) { try checkOp("CumSum", inputs: [x, axis(2)], constant: [1]) }
        #expect(throws: GPUInferError.self) { try checkOp("CumSum", inputs: [x, Tensor(shape: [2], ints: [0, 1])], constant: [1]) }
    }
}
