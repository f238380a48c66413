// Reshape, Flatten, Squeeze, Unsqueeze (aliases) and the plan-time ops Shape, Size, Constant,
// ConstantOfShape, Range. Pure data movement: exact comparisons (rtol = atol = 0).
import Testing
@testable import GPUInfer

/// 0, 1, 2, … as a float tensor of `shape`.
func layoutIota(_ shape: [Int]) -> Tensor {
    Tensor(shape: shape, floats: (0..<shape.reduce(1, *)).map(Float.init))
}

/// An int64 vector.
func layoutInts(_ v: [Int64]) -> Tensor { Tensor(shape: [v.count], ints: v) }

@Suite struct LayoutViewTests {
    @Test func reshapeCopiesZeroAndInfersMinusOne() throws {
        let x = layoutIota([2, 3, 4])
        try checkOp("Reshape", inputs: [x, layoutInts([0, -1])], constant: [1], expected: [x.reshaped([2, 12])], rtol: 0, atol: 0)
        try checkOp("Reshape", inputs: [x, layoutInts([0, -1, 2, 2])], constant: [1], expected: [x.reshaped([2, 3, 2, 2])], rtol: 0, atol: 0)
        // The shape as an int64 graph input is still known when the plan is built.
        try checkOp("Reshape", inputs: [x, layoutInts([4, 6])], expected: [x.reshaped([4, 6])], rtol: 0, atol: 0)
        // allowzero=1: a 0 is a real zero-sized dim.
        let empty = Tensor(zeros: [3, 0, 2])
        try checkOp("Reshape", attributes: ["allowzero": .int(1)], inputs: [empty, layoutInts([0, 6])], constant: [1], opset: 14,
                    expected: [empty.reshaped([0, 6])], rtol: 0, atol: 0)
    }

    @Test func reshapeRejectsBadShapes() {
        let x = layoutIota([2, 3])
        #expect(throws: GPUInferError.self) { try singleNodeModel("Reshape", inputs: [x, layoutInts([-1, -1])], constant: [1]).specialize(["in0": x]) }
        #expect(throws: GPUInferError.self) { try singleNodeModel("Reshape", inputs: [x, layoutInts([4, 2])], constant: [1]).specialize(["in0": x]) }
        #expect(throws: GPUInferError.self) { try singleNodeModel("Reshape", inputs: [x, layoutInts([5, -1])], constant: [1]).specialize(["in0": x]) }
    }

    @Test func flattenAxes() throws {
        let x = layoutIota([2, 3, 5, 1])
        for (axis, shape) in [(0, [1, 30]), (1, [2, 15]), (-1, [30, 1]), (-3, [2, 15]), (4, [30, 1])] {
            try checkOp("Flatten", attributes: ["axis": .int(axis)], inputs: [x], expected: [x.reshaped(shape)], rtol: 0, atol: 0)
        }
        #expect(throws: GPUInferError.self) { try ReferenceExecutor().run(singleNodeModel("Flatten", attributes: ["axis": .int(5)], inputs: [x]), inputs: ["in0": x]) }
    }

    @Test func squeezeAxesAsInputOrAttribute() throws {
        let x = layoutIota([2, 1, 3, 1])
        try checkOp("Squeeze", inputs: [x, layoutInts([-1])], constant: [1], opset: 13, expected: [x.reshaped([2, 1, 3])], rtol: 0, atol: 0)
        try checkOp("Squeeze", inputs: [x], opset: 13, expected: [x.reshaped([2, 3])], rtol: 0, atol: 0)
        try checkOp("Squeeze", attributes: ["axes": .ints([1])], inputs: [x], opset: 11, expected: [x.reshaped([2, 3, 1])], rtol: 0, atol: 0)
        #expect(throws: GPUInferError.self) { try singleNodeModel("Squeeze", inputs: [x, layoutInts([0])], constant: [1]).specialize(["in0": x]) }
    }

    @Test func unsqueezeAxesAsInputOrAttribute() throws {
        let x = layoutIota([2, 3])
        try checkOp("Unsqueeze", inputs: [x, layoutInts([0, -1])], constant: [1], opset: 13, expected: [x.reshaped([1, 2, 3, 1])], rtol: 0, atol: 0)
        try checkOp("Unsqueeze", inputs: [x, layoutInts([3, 1])], constant: [1], opset: 13, expected: [x.reshaped([2, 1, 3, 1])], rtol: 0, atol: 0)
        try checkOp("Unsqueeze", attributes: ["axes": .ints([1])], inputs: [x], opset: 11, expected: [x.reshaped([2, 1, 3])], rtol: 0, atol: 0)
        #expect(throws: GPUInferError.self) { try singleNodeModel("Unsqueeze", inputs: [x, layoutInts([0, 0])], constant: [1]).specialize(["in0": x]) }
    }

    @Test func shapeAndSize() throws {
        let x = layoutIota([2, 3, 5, 7])
        try checkOp("Shape", inputs: [x], expected: [layoutInts([2, 3, 5, 7])])
        try checkOp("Shape", attributes: ["start": .int(1), "end": .int(-1)], inputs: [x], opset: 15, expected: [layoutInts([3, 5])])
        try checkOp("Shape", attributes: ["start": .int(-10), "end": .int(10)], inputs: [x], opset: 15, expected: [layoutInts([2, 3, 5, 7])])
        try checkOp("Shape", attributes: ["start": .int(3), "end": .int(1)], inputs: [x], opset: 15, expected: [layoutInts([])])
        try checkOp("Size", inputs: [x], expected: [.scalar(Int64(210))])
    }

    @Test func constants() throws {
        try checkOp("Constant", attributes: ["value_floats": .floats([1.5, -2])], inputs: [], expected: [Tensor(shape: [2], floats: [1.5, -2])])
        try checkOp("Constant", attributes: ["value_int": .int(7)], inputs: [], expected: [.scalar(Int64(7))])
        let t = Tensor(shape: [2, 2], floats: [1, 2, 3, 4])
        try checkOp("Constant", attributes: ["value": .tensor(t)], inputs: [], expected: [t])
        #expect(throws: GPUInferError.self) { try singleNodeModel("Constant", attributes: ["value_string": .string("a")], inputs: []) }
        try checkOp("ConstantOfShape", inputs: [layoutInts([2, 3])], constant: [0], expected: [Tensor(zeros: [2, 3])])
        try checkOp("ConstantOfShape", attributes: ["value": .tensor(Tensor(shape: [1], ints: [5]))], inputs: [layoutInts([3])],
                    constant: [0], expected: [layoutInts([5, 5, 5])])
    }

    /// RandomUniform (skeleton models' weights, Benchmarks/skeleton.py): the shape, every value in
    /// [low, high), the same values for the same seed and others for another, awkward shapes
    /// (empty, scalar), and typed errors for what cannot be drawn.
    @Test func randomUniform() throws {
        func draw(_ attributes: [String: Attribute]) throws -> Tensor {
            try checkOp("RandomUniform", attributes: attributes, inputs: [])[0]
        }
        let a = try draw(["shape": .ints([3, 7, 5]), "low": .float(-0.25), "high": .float(2), "seed": .float(3)])
        #expect(a.shape == [3, 7, 5] && a.floats.allSatisfy { $0 >= -0.25 && $0 < 2 })
        #expect(Set(a.floats).count > 100)  // 105 draws of 24 bits: distinct
        let mean = a.floats.reduce(0, +) / Float(a.count)
        #expect(abs(mean - 0.875) < 0.2)  // 105 uniforms on [-0.25, 2): σ of the mean 0.063
        #expect(try draw(["shape": .ints([3, 7, 5]), "low": .float(-0.25), "high": .float(2), "seed": .float(3)]).floats == a.floats)
        #expect(try draw(["shape": .ints([3, 7, 5]), "low": .float(-0.25), "high": .float(2), "seed": .float(4)]).floats != a.floats)
        #expect(try draw(["shape": .ints([2, 0, 3])]).count == 0)
        #expect(try draw(["shape": .ints([])]).shape == [])
        #expect(try draw(["shape": .ints([4]), "low": .float(1.5), "high": .float(1.5)]).floats == [1.5, 1.5, 1.5, 1.5])
        for bad: [String: Attribute] in [[:], ["shape": .ints([2, -1])], ["shape": .ints([1 << 40, 1 << 40])], ["shape": .ints([2]), "dtype": .int(7)],
                                         ["shape": .ints([2]), "low": .float(1), "high": .float(0)]] {
            #expect(throws: GPUInferError.self) { try singleNodeModel("RandomUniform", attributes: bad, inputs: []) }
        }
    }

    @Test func range() throws {
        try checkOp("Range", inputs: [.scalar(Float(0)), .scalar(Float(1)), .scalar(Float(0.25))], constant: [0, 1, 2],
                    expected: [Tensor(shape: [4], floats: [0, 0.25, 0.5, 0.75])], rtol: 0, atol: 0)
        try checkOp("Range", inputs: [.scalar(Int64(10)), .scalar(Int64(1)), .scalar(Int64(-3))], constant: [0, 1, 2],
                    expected: [layoutInts([10, 7, 4])])
        try checkOp("Range", inputs: [.scalar(Int64(1)), .scalar(Int64(1)), .scalar(Int64(2))], constant: [0, 1, 2], expected: [layoutInts([])])
        // 0.1 is not exact: onnxruntime gives ⌈1/0.1f⌉ = 10 elements, accumulated by addition.
        let r = try checkOp("Range", inputs: [.scalar(Float(0)), .scalar(Float(1)), .scalar(Float(0.1))], constant: [0, 1, 2])
        #expect(r[0].shape == [10])
    }
}
