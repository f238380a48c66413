// ArgMax/ArgMin (ties with both select_last_index values, keepdims, NaN, int64) and TopK.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct ArgMaxTests {
    func ints(_ shape: [Int], _ v: [Int64]) -> Tensor { Tensor(shape: shape, ints: v) }

    @Test func tiesFollowSelectLastIndex() throws {
        // Rows [2, 7, 7, 1] and [5, 5, 0, 5].
        let x = Tensor(shape: [2, 4], floats: [2, 7, 7, 1, 5, 5, 0, 5])
        try checkOp("ArgMax", attributes: ["axis": .int(1)], inputs: [x], expected: [ints([2, 1], [1, 0])])
        try checkOp("ArgMax", attributes: ["axis": .int(1), "select_last_index": .int(1)], inputs: [x], expected: [ints([2, 1], [2, 3])])
        try checkOp("ArgMin", attributes: ["axis": .int(-1), "keepdims": .int(0)], inputs: [x], expected: [ints([2], [3, 2])])
        let y = Tensor(shape: [2, 3], floats: [1, 4, 1, 1, 2, 1])
        try checkOp("ArgMin", attributes: ["axis": .int(1), "keepdims": .int(0), "select_last_index": .int(0)], inputs: [y],
                    expected: [ints([2], [0, 0])])
        try checkOp("ArgMin", attributes: ["axis": .int(1), "keepdims": .int(0), "select_last_index": .int(1)], inputs: [y],
                    expected: [ints([2], [2, 2])])
        // Default axis 0: columns of x.
        try checkOp("ArgMax", inputs: [x], expected: [ints([1, 4], [1, 0, 0, 1])])
        try checkOp("ArgMax", attributes: ["select_last_index": .int(1), "keepdims": .int(0)], inputs: [Tensor(shape: [3], floats: [4, 4, 4])],
                    expected: [ints([], [2])])
    }

    @Test func nanWinsLikeNumPy() throws {
        let x = Tensor(shape: [1, 4], floats: [1, .nan, 3, .nan])
        try checkOp("ArgMax", attributes: ["axis": .int(1)], inputs: [x], expected: [ints([1, 1], [1])])
        try checkOp("ArgMin", attributes: ["axis": .int(1)], inputs: [x], expected: [ints([1, 1], [1])])
        try checkOp("ArgMax", attributes: ["axis": .int(1), "select_last_index": .int(1)], inputs: [x], expected: [ints([1, 1], [3])])
    }

    @Test func int64Inputs() throws {
        let x = ints([2, 3], [4, -9, 4, 0, 7, 7])
        try checkOp("ArgMax", attributes: ["axis": .int(1)], inputs: [x], expected: [ints([2, 1], [0, 1])])
        try checkEncodedOp("ArgMax", attributes: ["axis": .int(1), "select_last_index": .int(1)], inputs: [x])
        var rng = TestRandom(seed: 3)
        let big = rng.ints([3, 67, 5], -4, 4)  // many ties
        for axis in [0, 1, 2, -1] {
            for last in [0, 1] {
                for op in ["ArgMax", "ArgMin"] {
                    try checkEncodedOp(op, attributes: ["axis": .int(axis), "select_last_index": .int(last)], inputs: [big])
                }
            }
        }
    }

    @Test func deviceMatchesReferenceOnAwkwardShapes() throws {
        var rng = TestRandom(seed: 9)
        // Quantised values so that ties are common.
        let x = Tensor(shape: [2, 3, 5, 7], floats: rng.tensor([2, 3, 5, 7], -3, 3).floats.map { $0.rounded() })
        for op in ["ArgMax", "ArgMin"] {
            for axis in [0, 1, 2, 3, -1, -4] {
                for keep in [0, 1] {
                    for last in [0, 1] {
                        try checkOp(op, attributes: ["axis": .int(axis), "keepdims": .int(keep), "select_last_index": .int(last)], inputs: [x])
                    }
                }
            }
            try checkOp(op, attributes: ["axis": .int(1)], inputs: [rng.tensor([3, 67, 5])])
            try checkOp(op, attributes: ["axis": .int(0), "keepdims": .int(0)], inputs: [rng.tensor([130])])
        }
    }

    @Test func emptyAxisIsRejected() {
        #expect(throws: GPUInferError.self) {
            try checkOp("ArgMax", attributes: ["axis": .int(1)], inputs: [Tensor(shape: [2, 0], floats: [])])
        }
    }
}

@Suite struct TopKTests {
    func k(_ v: Int64) -> Tensor { Tensor(shape: [1], ints: [v]) }

    @Test func handComputed() throws {
        let x = Tensor(shape: [2, 5], floats: [3, 1, 4, 1, 5, 9, 2, 6, 5, 3])
        try checkOp("TopK", inputs: [x, k(3)], constant: [1], outputs: 2, expected: [
            Tensor(shape: [2, 3], floats: [5, 4, 3, 9, 6, 5]), Tensor(shape: [2, 3], ints: [4, 2, 0, 0, 2, 3]),
        ], rtol: 0, atol: 0)
        try checkOp("TopK", attributes: ["largest": .int(0)], inputs: [x, k(2)], constant: [1], outputs: 2, expected: [
            Tensor(shape: [2, 2], floats: [1, 1, 2, 3]), Tensor(shape: [2, 2], ints: [1, 3, 1, 4]),
        ], rtol: 0, atol: 0)
        // Along axis 0; ties keep the lower index first.
        let t = Tensor(shape: [3, 2], floats: [7, 1, 7, 2, 0, 2])
        try checkOp("TopK", attributes: ["axis": .int(0)], inputs: [t, k(2)], constant: [1], outputs: 2, expected: [
            Tensor(shape: [2, 2], floats: [7, 2, 7, 2]), Tensor(shape: [2, 2], ints: [0, 1, 1, 2]),
        ], rtol: 0, atol: 0)
        // NaN sorts above every number.
        let n = Tensor(shape: [4], floats: [1, .nan, 3, 2])
        try checkOp("TopK", inputs: [n, k(2)], constant: [1], outputs: 2,
                    expected: [Tensor(shape: [2], floats: [.nan, 3]), Tensor(shape: [2], ints: [1, 2])], rtol: 0, atol: 0)
        try checkOp("TopK", attributes: ["largest": .int(0)], inputs: [n, k(4)], constant: [1], outputs: 2,
                    expected: [Tensor(shape: [4], floats: [1, 2, 3, .nan]), Tensor(shape: [4], ints: [0, 3, 2, 1])], rtol: 0, atol: 0)
    }

    @Test func deviceMatchesReference() throws {
        var rng = TestRandom(seed: 21)
        let x = Tensor(shape: [2, 3, 65], floats: rng.tensor([2, 3, 65], -5, 5).floats.map { $0.rounded() })  // ties
        for (axis, kv) in [(2, 5), (-1, 65), (1, 3), (0, 1), (1, 0)] {
            for largest in [0, 1] {
                try checkOp("TopK", attributes: ["axis": .int(axis), "largest": .int(largest)], inputs: [x, k(Int64(kv))],
                            constant: [1], outputs: 2, rtol: 0, atol: 0)
            }
        }
        let xi = rng.ints([4, 37], -3, 3)
        try checkEncodedOp("TopK", inputs: [xi, k(10)], constant: [1], outputs: 2)
        try checkEncodedOp("TopK", attributes: ["largest": .int(0), "axis": .int(0)], inputs: [xi, k(4)], constant: [1], outputs: 2)
    }

    @Test func kOutOfRangeIsRejected() {
        #expect(throws: GPUInferError.self) {
            try checkOp("TopK", inputs: [Tensor(shape: [3], floats: [1, 2, 3]), Tensor(shape: [1], ints: [4])], constant: [1], outputs: 2)
        }
    }
}
