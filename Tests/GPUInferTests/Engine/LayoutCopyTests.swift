// The strided-copy ops: Transpose, Slice, Expand, Tile, Concat, Split, DepthToSpace,
// SpaceToDepth. Pure data movement: exact comparisons (rtol = atol = 0).
import Testing
@testable import GPUInfer

@Suite struct LayoutCopyTests {
    @Test func transposeHandValues() throws {
        let x = layoutIota([2, 3])
        let t = Tensor(shape: [3, 2], floats: [0, 3, 1, 4, 2, 5])
        try checkOp("Transpose", inputs: [x], expected: [t], rtol: 0, atol: 0)
        try checkOp("Transpose", attributes: ["perm": .ints([1, 0])], inputs: [x], expected: [t], rtol: 0, atol: 0)
        let y = layoutIota([2, 2, 3])  // perm [2, 0, 1]: out[c][a][b] = x[a][b][c]
        try checkOp("Transpose", attributes: ["perm": .ints([2, 0, 1])], inputs: [y],
                    expected: [Tensor(shape: [3, 2, 2], floats: [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11])], rtol: 0, atol: 0)
        let ints = Tensor(shape: [2, 3], ints: [0, 1, 2, 3, 4, 5])
        try checkOp("Transpose", inputs: [ints], expected: [Tensor(shape: [3, 2], ints: [0, 3, 1, 4, 2, 5])])
    }

    /// Batched 2-D transposes, which run transpose_tiles (8×8 tiles) on CPU devices: NCHW → NHWC
    /// like SSDLite's predictor outputs (273 channels over 19×19, 546 over 1×1), NHWC → NCHW, whole
    /// tiles only, sizes below one tile, ragged edges on both axes, batch 2, int64 values.
    @Test func transposeTiles() throws {
        var rng = TestRandom(seed: 12)
        let cases: [([Int], [Int])] = [([1, 273, 19, 19], [0, 2, 3, 1]), ([2, 13, 5, 7], [0, 2, 3, 1]), ([2, 546, 1, 1], [0, 2, 3, 1]),
                                       ([2, 16, 8, 1], [0, 2, 3, 1]), ([2, 5, 6, 11], [0, 3, 1, 2]), ([3, 7], [1, 0]), ([9, 17], [1, 0]),
                                       ([2, 24, 3, 3], [0, 2, 3, 1]), ([1, 4, 2, 3], [0, 2, 3, 1])]
        for (shape, perm) in cases {
            try checkOp("Transpose", attributes: ["perm": .ints(perm)], inputs: [rng.tensor(shape)], rtol: 0, atol: 0)
        }
        let ints = Tensor(shape: [2, 11, 3, 5], ints: (0..<330).map { Int64($0) * 1_000_000_007 })
        try checkOp("Transpose", attributes: ["perm": .ints([0, 2, 3, 1])], inputs: [ints])
    }

    @Test func transposeRanks1To5() throws {
        var rng = TestRandom(seed: 11)
        let cases: [([Int], [Int])] = [([7], [0]), ([3, 5], [1, 0]), ([2, 3, 5], [2, 0, 1]), ([2, 3, 5, 7], [0, 2, 3, 1]),
                                       ([3, 1, 5, 7], [0, 3, 1, 2]), ([2, 1, 3, 4, 5], [4, 2, 0, 3, 1]), ([5, 13, 67], [1, 2, 0])]
        for (shape, perm) in cases {
            try checkOp("Transpose", attributes: ["perm": .ints(perm)], inputs: [rng.tensor(shape)], rtol: 0, atol: 0)
        }
        #expect(throws: GPUInferError.self) {
            try singleNodeModel("Transpose", attributes: ["perm": .ints([0, 0])], inputs: [layoutIota([2, 2])]).specialize(["in0": layoutIota([2, 2])])
        }
    }

    @Test func sliceHandValues() throws {
        let x = layoutIota([3, 4])
        try checkOp("Slice", inputs: [x, layoutInts([0, 1]), layoutInts([2, 3])], constant: [1, 2],
                    expected: [Tensor(shape: [2, 2], floats: [1, 2, 5, 6])], rtol: 0, atol: 0)
        // x[::-1, ::-2]: INT64_MIN ends with negative steps run to the front.
        try checkOp("Slice", inputs: [x, layoutInts([-1, -1]), layoutInts([Int64.min, Int64.min]), layoutInts([0, 1]), layoutInts([-1, -2])],
                    constant: [1, 2, 3, 4], expected: [Tensor(shape: [3, 2], floats: [11, 9, 7, 5, 3, 1])], rtol: 0, atol: 0)
        // x[1:100:2, -3:]: out-of-range ends clamp, INT64_MAX means "to the end".
        try checkOp("Slice", inputs: [x, layoutInts([1, -3]), layoutInts([100, Int64.max]), layoutInts([0, -1]), layoutInts([2, 1])],
                    constant: [1, 2, 3, 4], expected: [Tensor(shape: [1, 3], floats: [5, 6, 7])], rtol: 0, atol: 0)
        // Empty result: start after end with a positive step.
        try checkOp("Slice", inputs: [x, layoutInts([3]), layoutInts([1]), layoutInts([1])], constant: [1, 2, 3],
                    expected: [Tensor(zeros: [3, 0])], rtol: 0, atol: 0)
        // Opset < 10: attributes.
        try checkOp("Slice", attributes: ["starts": .ints([1]), "ends": .ints([-1]), "axes": .ints([1])], inputs: [x], opset: 9,
                    expected: [Tensor(shape: [3, 2], floats: [1, 2, 5, 6, 9, 10])], rtol: 0, atol: 0)
    }

    @Test func sliceAwkwardShapesAgainstReference() throws {
        var rng = TestRandom(seed: 12)
        let x = rng.tensor([2, 3, 5, 7])
        try checkOp("Slice", inputs: [x, layoutInts([-1, 0]), layoutInts([-100, 3]), layoutInts([-1, 1]), layoutInts([-2, 2])],
                    constant: [1, 2, 3, 4], rtol: 0, atol: 0)
        try checkOp("Slice", inputs: [x, layoutInts([1, 1, 1, 1]), layoutInts([2, 3, 4, 6])], constant: [1, 2], rtol: 0, atol: 0)
        try checkOp("Slice", inputs: [x, layoutInts([4, 6]), layoutInts([0, -8]), layoutInts([2, 3]), layoutInts([-1, -3])],
                    constant: [1, 2, 3, 4], rtol: 0, atol: 0)
        try checkOp("Slice", inputs: [rng.tensor([2, 1, 3, 4, 5]), layoutInts([2]), layoutInts([Int64.max]), layoutInts([-1])],
                    constant: [1, 2, 3], rtol: 0, atol: 0)
        try checkOp("Slice", inputs: [rng.tensor([131]), layoutInts([130]), layoutInts([-200]), layoutInts([0]), layoutInts([-3])],
                    constant: [1, 2, 3, 4], rtol: 0, atol: 0)
        #expect(throws: GPUInferError.self) {
            try singleNodeModel("Slice", inputs: [x, layoutInts([0]), layoutInts([1]), layoutInts([0]), layoutInts([0])], constant: [1, 2, 3, 4])
                .specialize(["in0": x])
        }
    }

    @Test func expandAndTile() throws {
        let x = Tensor(shape: [3, 1], floats: [1, 2, 3])
        try checkOp("Expand", inputs: [x, layoutInts([2, 1, 4])], constant: [1],
                    expected: [Tensor(shape: [2, 3, 4], floats: (0..<24).map { Float($0 % 12 / 4 + 1) })], rtol: 0, atol: 0)
        try checkOp("Expand", inputs: [x, layoutInts([1])], constant: [1], expected: [x], rtol: 0, atol: 0)
        var rng = TestRandom(seed: 13)
        try checkOp("Expand", inputs: [rng.tensor([1, 5, 1]), layoutInts([2, 3, 1, 7])], constant: [1], rtol: 0, atol: 0)
        try checkOp("Expand", inputs: [rng.tensor([3, 1, 5, 1, 1]), layoutInts([1, 2, 1, 3, 65])], constant: [1], rtol: 0, atol: 0)
        #expect(throws: GPUInferError.self) { try singleNodeModel("Expand", inputs: [x, layoutInts([2, 3])], constant: [1]).specialize(["in0": x]) }

        let t = Tensor(shape: [2, 2], floats: [1, 2, 3, 4])
        try checkOp("Tile", inputs: [t, layoutInts([2, 3])], constant: [1],
                    expected: [Tensor(shape: [4, 6], floats: [1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4])], rtol: 0, atol: 0)
        try checkOp("Tile", inputs: [rng.tensor([2, 3, 5]), layoutInts([2, 1, 3])], constant: [1], rtol: 0, atol: 0)
        try checkOp("Tile", inputs: [rng.tensor([7]), layoutInts([13])], constant: [1], rtol: 0, atol: 0)
        try checkOp("Tile", inputs: [rng.tensor([1, 3, 1, 2, 3]), layoutInts([2, 1, 5, 1, 2])], constant: [1], rtol: 0, atol: 0)
    }

    @Test func concatHandValues() throws {
        let a = Tensor(shape: [1, 2], floats: [1, 2]), b = Tensor(shape: [2, 2], floats: [3, 4, 5, 6])
        try checkOp("Concat", attributes: ["axis": .int(0)], inputs: [a, b], expected: [Tensor(shape: [3, 2], floats: [1, 2, 3, 4, 5, 6])],
                    rtol: 0, atol: 0)
        let c = Tensor(shape: [2, 1], floats: [7, 8])
        try checkOp("Concat", attributes: ["axis": .int(-1)], inputs: [b, c, b], expected: [Tensor(shape: [2, 5], floats: [3, 4, 7, 3, 4, 5, 6, 8, 5, 6])],
                    rtol: 0, atol: 0)
        try checkOp("Concat", attributes: ["axis": .int(0)], inputs: [layoutInts([1, 2]), layoutInts([3])], expected: [layoutInts([1, 2, 3])])
    }

    @Test func concatThreeInputsOfDifferentSizes() throws {
        var rng = TestRandom(seed: 14)
        try checkOp("Concat", attributes: ["axis": .int(1)], inputs: [rng.tensor([2, 3, 5]), rng.tensor([2, 1, 5]), rng.tensor([2, 4, 5])], rtol: 0, atol: 0)
        // The middle one a constant (initializer), on the last axis.
        try checkOp("Concat", attributes: ["axis": .int(-1)], inputs: [rng.tensor([2, 3, 5]), rng.tensor([2, 3, 1]), rng.tensor([2, 3, 67])],
                    constant: [1], rtol: 0, atol: 0)
        try checkOp("Concat", attributes: ["axis": .int(3)], inputs: [rng.tensor([2, 1, 3, 4, 5]), rng.tensor([2, 1, 3, 1, 5]), rng.tensor([2, 1, 3, 2, 5])],
                    rtol: 0, atol: 0)
        try checkOp("Concat", attributes: ["axis": .int(0)], inputs: [rng.tensor([3]), Tensor(zeros: [0]), rng.tensor([5])], rtol: 0, atol: 0)
        // Contiguous runs copied by strided_copy_runs on non-GPU devices: Inception-like channel
        // concats (runs of C·H·W per batch item, longer than the 512-element chunk and not multiples
        // of 8), a 17-element run on the last axis, and integer (long) tensors.
        try checkOp("Concat", attributes: ["axis": .int(1)], inputs: [rng.tensor([2, 3, 13, 47]), rng.tensor([2, 5, 13, 47]), rng.tensor([2, 1, 13, 47])],
                    rtol: 0, atol: 0)
        try checkOp("Concat", attributes: ["axis": .int(-1)], inputs: [rng.tensor([3, 2, 17]), rng.tensor([3, 2, 16])], rtol: 0, atol: 0)
        try checkOp("Concat", attributes: ["axis": .int(0)], inputs: [Tensor(shape: [2, 19], ints: (0..<38).map(Int64.init)), Tensor(shape: [1, 19], ints: (0..<19).map { Int64($0) * -3 })],
                    expected: [Tensor(shape: [3, 19], ints: (0..<38).map(Int64.init) + (0..<19).map { Int64($0) * -3 })])
        #expect(throws: GPUInferError.self) {
            let x = rng.tensor([2, 3]), y = rng.tensor([3, 3])
            _ = try singleNodeModel("Concat", attributes: ["axis": .int(1)], inputs: [x, y]).specialize(["in0": x, "in1": y])
        }
    }

    @Test func splitForms() throws {
        let x = layoutIota([2, 7])
        let parts = [Tensor(shape: [2, 2], floats: [0, 1, 7, 8]), Tensor(shape: [2, 3], floats: [2, 3, 4, 9, 10, 11]),
                     Tensor(shape: [2, 2], floats: [5, 6, 12, 13])]
        // Opset 13: split sizes as an input.
        try checkOp("Split", attributes: ["axis": .int(-1)], inputs: [x, layoutInts([2, 3, 2])], constant: [1], outputs: 3, opset: 13,
                    expected: parts, rtol: 0, atol: 0)
        // Opset 11: split sizes as an attribute.
        try checkOp("Split", attributes: ["axis": .int(1), "split": .ints([2, 3, 2])], inputs: [x], outputs: 3, opset: 11,
                    expected: parts, rtol: 0, atol: 0)
        // Opset 18 num_outputs: chunks of ⌈7/3⌉ = 3, the last one smaller.
        try checkOp("Split", attributes: ["axis": .int(1), "num_outputs": .int(3)], inputs: [x], outputs: 3, opset: 18,
                    expected: [Tensor(shape: [2, 3], floats: [0, 1, 2, 7, 8, 9]), Tensor(shape: [2, 3], floats: [3, 4, 5, 10, 11, 12]),
                               Tensor(shape: [2, 1], floats: [6, 13])], rtol: 0, atol: 0)
        // Equal split.
        try checkOp("Split", inputs: [x], outputs: 2, expected: [layoutIota([1, 7]), layoutIota([1, 7]).mappedPlus(7)], rtol: 0, atol: 0)
        #expect(throws: GPUInferError.self) { try singleNodeModel("Split", attributes: ["axis": .int(1)], inputs: [x], outputs: 2).specialize(["in0": x]) }
    }

    @Test func splitAwkwardShapes() throws {
        var rng = TestRandom(seed: 15)
        try checkOp("Split", attributes: ["axis": .int(1)], inputs: [rng.tensor([2, 9, 5]), layoutInts([4, 1, 4])], constant: [1], outputs: 3,
                    rtol: 0, atol: 0)
        try checkOp("Split", attributes: ["axis": .int(-1)], inputs: [rng.tensor([3, 2, 67]), layoutInts([60, 0, 7])], constant: [1], outputs: 3,
                    rtol: 0, atol: 0)
        try checkOp("Split", attributes: ["axis": .int(0)], inputs: [rng.tensor([5, 2, 1, 3, 2])], outputs: 5, rtol: 0, atol: 0)
    }

    @Test func depthToSpaceAndBack() throws {
        let x = layoutIota([1, 8, 1, 2])
        let dcr = Tensor(shape: [1, 2, 2, 4], floats: [0, 4, 1, 5, 8, 12, 9, 13, 2, 6, 3, 7, 10, 14, 11, 15])
        let crd = Tensor(shape: [1, 2, 2, 4], floats: [0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15])
        try checkOp("DepthToSpace", attributes: ["blocksize": .int(2)], inputs: [x], expected: [dcr], rtol: 0, atol: 0)
        try checkOp("DepthToSpace", attributes: ["blocksize": .int(2), "mode": .string("CRD")], inputs: [x], expected: [crd], rtol: 0, atol: 0)
        try checkOp("SpaceToDepth", attributes: ["blocksize": .int(2)], inputs: [layoutIota([1, 1, 4, 4])],
                    expected: [Tensor(shape: [1, 4, 2, 2], floats: [0, 2, 8, 10, 1, 3, 9, 11, 4, 6, 12, 14, 5, 7, 13, 15])], rtol: 0, atol: 0)
        // SpaceToDepth inverts DepthToSpace (DCR).
        try checkOp("SpaceToDepth", attributes: ["blocksize": .int(2)], inputs: [dcr], expected: [x], rtol: 0, atol: 0)
        var rng = TestRandom(seed: 16)
        try checkOp("DepthToSpace", attributes: ["blocksize": .int(3), "mode": .string("CRD")], inputs: [rng.tensor([2, 27, 5, 7])], rtol: 0, atol: 0)
        try checkOp("SpaceToDepth", attributes: ["blocksize": .int(3)], inputs: [rng.tensor([2, 3, 9, 15])], rtol: 0, atol: 0)
    }
}

extension Tensor {
    /// Every element plus `v` (test helper).
    func mappedPlus(_ v: Float) -> Tensor { Tensor(shape: shape, floats: floats.map { $0 + v }) }
}
