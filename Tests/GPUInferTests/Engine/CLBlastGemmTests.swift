// StridedGemm through CLBlast (GPUINFER_GEMM=clblast; auto on GPUs CLBlast has tuned parameters
// for) against the reference on the test device: the layouts CLBlast can and cannot express, one
// GEMM, strided batches, batches by offsets (a broadcast B batch), every transpose, alpha and beta
// with C as a row, a column, a scalar and a full matrix, a fused activation. Tolerance: the
// summation bound of ConvTests (√K · 1e-5 for K terms), twice — CLBlast sums K in its own order
// (K split over unrolled slices), not the reference's.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct CLBlastGemmTests {
    static let variants = [OpVariants.style(.gpu) { $0.gemm = .clblast }, OpVariants.style(.cpu) { $0.gemm = .clblast }]

    /// Row-major, transposed, and what CLBlast cannot take (overlapping or broadcast rows, two strides).
    @Test func matrixLayouts() {
        typealias L = CLBlastGemmLayout
        #expect(L.matrix(rows: 5, cols: 7, rowStride: 7, colStride: 1)! == (false, 7))
        #expect(L.matrix(rows: 5, cols: 7, rowStride: 9, colStride: 1)! == (false, 9))
        #expect(L.matrix(rows: 5, cols: 7, rowStride: 1, colStride: 5)! == (true, 5))
        #expect(L.matrix(rows: 1, cols: 7, rowStride: 0, colStride: 1)! == (false, 7))
        #expect(L.matrix(rows: 5, cols: 1, rowStride: 1, colStride: 0)! == (false, 1))
        #expect(L.matrix(rows: 5, cols: 7, rowStride: 0, colStride: 1) == nil)
        #expect(L.matrix(rows: 5, cols: 7, rowStride: 3, colStride: 1) == nil)
        #expect(L.matrix(rows: 5, cols: 7, rowStride: 14, colStride: 2) == nil)

        var g = StridedGemm(m: 5, n: 4, k: 7, aStride: (7, 1), bStride: (4, 1))
        #expect(g.clblastLayout?.batches == .single)
        g.batchDims = [2, 3]
        g.aBatch = [105, 35]
        g.bBatch = [84, 28]
        #expect(g.clblastLayout?.batches == .strided(a: 35, b: 28))
        g.bBatch = [0, 28]
        #expect(g.clblastLayout?.batches == .offsets(a: [0, 35, 70, 105, 140, 175], b: [0, 28, 56, 0, 28, 56]))
        g.k = 0
        #expect(g.clblastLayout == nil)
    }

    /// Gemm in every transpose with alpha and beta and C as a row, a scalar, a column and a full
    /// matrix; a fully connected layer at batch 1.
    @Test func gemm() throws {
        var rng = TestRandom(seed: 41)
        let (m, n, k) = (19, 70, 45)
        let cShapes = [[n], [1], [m, 1], [m, n]]
        for (i, (ta, tb)) in [(0, 0), (1, 0), (0, 1), (1, 1)].enumerated() {
            try checkOp("Gemm", attributes: ["transA": .int(ta), "transB": .int(tb), "alpha": .float(0.5), "beta": .float(2)],
                        inputs: [rng.tensor(ta == 1 ? [k, m] : [m, k]), rng.tensor(tb == 1 ? [n, k] : [k, n]), rng.tensor(cShapes[i])],
                        constant: [1, 2], rtol: sumTolerance(k) * 2, atol: sumTolerance(k) * 2, variants: Self.variants)
        }
        try checkOp("Gemm", attributes: ["transB": .int(1)], inputs: [rng.tensor([1, 130]), rng.tensor([9, 130])], constant: [1],
                    rtol: sumTolerance(130) * 2, atol: sumTolerance(130) * 2, variants: Self.variants)
    }

    /// MatMul: B one matrix (A's batch folded into rows), batches that flatten to one stride, and a
    /// broadcast batch of B (offsets per batch).
    @Test func batchedMatMul() throws {
        var rng = TestRandom(seed: 42)
        for (a, b) in [([2, 3, 5, 33], [33, 17]), ([2, 3, 5, 7], [2, 3, 7, 4]), ([2, 3, 5, 7], [3, 7, 4]), ([4, 1, 6, 9], [1, 3, 9, 5])] {
            let k = a.last!
            try checkOp("MatMul", inputs: [rng.tensor(a), rng.tensor(b)], rtol: sumTolerance(k) * 2, atol: sumTolerance(k) * 2,
                        variants: Self.variants)
        }
    }

    /// A Gemm with a fused ReLU6 (the epilogue applies it after CLBlast).
    @Test func fusedActivation() throws {
        var rng = TestRandom(seed: 43)
        let attributes: [String: Attribute] = ["transB": .int(1), FusedActivation.minAttribute: .float(0), FusedActivation.maxAttribute: .float(6)]
        try checkOp("Gemm", attributes: attributes, inputs: [rng.tensor([3, 40], -4, 4), rng.tensor([21, 40]), rng.tensor([21])], constant: [1, 2],
                    rtol: sumTolerance(40) * 2, atol: sumTolerance(40) * 2, variants: Self.variants)
    }
}
