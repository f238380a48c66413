// TopK's two device kernels (per-row insertion, work-group chunk sort + merges), each forced on
// rows of 1, 7, 1000 and 20011 elements with k = 1, k in between and k = n, ties, NaNs, both
// `largest` values, a non-last axis and int64 input; the selector table; and a detection-sized
// row (20011 scores, k = 300) through a session in both kernel styles. Every comparison is exact:
// TopK only selects and orders, and the order (value, then lower index; NaN above every number
// when largest, last otherwise) is total, so values and indices must equal the reference's.
import Testing
@testable import GPUInfer

@Suite struct TopKVariantTests {
    /// The K input: a 1-element int64 tensor.
    func kTensor(_ k: Int) -> Tensor { Tensor(shape: [1], ints: [Int64(k)]) }

    /// Values in −4…4 rounded (ties everywhere) with a NaN at every 97th position.
    func scores(_ shape: [Int], _ rng: inout TestRandom) -> Tensor {
        let v = rng.tensor(shape, -4, 4).floats.enumerated().map { $0.offset % 97 == 13 ? Float.nan : $0.element.rounded() }
        return Tensor(shape: shape, floats: v)
    }

    /// Runs `variant` directly and compares both outputs with the reference exactly.
    func check(_ x: Tensor, axis: Int, k: Int, largest: Int, variant: TopK.Variant, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let node = Node(name: "n", opType: "TopK", inputs: ["x", "k"], outputs: ["v", "i"], attributes: ["axis": .int(axis), "largest": .int(largest)])
        let op = try #require(try OpRegistry.make(node, opset: 11) as? TopK)
        let (g, _, out) = try op.geometry(x.shape, k: kTensor(k))
        let ref = try op.reference([x, kTensor(k)])
        let got = try runEncoded("TopK", inputs: [x], outputs: [TensorType(x.dtype, out), TensorType(.int64, out)]) { ctx, ins, outs in
            try op.encode(ctx, x: try #require(ins[0]), outputs: outs, rows: g, k: k, variant: variant)
        }
        let what = "TopK \(variant) \(x.dtype)\(x.shape) axis \(axis) k \(k) largest \(largest)"
        assertClose(got[0], ref[0], rtol: 0, atol: 0, what + " values", sourceLocation: sourceLocation)
        assertClose(got[1], ref[1], rtol: 0, atol: 0, what + " indices", sourceLocation: sourceLocation)
    }

    @Test func bothVariantsOnAwkwardRows() throws {
        var rng = TestRandom(seed: 51)
        for n in [1, 7, 1000, 20011] {
            let x = scores([n], &rng), xi = rng.ints([n], -5, 5)
            for k in Set([1, min(n, 3), min(n, 300), n]).sorted() {
                for largest in [1, 0] {
                    for variant in [TopK.Variant.rows, .workGroup] {
                        // The insertion kernel is O(n·k) in one work-item: k = n only up to 1000.
                        if variant == .rows && n * k > 10_000_000 { continue }
                        try check(x, axis: 0, k: k, largest: largest, variant: variant)
                        try check(xi, axis: 0, k: k, largest: largest, variant: variant)
                    }
                }
            }
        }
    }

    /// Several rows with a stride (axis 1 of [2, 1031, 3]: 6 rows, inner 3), all-equal rows, and
    /// a row of only NaNs and infinities.
    @Test func stridedRowsTiesAndSpecialValues() throws {
        var rng = TestRandom(seed: 52)
        let x = scores([2, 1031, 3], &rng)
        for k in [1, 513, 1031] {
            for largest in [1, 0] {
                for variant in [TopK.Variant.rows, .workGroup] {
                    try check(x, axis: 1, k: k, largest: largest, variant: variant)
                }
            }
        }
        let same = Tensor(shape: [3, 600], floats: [Float](repeating: 2, count: 1800))
        let special = Tensor(shape: [700], floats: (0..<700).map { [Float.nan, .infinity, -.infinity, 0, -0.0][$0 % 5] })
        for variant in [TopK.Variant.rows, .workGroup] {
            try check(same, axis: -1, k: 599, largest: 1, variant: variant)
            try check(special, axis: 0, k: 700, largest: 1, variant: variant)
            try check(special, axis: 0, k: 351, largest: 0, variant: variant)
        }
    }

    /// Detection post-processing: 20011 scores, k = 300, through a session in both kernel styles
    /// (the GPU style picks the work-group kernel, the CPU style the insertion).
    @Test func detectionSizedRow() throws {
        var rng = TestRandom(seed: 53)
        #expect(TopK.variant(rows: 1, length: 20011, k: 300, gpuStyle: true) == .workGroup)
        #expect(TopK.variant(rows: 1, length: 20011, k: 300, gpuStyle: false) == .rows)
        try checkOp("TopK", inputs: [rng.tensor([1, 20011], 0, 1), kTensor(300)], constant: [1], outputs: 2, rtol: 0, atol: 0)
        try checkOp("TopK", attributes: ["largest": .int(0)], inputs: [scores([20011], &rng), kTensor(300)], constant: [1], outputs: 2,
                    rtol: 0, atol: 0)
        // k = 1000: the work-group kernel in both styles.
        #expect(TopK.variant(rows: 1, length: 20011, k: 1000, gpuStyle: false) == .workGroup)
        try checkOp("TopK", inputs: [scores([1, 20011], &rng), kTensor(1000)], constant: [1], outputs: 2, rtol: 0, atol: 0)
    }

    @Test func selectorTable() {
        for gpu in [false, true] {
            #expect(TopK.variant(rows: 1000, length: 256, k: 256, gpuStyle: gpu) == .rows)
            #expect(TopK.variant(rows: 256, length: 20000, k: 8, gpuStyle: gpu) == .rows)
            #expect(TopK.variant(rows: 1, length: 20011, k: 20011, gpuStyle: gpu) == .workGroup)
        }
        #expect(TopK.variant(rows: 1, length: 257, k: 1, gpuStyle: true) == .workGroup)
        #expect(TopK.variant(rows: 255, length: 20000, k: 8, gpuStyle: true) == .workGroup)
        #expect(TopK.variant(rows: 256, length: 20000, k: 9, gpuStyle: true) == .workGroup)
        #expect(TopK.variant(rows: 255, length: 20000, k: 8, gpuStyle: false) == .rows)
        #expect(TopK.variant(rows: 1, length: 1 << 15, k: 256, gpuStyle: false) == .rows)
        #expect(TopK.variant(rows: 1, length: 1 << 15, k: 257, gpuStyle: false) == .workGroup)
        #expect(TopK.chunk(maxWorkGroupSize: 4096) == 512)
        #expect(TopK.chunk(maxWorkGroupSize: 100) == 128)
    }
}
