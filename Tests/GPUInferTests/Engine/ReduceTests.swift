// Reduce*: hand-computed values, opset forms of `axes`, empty axes, zero-size axes, int64, and
// device vs reference over awkward shapes and axis sets (both kernel variants).
import Foundation
import Testing
@testable import GPUInfer

/// Runs one operator's `encode` directly on the test device, bypassing the planner (which folds
/// nodes whose inputs are all integers), and checks the outputs against its `reference`.
@discardableResult
func checkEncodedOp(_ opType: String, attributes: [String: Attribute] = [:], inputs: [Tensor?], constant: Set<Int> = [],
                    outputs: Int = 1, opset: Int = 17, rtol: Float = 0, atol: Float = 0,
                    sourceLocation: SourceLocation = #_sourceLocation) throws -> [Tensor] {
    let runtime = try TestDevice.require(sourceLocation: sourceLocation)
    let node = Node(name: "node", opType: opType, inputs: inputs.indices.map { inputs[$0] == nil ? "" : "in\($0)" },
                    outputs: (0..<outputs).map { "out\($0)" }, attributes: attributes)
    let op = try OpRegistry.make(node, opset: opset)
    let consts = inputs.indices.map { constant.contains($0) ? inputs[$0] : nil }
    let types = try op.inferTypes(inputs.map { $0.map { TensorType($0.dtype, $0.shape) } }, constants: consts)
    let constIdx = Set(type(of: op).constantInputs)
    let ins: [DeviceValue?] = try inputs.enumerated().map { i, t in
        guard let t, !constIdx.contains(i) else { return nil }
        let b = t.dtype.isFloat ? try runtime.buffer(t.floats) : try runtime.buffer(t.ints)
        return DeviceValue(buffer: b, type: TensorType(t.dtype, t.shape))
    }
    let outs = try types.map { DeviceValue(buffer: try runtime.buffer(bytes: $0.count * $0.dtype.deviceByteSize), type: $0) }
    let ctx = EncodeContext(runtime: runtime, node: node)
    try op.encode(ctx, inputs: ins, constants: consts, outputs: outs)
    for step in ctx.steps {
        _ = try step.enqueue(on: runtime, timed: false)
    }
    let reference = try op.reference(inputs)
    for (i, o) in outs.enumerated() {
        let t = o.type.dtype.isFloat
            ? Tensor(shape: o.type.shape, floats: try runtime.read(o.buffer, count: o.count, as: Float.self))
            : Tensor(shape: o.type.shape, ints: try runtime.read(o.buffer, count: o.count, as: Int64.self), dtype: o.type.dtype)
        assertClose(t, reference[i], rtol: rtol, atol: atol, "\(opType) direct OpenCL output \(i) vs reference", sourceLocation: sourceLocation)
    }
    return reference
}

/// An int64 axes tensor.
func axesTensor(_ axes: [Int]) -> Tensor { Tensor(shape: [axes.count], ints: axes.map(Int64.init)) }

@Suite struct ReduceTests {
    static let kinds = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                        "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"]
    let x23 = Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])

    /// Runs `op` at opset 18 with axes as a constant input (none when nil).
    @discardableResult
    func reduce(_ op: String, _ x: Tensor, axes: [Int]?, keepdims: Int = 1, noop: Int = 0, expected: [Float]? = nil,
                shape: [Int]? = nil, rtol: Float = 1e-6, atol: Float = 1e-6,
                sourceLocation: SourceLocation = #_sourceLocation) throws -> Tensor {
        let attrs: [String: Attribute] = ["keepdims": .int(keepdims), "noop_with_empty_axes": .int(noop)]
        let exp = expected.map { [Tensor(shape: shape ?? [$0.count], floats: $0)] }
        return try checkOp(op, attributes: attrs, inputs: [x, axes.map(axesTensor)], constant: [1], opset: 18,
                           expected: exp, rtol: rtol, atol: atol, sourceLocation: sourceLocation)[0]
    }

    @Test func handComputedRowReductions() throws {
        // Rows [1,2,3] and [4,5,6] over axis 1 (and −1).
        let e: Float = 2.718281828459045
        let cases: [(String, [Float])] = [
            ("ReduceSum", [6, 15]), ("ReduceMean", [2, 5]), ("ReduceMax", [3, 6]), ("ReduceMin", [1, 4]),
            ("ReduceProd", [6, 120]), ("ReduceL1", [6, 15]), ("ReduceL2", [Float(14).squareRoot(), Float(77).squareRoot()]),
            ("ReduceSumSquare", [14, 77]), ("ReduceLogSum", [log(6), log(15)]),
            ("ReduceLogSumExp", [log(e + e * e + e * e * e), log(pow(e, 4) + pow(e, 5) + pow(e, 6))]),
        ]
        for (op, values) in cases {
            try reduce(op, x23, axes: [1], expected: values, shape: [2, 1])
            try reduce(op, x23, axes: [-1], keepdims: 0, expected: values, shape: [2])
        }
        let neg = Tensor(shape: [2, 3], floats: [-1, 2, -3, 4, -5, 6])
        try reduce("ReduceL1", neg, axes: [0], keepdims: 0, expected: [5, 7, 9])
        try reduce("ReduceSum", neg, axes: [0], keepdims: 0, expected: [3, -3, 3])
        try reduce("ReduceMax", neg, axes: [0], expected: [4, 2, 6], shape: [1, 3])
        try reduce("ReduceMin", neg, axes: [0], expected: [-1, -5, -3], shape: [1, 3])
        try reduce("ReduceProd", neg, axes: [0], expected: [-4, -10, -18], shape: [1, 3])
    }

    @Test func emptyAxesReduceEverythingUnlessNoop() throws {
        try reduce("ReduceSum", x23, axes: nil, expected: [21], shape: [1, 1])
        try reduce("ReduceSum", x23, axes: [], keepdims: 0, expected: [21], shape: [])
        try reduce("ReduceMean", x23, axes: [], expected: [3.5], shape: [1, 1])
        // noop_with_empty_axes: every output element reduces its one input element.
        try reduce("ReduceSum", x23, axes: nil, noop: 1, expected: x23.floats, shape: [2, 3])
        try reduce("ReduceSumSquare", x23, axes: [], noop: 1, expected: [1, 4, 9, 16, 25, 36], shape: [2, 3])
        try reduce("ReduceL2", Tensor(shape: [3], floats: [-2, 0, 3]), axes: [], noop: 1, expected: [2, 0, 3])
        try reduce("ReduceLogSumExp", x23, axes: nil, noop: 1, expected: x23.floats, shape: [2, 3])
    }

    @Test func axesAsAttributeInOlderOpsets() throws {
        // ReduceSum took `axes` as an attribute before opset 13, the others before 18.
        try checkOp("ReduceSum", attributes: ["axes": .ints([0]), "keepdims": .int(0)], inputs: [x23], opset: 11,
                    expected: [Tensor(shape: [3], floats: [5, 7, 9])])
        try checkOp("ReduceSum", attributes: ["keepdims": .int(0)], inputs: [x23, axesTensor([0])], constant: [1], opset: 13,
                    expected: [Tensor(shape: [3], floats: [5, 7, 9])])
        try checkOp("ReduceMean", attributes: ["axes": .ints([-1])], inputs: [x23], opset: 13,
                    expected: [Tensor(shape: [2, 1], floats: [2, 5])])
        try checkOp("ReduceMax", attributes: ["axes": .ints([0, 1]), "keepdims": .int(0)], inputs: [x23], opset: 11,
                    expected: [Tensor(shape: [], floats: [6])])
        try checkOp("ReduceLogSumExp", inputs: [Tensor(shape: [2], floats: [0, 0])], opset: 11,
                    expected: [Tensor(shape: [1], floats: [log(2)])])
    }

    @Test func zeroSizeAxisGivesIdentity() throws {
        let x = Tensor(shape: [2, 0, 3], floats: [])
        let cases: [(String, Float)] = [
            ("ReduceSum", 0), ("ReduceMax", -.infinity), ("ReduceMin", .infinity), ("ReduceProd", 1), ("ReduceL1", 0),
            ("ReduceL2", 0), ("ReduceSumSquare", 0), ("ReduceLogSum", -.infinity), ("ReduceLogSumExp", -.infinity),
            ("ReduceMean", .nan),
        ]
        for (op, v) in cases {
            try reduce(op, x, axes: [1], keepdims: 0, expected: [Float](repeating: v, count: 6), shape: [2, 3])
        }
        // Reducing a non-empty axis of an empty tensor gives an empty result.
        try reduce("ReduceSum", x, axes: [2], expected: [], shape: [2, 0, 1])
    }

    @Test func specialValues() throws {
        let x = Tensor(shape: [4, 2], floats: [1, .nan, -.infinity, -.infinity, .infinity, 1, -.infinity, 2])
        try reduce("ReduceMax", x, axes: [1], keepdims: 0, expected: [.nan, -.infinity, .infinity, 2])
        try reduce("ReduceMin", x, axes: [1], keepdims: 0, expected: [.nan, -.infinity, 1, -.infinity])
        try reduce("ReduceSum", x, axes: [1], keepdims: 0, expected: [.nan, -.infinity, .infinity, -.infinity])
        try reduce("ReduceLogSumExp", x, axes: [1], keepdims: 0, expected: [.nan, -.infinity, .infinity, 2 + log(1 + exp(-Float.infinity))])
    }

    @Test func invalidAxesAreRejected() throws {
        #expect(throws: GPUInferError.self) { try reduce("ReduceSum", x23, axes: [2]) }
        #expect(throws: GPUInferError.self) { try reduce("ReduceSum", x23, axes: [1, -1]) }
        #expect(throws: GPUInferError.self) {
            try checkOp("ReduceLogSum", inputs: [Tensor(shape: [2], ints: [1, 2])], opset: 18)
        }
    }

    @Test func int64Reductions() throws {
        let x = Tensor(shape: [2, 3], ints: [1, -2, 3, 4, 5, -6])
        let cases: [(String, [Int64])] = [("ReduceSum", [2, 3]), ("ReduceMax", [3, 5]), ("ReduceMin", [-2, -6]), ("ReduceProd", [-6, -120])]
        for (op, values) in cases {
            let attrs: [String: Attribute] = ["keepdims": .int(0)]
            try checkOp(op, attributes: attrs, inputs: [x, axesTensor([1])], constant: [1], opset: 18,
                        expected: [Tensor(shape: [2], ints: values)])
            try checkEncodedOp(op, attributes: attrs, inputs: [x, axesTensor([1])], constant: [1], opset: 18)
        }
        // Device vs reference on an awkward shape, both kernel variants (all axes: 1005 elements).
        var rng = TestRandom(seed: 7)
        let big = rng.ints([3, 67, 5], -1000, 1000)
        let small = rng.ints([3, 4, 5], -3, 3)
        for op in ["ReduceSum", "ReduceMax", "ReduceMin"] {
            for axes in [[1], [0, 2], [-1], []] {
                try checkEncodedOp(op, inputs: [big, axesTensor(axes)], constant: [1], opset: 18)
            }
        }
        for axes in [[1], [0, 2], []] {
            try checkEncodedOp("ReduceProd", inputs: [small, axesTensor(axes)], constant: [1], opset: 18)
        }
    }

    @Test func integerEmptyReductionsGiveTheTypesIdentity() throws {
        // Max over nothing is the type's lowest value (false for bool), Min its highest.
        let cases: [(String, DType, Int64)] = [
            ("ReduceMax", .bool, 0), ("ReduceMin", .bool, 1), ("ReduceMax", .int32, Int64(Int32.min)),
            ("ReduceMin", .uint8, 255), ("ReduceMax", .int64, .min), ("ReduceSum", .int32, 0), ("ReduceProd", .int64, 1),
        ]
        for (op, dtype, v) in cases {
            let x = Tensor(shape: [2, 0], ints: [], dtype: dtype)
            let attrs: [String: Attribute] = ["keepdims": .int(0)]
            try checkOp(op, attributes: attrs, inputs: [x, axesTensor([1])], constant: [1], opset: 20,
                        expected: [Tensor(shape: [2], ints: [v, v], dtype: dtype)])
            try checkEncodedOp(op, attributes: attrs, inputs: [x, axesTensor([1])], constant: [1], opset: 20)
        }
        // Bool Max/Min over real elements are any/all.
        let b = Tensor(shape: [2, 3], ints: [0, 1, 0, 1, 1, 1], dtype: .bool)
        try checkEncodedOp("ReduceMax", inputs: [b, axesTensor([1])], constant: [1], opset: 20)
        try checkOp("ReduceMin", inputs: [b, axesTensor([1])], constant: [1], opset: 20,
                    expected: [Tensor(shape: [2, 1], ints: [0, 1], dtype: .bool)])
    }

    /// Device-vs-reference tolerance for reducing K elements (reference in Double). Sum-like
    /// kinds: each lane's Kahan sum errs by ≤ (2ε + O(Kε²))·Σ|x| and the work-group tree
    /// (log2(64) = 6 levels) adds ≤ 6ε·Σ|x|, ε = 2⁻²⁴; the data is non-negative (Σ|x| = |Σx|), so
    /// the sum is within 8ε ≈ 4.8e-7 relative whatever K, and the final ÷, √ or log adds ≤ 3 ulp:
    /// rtol 1e-6 (also absolute, for logs near 0). Prod is not compensated: K − 1 roundings of
    /// ε each, rtol K·6e-8. Max/Min are exact.
    func tolerance(_ op: String, _ k: Int) -> (rtol: Float, atol: Float) {
        switch op {
        case "ReduceMax", "ReduceMin": return (0, 0)
        case "ReduceProd": return (Float(k) * 6e-8 + 1e-7, 0)
        default: return (1e-6, 1e-6)
        }
    }

    /// Data for `op`: non-negative for sum-like kinds (no cancellation), near 1 for products,
    /// signed for max/min.
    func data(_ op: String, _ shape: [Int], _ rng: inout TestRandom) -> Tensor {
        switch op {
        case "ReduceMax", "ReduceMin", "ReduceLogSumExp": return rng.tensor(shape, -1.5, 1.5)
        case "ReduceProd": return rng.tensor(shape, 0.9, 1.1)
        default: return rng.tensor(shape, 0, 1)
        }
    }

    @Test(arguments: ReduceTests.kinds) func deviceMatchesReferenceOnAwkwardShapes(op: String) throws {
        var rng = TestRandom(seed: 11)
        let cases: [([Int], [[Int]])] = [
            ([2, 3, 5, 7], [[0], [1], [-1], [0, 2], [1, 3], [0, 3], [1, 2], [], [0, 1, 2, 3]]),
            ([3, 67, 5], [[1], [0, 2], [-1], [0], []]),          // [] and [0,2] take the work-group kernel
            ([4, 300], [[1], [0], [-2]]),                        // 300 ≥ 128: work-group kernel
            ([300, 3], [[0]]),                                   // strided work-group kernel
            ([7], [[0], []]),
            ([2, 1, 3, 1, 4], [[1, 3], [0, 4], [-1, -3], [2]]),  // size-1 dims, rank 5
        ]
        for (shape, axesList) in cases {
            let x = data(op, shape, &rng)
            for axes in axesList {
                let k = axes.isEmpty ? x.count : axes.reduce(1) { $0 * shape[Shape.axis($1, rank: shape.count)!] }
                let tol = tolerance(op, k)
                for keepdims in [0, 1] {
                    try reduce(op, x, axes: axes, keepdims: keepdims, rtol: tol.rtol, atol: tol.atol)
                }
            }
        }
    }

    @Test func geometryCoalescesDims() {
        // Reducing axes 1 and 2 of [2,3,4,5]: one reduced run of 12 with stride 5, kept [2,5].
        let g = ReduceGeometry(shape: [2, 3, 4, 5], axes: [1, 2], keepDims: true)
        #expect(g.outShape == [2, 1, 1, 5])
        #expect(g.reduced.map(\.dim) == [12] && g.reduced.map(\.stride) == [5])
        #expect(g.kept.map(\.dim) == [2, 5] && g.kept.map(\.stride) == [60, 1])
        #expect(g.offsets(of: 6) == (0..<12).map { 60 + 1 + 5 * $0 })
        let all = ReduceGeometry(shape: [2, 3], axes: [0, 1], keepDims: false)
        #expect(all.outShape == [] && all.reduced.map(\.dim) == [6] && all.kept.isEmpty)
    }
}
