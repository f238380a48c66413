// GatherND and ScatterND: reference vs hand-computed values (the ONNX spec's examples), device vs
// reference on awkward shapes, float and int64 data. Copies of values: compared exactly.
import Testing
@testable import GPUInfer

@Suite struct LayoutGatherNDTests {
    /// ONNX examples: GatherND example 2 (slices), example 5 (batch_dims 1); ScatterND example 1.
    @Test func handComputed() throws {
        let data = Tensor(shape: [2, 2], floats: [0, 1, 2, 3])
        try checkOp("GatherND", inputs: [data, Tensor(shape: [2, 1], ints: [1, 0])], expected: [Tensor(shape: [2, 2], floats: [2, 3, 0, 1])], rtol: 0, atol: 0)
        let d3 = Tensor(shape: [2, 2, 2], floats: (0..<8).map(Float.init))
        try checkOp("GatherND", attributes: ["batch_dims": .int(1)], inputs: [d3, Tensor(shape: [2, 1], ints: [1, 0])],
                    expected: [Tensor(shape: [2, 2], floats: [2, 3, 4, 5])], rtol: 0, atol: 0)
        try checkOp("GatherND", inputs: [d3, Tensor(shape: [2, 3], ints: [0, -1, 1, -1, 0, 0])],
                    expected: [Tensor(shape: [2], floats: [3, 4])], rtol: 0, atol: 0)
        let x = Tensor(shape: [8], floats: [1, 2, 3, 4, 5, 6, 7, 8])
        try checkOp("ScatterND", inputs: [x, Tensor(shape: [4, 1], ints: [4, 3, 1, -1]), Tensor(shape: [4], floats: [9, 10, 11, 12])],
                    expected: [Tensor(shape: [8], floats: [1, 11, 3, 10, 9, 6, 7, 12])], rtol: 0, atol: 0)
    }

    /// Random shapes: 3 tuple lengths, batch dims 0–2, int64 data, indices as inputs and constants.
    @Test(arguments: [([5, 7, 3], [4, 2], 0), ([2, 3, 5, 4], [2, 3, 6, 2], 2), ([3, 9, 2], [3, 5, 1], 1), ([6, 5], [13, 2], 0)])
    func gatherMatchesReference(data: [Int], indices: [Int], batchDims: Int) throws {
        var rng = TestRandom(seed: UInt64(data.count * 10 + indices.count))
        let k = indices.last!
        let dims = Array(data[batchDims..<(batchDims + k)])
        let ix = (0..<indices.reduce(1, *)).map { i -> Int64 in
            let d = Int64(dims[i % k])
            return Int64(rng.next() % UInt64(2 * d)) - d  // −d…d−1: negative ones wrap
        }
        let idx = Tensor(shape: indices, ints: ix)
        for constant: Set<Int> in [[], [1]] {
            try checkOp("GatherND", attributes: ["batch_dims": .int(batchDims)], inputs: [rng.tensor(data), idx], constant: constant, rtol: 0, atol: 0)
        }
        try checkOp("GatherND", attributes: ["batch_dims": .int(batchDims)], inputs: [rng.ints(data, -50, 50), idx], rtol: 0, atol: 0)
    }

    @Test(arguments: [([4, 5, 6], [3, 2]), ([9], [4, 1]), ([3, 4], [2, 2, 2])])
    func scatterMatchesReference(data: [Int], indices: [Int]) throws {
        var rng = TestRandom(seed: UInt64(data.count))
        let k = indices.last!
        // Distinct tuples (duplicates have no defined result): tuple m addresses slice m.
        let tuples = indices.dropLast().reduce(1, *)
        var ix: [Int64] = []
        for m in 0..<tuples {
            var rest = m
            var t = [Int64](repeating: 0, count: k)
            for j in stride(from: k - 1, through: 0, by: -1) { t[j] = Int64(rest % data[j]); rest /= data[j] }
            ix += t
        }
        let updates = Array(indices.dropLast()) + data[k...]
        try checkOp("ScatterND", inputs: [rng.tensor(data), Tensor(shape: indices, ints: ix), rng.tensor(updates)], rtol: 0, atol: 0)
        try checkOp("ScatterND", inputs: [rng.ints(data, -9, 9), Tensor(shape: indices, ints: ix), rng.ints(updates, -9, 9)], rtol: 0, atol: 0)
    }

    @Test func rejectsBadShapesAndReductions() throws {
        expectGPUInferError("k too large", mentions: ["batch_dims"], { if case .shapeMismatch = $0 { true } else { false } }) {
            _ = try checkOp("GatherND", inputs: [Tensor(zeros: [2, 2]), Tensor(shape: [1, 3], ints: [0, 0, 0])])
        }
        expectGPUInferError("out of range", mentions: ["out of range"], { if case .shapeMismatch = $0 { true } else { false } }) {
            _ = try checkOp("GatherND", inputs: [Tensor(zeros: [2, 2]), Tensor(shape: [1, 1], ints: [2])])
        }
        expectGPUInferError("reduction", mentions: ["reduction"], { if case .unsupportedOp = $0 { true } else { false } }) {
            _ = try checkOp("ScatterND", attributes: ["reduction": .string("add")], inputs: [Tensor(zeros: [2]), Tensor(shape: [1, 1], ints: [0]), Tensor(zeros: [1])], opset: 18)
        }
    }
}
