// Gather and GatherElements: hand-computed values (the ONNX documentation examples) and device
// vs reference with indices of rank 0..2, negative indices and every axis. Exact comparisons.
import Testing
@testable import GPUInfer

@Suite struct LayoutGatherTests {
    @Test func gatherDocumentationExamples() throws {
        let data = Tensor(shape: [3, 2], floats: [1, 1.2, 2.3, 3.4, 4.5, 5.7])
        try checkOp("Gather", inputs: [data, Tensor(shape: [2, 2], ints: [0, 1, 1, 2])],
                    expected: [Tensor(shape: [2, 2, 2], floats: [1, 1.2, 2.3, 3.4, 2.3, 3.4, 4.5, 5.7])], rtol: 0, atol: 0)
        let d2 = Tensor(shape: [3, 3], floats: [1, 1.2, 1.9, 2.3, 3.4, 3.9, 4.5, 5.7, 5.9])
        try checkOp("Gather", attributes: ["axis": .int(1)], inputs: [d2, Tensor(shape: [1, 2], ints: [0, 2])],
                    expected: [Tensor(shape: [3, 1, 2], floats: [1, 1.9, 2.3, 3.9, 4.5, 5.9])], rtol: 0, atol: 0)
        // Negative indices wrap; a scalar index removes the axis.
        try checkOp("Gather", attributes: ["axis": .int(-1)], inputs: [d2, layoutInts([-1, 0])],
                    expected: [Tensor(shape: [3, 2], floats: [1.9, 1, 3.9, 2.3, 5.9, 4.5])], rtol: 0, atol: 0)
        try checkOp("Gather", inputs: [d2, .scalar(Int64(-2))], expected: [Tensor(shape: [3], floats: [2.3, 3.4, 3.9])], rtol: 0, atol: 0)
        // int64 data (folded on the host).
        try checkOp("Gather", inputs: [layoutInts([5, 6, 7]), layoutInts([2, 0])], expected: [layoutInts([7, 5])])
    }

    @Test func gatherAwkwardShapes() throws {
        var rng = TestRandom(seed: 21)
        let x = rng.tensor([2, 3, 5, 7])
        let indicesFor: [Int: Tensor] = [0: Tensor(shape: [2, 3], ints: [1, 0, -1, -2, 1, 1]),
                                         1: Tensor(shape: [2, 2], ints: [2, -3, 0, 1]),
                                         -1: Tensor(shape: [3, 2], ints: [6, -7, 3, -1, 0, 5])]
        for (axis, indices) in indicesFor {
            try checkOp("Gather", attributes: ["axis": .int(axis)], inputs: [x, indices], rtol: 0, atol: 0)
            // Indices as an initializer.
            try checkOp("Gather", attributes: ["axis": .int(axis)], inputs: [x, indices], constant: [1], rtol: 0, atol: 0)
        }
        // Data as an initializer (an embedding table), odd sizes.
        try checkOp("Gather", inputs: [rng.tensor([67, 13]), rng.ints([3, 5], -67, 66)], constant: [0], rtol: 0, atol: 0)
        try checkOp("Gather", attributes: ["axis": .int(2)], inputs: [rng.tensor([2, 1, 3, 4, 5]), .scalar(Int64(-1))], rtol: 0, atol: 0)
        #expect(throws: GPUInferError.self) {
            try ReferenceExecutor().run(singleNodeModel("Gather", inputs: [x, layoutInts([2])]), inputs: ["in0": x, "in1": layoutInts([2])])
        }
    }

    @Test func gatherElements() throws {
        let data = Tensor(shape: [2, 2], floats: [1, 2, 3, 4])
        try checkOp("GatherElements", attributes: ["axis": .int(1)], inputs: [data, Tensor(shape: [2, 2], ints: [0, 0, 1, 0])],
                    expected: [Tensor(shape: [2, 2], floats: [1, 1, 4, 3])], rtol: 0, atol: 0)
        let d3 = layoutIota([3, 3]).mappedPlus(1)
        try checkOp("GatherElements", inputs: [d3, Tensor(shape: [2, 3], ints: [1, 2, 0, 2, 0, -3])],
                    expected: [Tensor(shape: [2, 3], floats: [4, 8, 3, 7, 2, 3])], rtol: 0, atol: 0)
        var rng = TestRandom(seed: 22)
        let x = rng.tensor([2, 3, 5, 7])
        try checkOp("GatherElements", attributes: ["axis": .int(-2)], inputs: [x, rng.ints([2, 2, 9, 5], -5, 4)], rtol: 0, atol: 0)
        try checkOp("GatherElements", attributes: ["axis": .int(3)], inputs: [x, rng.ints([1, 3, 4, 7], -7, 6)], rtol: 0, atol: 0)
    }
}
