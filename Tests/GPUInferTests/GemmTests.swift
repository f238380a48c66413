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
