// The GPU style's local-memory kernels (Kernels/conv_gemm.cl conv2d_gemm and gemm_local,
// Kernels/conv_depthwise.cl conv2d_dw_local) against the reference on the test device, under
// tiles that leave every kind of tail: rows (output channels) and columns (pixels) that do not
// fill a tile, reductions that end inside a slice, 1 to 8 outputs per work-item in each direction,
// slices 8 to 32 deep. Tolerance: the conv summation bound of ConvTests (√K · 1e-5 for K terms),
// the kernels sum in the reference's order.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct ConvGemmTests {
    static let tiles = [
        LocalGemmTile(tsm: 64, tsn: 64, tsk: 16, wptm: 4, wptn: 4), LocalGemmTile(tsm: 4, tsn: 64, tsk: 8, wptm: 1, wptn: 4),
        LocalGemmTile(tsm: 128, tsn: 16, tsk: 32, wptm: 8, wptn: 1), LocalGemmTile(tsm: 16, tsn: 128, tsk: 16, wptm: 1, wptn: 8),
        LocalGemmTile(tsm: 32, tsn: 32, tsk: 8, wptm: 2, wptn: 2),
    ]
    static let variants = tiles.map { t in OpVariants.style(.gpu) { $0.localTile = t } }

    /// conv2d_gemm: padded, strided, dilated, grouped (4 and 9 outputs per group), pointwise, 1-D,
    /// a batch of 3, a fused ReLU6.
    @Test func implicitGemmUnderEveryTile() throws {
        var rng = TestRandom(seed: 5)
        let cases: [(x: [Int], w: [Int], a: [String: Any])] = [
            ([1, 7, 13, 11], [37, 7, 3, 3], ["pads": [1, 1, 1, 1]]),
            ([3, 5, 9, 10], [11, 5, 3, 2], ["strides": [2, 1], "pads": [0, 1, 2, 0], "dilations": [1, 2]]),
            ([2, 8, 7, 9], [8, 2, 3, 3], ["group": 4, "pads": [1, 1, 1, 1]]),
            ([1, 6, 5, 5], [18, 3, 1, 1], ["group": 2]),
            ([1, 33, 6, 7], [70, 33, 1, 1], [:]),
            ([2, 4, 29], [6, 4, 5], ["pads": [2, 2], "strides": [3]]),
            ([1, 3, 17, 15], [16, 3, 7, 7], ["strides": [2, 2], "pads": [3, 3, 3, 3], FusedActivation.minAttribute: Float(0),
                                              FusedActivation.maxAttribute: Float(6)]),
        ]
        for c in cases {
            let k = c.w.dropFirst().reduce(1, *)
            try checkOp("Conv", attributes: attrs(c.a), inputs: [rng.tensor(c.x), rng.tensor(c.w), rng.tensor([c.w[0]])], constant: [1, 2],
                        rtol: sumTolerance(k), atol: sumTolerance(k), variants: Self.variants)
        }
    }

    /// gemm_local: both layouts of A (transA) and B (transB), a bias row and a scalar C, batched
    /// MatMul with a broadcast operand, a single row (a fully connected layer at batch 1).
    @Test func localGemmUnderEveryTile() throws {
        var rng = TestRandom(seed: 6)
        for (ta, tb) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            let (m, n, k) = (19, 70, 45)
            try checkOp("Gemm", attributes: ["transA": .int(ta), "transB": .int(tb), "alpha": .float(0.5), "beta": .float(2)],
                        inputs: [rng.tensor(ta == 1 ? [k, m] : [m, k]), rng.tensor(tb == 1 ? [n, k] : [k, n]), rng.tensor(ta == tb ? [n] : [1])],
                        constant: [1, 2], rtol: sumTolerance(k) * 2, atol: sumTolerance(k) * 2, variants: Self.variants)
        }
        try checkOp("MatMul", inputs: [rng.tensor([2, 3, 5, 33]), rng.tensor([33, 17])], rtol: sumTolerance(33), atol: sumTolerance(33),
                    variants: Self.variants)
        try checkOp("Gemm", attributes: ["transB": .int(1)], inputs: [rng.tensor([1, 130]), rng.tensor([9, 130]), rng.tensor([9])], constant: [1, 2],
                    rtol: sumTolerance(130), atol: sumTolerance(130), variants: Self.variants)
    }

    /// conv2d_dw_local: 3×3 stride 1 and 2, 5×5 and 7×7 stride 2, strides (2, 1) and (1, 2)
    /// (PaddleOCR's), a 1×1 and a 3×5 kernel, planes
    /// from 1×1 to several 16×16 blocks, asymmetric pads, no bias, a fused ReLU6, in both styles.
    @Test func localDepthwise() throws {
        var rng = TestRandom(seed: 7)
        let variants = [OpVariants.style(.gpu), OpVariants.style(.cpu) { $0.convDepthwise = .local }]
        let cases: [(x: [Int], k: [Int], a: [String: Any], bias: Bool)] = [
            ([2, 3, 37, 21], [3, 3], ["pads": [1, 1, 1, 1]], true),
            ([1, 4, 33, 34], [3, 3], ["strides": [2, 2], "pads": [0, 0, 1, 1]], true),
            ([1, 2, 19, 23], [5, 5], ["strides": [2, 2], "pads": [2, 1, 2, 2]], false),
            ([1, 3, 12, 9], [7, 7], ["strides": [2, 2], "pads": [3, 3, 3, 3], FusedActivation.minAttribute: Float(0),
                                     FusedActivation.maxAttribute: Float(6)], true),
            ([1, 5, 1, 1], [3, 3], ["pads": [1, 1, 1, 1]], true),
            ([1, 3, 6, 40], [1, 1], [:], true),
            ([2, 2, 11, 10], [3, 5], ["pads": [1, 2, 1, 2]], true),
            ([1, 3, 10, 40], [3, 3], ["strides": [2, 1], "pads": [1, 1, 1, 1]], true),
            ([1, 2, 21, 9], [5, 3], ["strides": [1, 2], "pads": [2, 1, 2, 1]], true),
        ]
        for c in cases {
            let ch = c.x[1]
            var a = c.a
            a["group"] = ch
            let inputs = [rng.tensor(c.x, -3, 3), rng.tensor([ch, 1] + c.k)] + (c.bias ? [rng.tensor([ch])] : [])
            let k = c.k.reduce(1, *)
            try checkOp("Conv", attributes: attrs(a), inputs: inputs, constant: Set(1..<inputs.count), rtol: 3 * sumTolerance(k),
                        atol: 3 * sumTolerance(k), variants: variants)
        }
    }

    /// The default tile follows the output's rows and columns; every default fits a 256-item device.
    @Test func defaultTiles() {
        #expect(LocalGemmTile.defaultTile(m: 3, n: 1000, maxWorkGroup: 1024) == LocalGemmTile(tsm: 4, tsn: 64, tsk: 16, wptm: 1, wptn: 4))
        #expect(LocalGemmTile.defaultTile(m: 24, n: 100, maxWorkGroup: 1024) == LocalGemmTile(tsm: 32, tsn: 64, tsk: 16, wptm: 2, wptn: 4))
        #expect(LocalGemmTile.defaultTile(m: 546, n: 10, maxWorkGroup: 256) == LocalGemmTile(tsm: 64, tsn: 16, tsk: 16, wptm: 4, wptn: 1))
        #expect(LocalGemmTile.defaultTile(m: 64, n: 64, maxWorkGroup: 128) == LocalGemmTile(tsm: 64, tsn: 64, tsk: 16, wptm: 8, wptn: 8))
        for m in [1, 5, 16, 17, 33, 64, 1000] {
            for n in [1, 16, 17, 40, 64, 5000] {
                #expect(LocalGemmTile.defaultTile(m: m, n: n, maxWorkGroup: 256).fits(maxWorkGroup: 256, localMemory: 16 << 10))
            }
        }
        #expect(LocalGemmTile(parsing: "64x64x16/4x4") == LocalGemmTile(tsm: 64, tsn: 64, tsk: 16, wptm: 4, wptn: 4))
        #expect(LocalGemmTile(parsing: "64x64x16/4") == nil && LocalGemmTile(parsing: "-4x64x16/1x4") == nil)
    }
}
