// Gemm and MatMul: hand-computed references and device vs reference (see sumTolerance in ConvTests).
import Testing
@testable import GPUInfer

@Suite struct GemmTests {
    let a22 = Tensor(shape: [2, 2], floats: [1, 2, 3, 4]), b22 = Tensor(shape: [2, 2], floats: [5, 6, 7, 8])

    @Test func gemmHandComputed() throws {
        // A·B = [[19, 22], [43, 50]]; 2·A·B + 0.5·[1, 2] broadcast over rows.
        try checkOp("Gemm", attributes: attrs(["alpha": Float(2), "beta": Float(0.5)]), inputs: [a22, b22, Tensor(shape: [2], floats: [1, 2])],
                    expected: [Tensor(shape: [2, 2], floats: [38.5, 45, 86.5, 101])], rtol: 0, atol: 0)
        // Aᵀ·B = [[26, 30], [38, 44]]; A·Bᵀ = [[17, 23], [39, 53]].
        try checkOp("Gemm", attributes: attrs(["transA": 1]), inputs: [a22, b22], expected: [Tensor(shape: [2, 2], floats: [26, 30, 38, 44])], rtol: 0, atol: 0)
        try checkOp("Gemm", attributes: attrs(["transB": 1]), inputs: [a22, b22, Tensor(shape: [2, 1], floats: [1, -1])],
                    expected: [Tensor(shape: [2, 2], floats: [18, 24, 38, 52])], rtol: 0, atol: 0)
    }

    @Test func gemmAllTransposesAndBiasShapes() throws {
        var rng = TestRandom(seed: 1)
        let (m, n, k) = (13, 17, 29)
        let tol = sumTolerance(k)
        for ta in [0, 1] {
            for tb in [0, 1] {
                let a = rng.tensor(ta == 1 ? [k, m] : [m, k]), b = rng.tensor(tb == 1 ? [n, k] : [k, n])
                for c in [nil, [], [1], [n], [1, n], [m, 1], [m, n]] as [[Int]?] {
                    let inputs: [Tensor?] = [a, b] + (c.map { [rng.tensor($0)] } ?? [])
                    let y = try checkOp("Gemm", attributes: attrs(["transA": ta, "transB": tb, "alpha": Float(0.75), "beta": Float(-1.5)]),
                                        inputs: inputs, constant: [1], rtol: tol, atol: tol)
                    #expect(y[0].shape == [m, n])
                }
            }
        }
        // Larger K, M = 1 (a fully connected layer), default alpha/beta.
        try checkOp("Gemm", attributes: attrs(["transB": 1]), inputs: [rng.tensor([1, 300]), rng.tensor([10, 300]), rng.tensor([10])],
                    constant: [1, 2], rtol: sumTolerance(300), atol: sumTolerance(300))
        try checkOp("Gemm", inputs: [rng.tensor([5, 3]), rng.tensor([3, 1])], rtol: sumTolerance(3), atol: sumTolerance(3))
    }

    /// Shapes around the CPU kernels' blocks (gemm_dot: 1–4 rows × 2–4 columns, float8 along K;
    /// gemm_rows: 1–4 rows × 16 or 32 columns): M = 1, K not a multiple of 8 or 16, N odd and
    /// straddling 16/32, every transpose (transB = 1 runs gemm_dot, transB = 0 gemm_rows on PoCL,
    /// both transposed gemm_tile), alpha/beta with C broadcast along either axis.
    @Test func gemmCPUKernelBlocks() throws {
        var rng = TestRandom(seed: 4)
        for (m, k, n) in [(1, 1, 1), (1, 37, 47), (2, 8, 33), (3, 15, 16), (5, 17, 31), (9, 64, 65), (4, 7, 3)] {
            let tol = sumTolerance(k)
            for ta in [0, 1] {
                for tb in [0, 1] {
                    let a = rng.tensor(ta == 1 ? [k, m] : [m, k]), b = rng.tensor(tb == 1 ? [n, k] : [k, n])
                    for c in [nil, [n], [m, 1]] as [[Int]?] {
                        let inputs: [Tensor?] = [a, b] + (c.map { [rng.tensor($0)] } ?? [])
                        let y = try checkOp("Gemm", attributes: attrs(["transA": ta, "transB": tb, "alpha": Float(1.25), "beta": Float(-0.5)]),
                                            inputs: inputs, constant: [1], rtol: tol, atol: tol)
                        #expect(y[0].shape == [m, n])
                    }
                }
            }
        }
        // Batched and broadcast MatMul on gemm_rows (B contiguous along N) with ragged blocks.
        for (sa, sb) in [([3, 5, 19], [3, 19, 37]), ([2, 1, 1, 23], [1, 3, 23, 17]), ([4, 9, 5], [5, 50])] as [([Int], [Int])] {
            try checkOp("MatMul", inputs: [rng.tensor(sa), rng.tensor(sb)], rtol: sumTolerance(sa.last!), atol: sumTolerance(sa.last!))
        }
        // A fully connected layer at batch 1 and 3 (gemm_dot), K = 1000 (not a multiple of 16).
        for batch in [1, 3] {
            try checkOp("Gemm", attributes: attrs(["transB": 1]), inputs: [rng.tensor([batch, 1000]), rng.tensor([21, 1000]), rng.tensor([21])],
                        constant: [1, 2], rtol: sumTolerance(1000), atol: sumTolerance(1000))
        }
    }

    @Test func matMulHandComputed() throws {
        let v = Tensor(shape: [3], floats: [1, 2, 3])
        try checkOp("MatMul", inputs: [v, Tensor(shape: [3, 2], floats: [1, 0, 0, 1, 1, 1])], expected: [Tensor(shape: [2], floats: [4, 5])], rtol: 0, atol: 0)
        try checkOp("MatMul", inputs: [v, Tensor(shape: [3], floats: [4, 5, 6])], expected: [Tensor(shape: [], floats: [32])], rtol: 0, atol: 0)
        try checkOp("MatMul", inputs: [Tensor(shape: [2, 1, 2], floats: [1, 2, 3, 4]), b22],
                    expected: [Tensor(shape: [2, 1, 2], floats: [19, 22, 43, 50])], rtol: 0, atol: 0)
    }

    @Test func matMulShapesAndBroadcasting() throws {
        var rng = TestRandom(seed: 2)
        let (m, n, k) = (5, 7, 11)
        let tol = sumTolerance(k)
        let cases: [([Int], [Int], [Int])] = [
            ([k], [k, n], [n]), ([m, k], [k], [m]), ([k], [3, k, n], [3, n]), ([2, m, k], [k], [2, m]),
            ([m, k], [k, n], [m, n]), ([3, m, k], [k, n], [3, m, n]), ([m, k], [3, k, n], [3, m, n]),
            ([3, m, k], [3, k, n], [3, m, n]), ([2, 1, m, k], [3, k, n], [2, 3, m, n]), ([2, 1, m, k], [1, 3, k, n], [2, 3, m, n]),
            ([1, 1, m, k], [2, k, n], [1, 2, m, n]), ([2, 3, 1, k], [1, k, 1], [2, 3, 1, 1]),
        ]
        for (sa, sb, out) in cases {
            let y = try checkOp("MatMul", inputs: [rng.tensor(sa), rng.tensor(sb)], rtol: tol, atol: tol)
            #expect(y[0].shape == out, "\(sa) × \(sb)")
        }
        try checkOp("MatMul", inputs: [rng.tensor([2, 33, 257]), rng.tensor([257, 65])], constant: [1], rtol: sumTolerance(257), atol: sumTolerance(257))
    }

    @Test func rejectsMismatchedShapes() throws {
        var rng = TestRandom(seed: 3)
        for (op, a, b) in [("MatMul", [2, 3], [4, 5]), ("MatMul", [2, 2, 3], [3, 3, 4]), ("Gemm", [2, 3], [4, 5]), ("Gemm", [2, 3, 1], [1, 5])] {
            // Static input shapes: the mismatch is reported while loading.
            #expect(throws: GPUInferError.self) { try singleNodeModel(op, inputs: [rng.tensor(a), rng.tensor(b)], constant: [1]) }
        }
        #expect(throws: GPUInferError.self) {
            try singleNodeModel("Gemm", inputs: [rng.tensor([2, 3]), rng.tensor([3, 4]), rng.tensor([3])], constant: [1, 2])
        }
    }
}
