// LpNormalization (p = 1, 2), InstanceNormalization, LayerNormalization and GroupNormalization.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct NormalizationTests {
    /// Normalised outputs are O(1..4): the fp32 mean and variance of L elements (lane sums of
    /// L/64 terms, then a 6-level tree) err by ≲ (L/64 + 6)·2⁻²⁴ relative, and √, ÷ add a few
    /// ulp; 2e-6 relative + 2e-6 absolute covers L ≤ 1000 with margin.
    let rtol: Float = 2e-6, atol: Float = 2e-6

    @Test func lpNormalizationHandComputed() throws {
        let x = Tensor(shape: [2, 2], floats: [3, 4, -1, 0])
        try checkOp("LpNormalization", inputs: [x], expected: [Tensor(shape: [2, 2], floats: [0.6, 0.8, -1, 0])])
        try checkOp("LpNormalization", attributes: ["p": .int(1)], inputs: [x],
                    expected: [Tensor(shape: [2, 2], floats: [3.0 / 7, 4.0 / 7, -1, 0])])
        // Axis 0, p = 1: columns (3, −1) and (4, 0).
        try checkOp("LpNormalization", attributes: ["p": .int(1), "axis": .int(0)], inputs: [x],
                    expected: [Tensor(shape: [2, 2], floats: [0.75, 1, -0.25, 0])])
        // A zero vector stays 0 (no NaN).
        try checkOp("LpNormalization", attributes: ["axis": .int(0)], inputs: [Tensor(shape: [2, 1], floats: [0, 0])],
                    expected: [Tensor(shape: [2, 1], floats: [0, 0])])
        #expect(throws: GPUInferError.self) { try checkOp("LpNormalization", attributes: ["p": .int(3)], inputs: [x]) }
    }

    @Test func lpNormalizationDeviceMatchesReference() throws {
        var rng = TestRandom(seed: 4)
        let x = rng.tensor([2, 3, 65])
        for p in [1, 2] {
            for axis in [0, 1, 2, -1] {
                // Sums of ≤ 65 terms: ≤ 65·2⁻²⁴ ≈ 4e-6 relative, plus √ and ÷ (a few ulp).
                try checkOp("LpNormalization", attributes: ["p": .int(p), "axis": .int(axis)], inputs: [x], rtol: 5e-6, atol: 1e-7)
            }
        }
    }

    @Test func instanceNormalizationHandComputed() throws {
        // N=1, C=2, spatial 4. Channel 0: [1,2,3,4], mean 2.5, var 1.25; channel 1 constant.
        let x = Tensor(shape: [1, 2, 2, 2], floats: [1, 2, 3, 4, 5, 5, 5, 5])
        let inv = 1 / (1.25 + 1e-5).squareRoot()
        let c0 = [-1.5, -0.5, 0.5, 1.5].map { Float($0 * inv * 2 + 1) }
        try checkOp("InstanceNormalization", inputs: [x, Tensor(shape: [2], floats: [2, 3]), Tensor(shape: [2], floats: [1, -1])],
                    expected: [Tensor(shape: [1, 2, 2, 2], floats: c0 + [-1, -1, -1, -1])], rtol: rtol, atol: atol)
    }

    @Test func instanceNormalizationDeviceMatchesReference() throws {
        var rng = TestRandom(seed: 8)
        for shape in [[2, 3, 5, 7], [3, 5, 67], [1, 4, 300], [2, 3]] {
            let c = shape[1]
            try checkOp("InstanceNormalization", attributes: ["epsilon": .float(1e-3)],
                        inputs: [rng.tensor(shape, -2, 3), rng.tensor([c]), rng.tensor([c])], rtol: rtol, atol: atol)
        }
    }

    @Test func layerNormalizationHandComputed() throws {
        // Rows [1,2,3] and [2,4,6]: means 2 and 4, variances 2/3 and 8/3.
        let x = Tensor(shape: [2, 3], floats: [1, 2, 3, 2, 4, 6])
        let i0 = 1 / (2.0 / 3 + 1e-5).squareRoot(), i1 = 1 / (8.0 / 3 + 1e-5).squareRoot()
        let scale: [Double] = [1, 2, 0.5], bias: [Double] = [0, 1, -1]
        let y0 = [-1.0, 0, 1].enumerated().map { Float($1 * i0 * scale[$0] + bias[$0]) }
        let y1 = [-2.0, 0, 2].enumerated().map { Float($1 * i1 * scale[$0] + bias[$0]) }
        try checkOp("LayerNormalization", inputs: [x, Tensor(shape: [3], floats: scale.map(Float.init)), Tensor(shape: [3], floats: bias.map(Float.init))],
                    outputs: 3, expected: [Tensor(shape: [2, 3], floats: y0 + y1), Tensor(shape: [2, 1], floats: [2, 4]),
                                           Tensor(shape: [2, 1], floats: [Float(i0), Float(i1)])], rtol: rtol, atol: atol)
    }

    @Test func layerNormalizationDeviceMatchesReference() throws {
        var rng = TestRandom(seed: 12)
        let x = rng.tensor([2, 3, 5, 7], -2, 3)
        for axis in [-1, 1, 2, 0, -3] {
            let norm = Array(x.shape[Shape.axis(axis, rank: 4)!...])
            try checkOp("LayerNormalization", attributes: ["axis": .int(axis)],
                        inputs: [x, rng.tensor(norm), rng.tensor(norm)], outputs: 3, rtol: rtol, atol: atol)
        }
        // Scale broadcast over the normalised shape, no bias, only the Y output.
        try checkOp("LayerNormalization", attributes: ["axis": .int(1), "epsilon": .float(1e-3)],
                    inputs: [x, rng.tensor([5, 1])], rtol: rtol, atol: atol)
        try checkOp("LayerNormalization", inputs: [rng.tensor([3, 67, 130]), rng.tensor([130]), rng.tensor([130])], rtol: rtol, atol: atol)
        #expect(throws: GPUInferError.self) {
            try checkOp("LayerNormalization", inputs: [x, rng.tensor([6]), rng.tensor([7])])
        }
    }

    @Test func layerNormalizationOmittedMeanOutput() throws {
        // Outputs Y, (omitted Mean), InvStdDev: the planner skips the omitted one.
        var rng = TestRandom(seed: 13)
        let x = rng.tensor([4, 9])
        let model = try singleNodeModel("LayerNormalization", inputs: [x, rng.tensor([9])], constant: [1], outputs: 3)
        var graph = model.graph
        graph.nodes[0].outputs = ["out0", "", "out2"]
        graph.outputs = [ValueInfo(name: "out0", dtype: nil, dims: nil), ValueInfo(name: "out2", dtype: nil, dims: nil)]
        let m = try Model(graph: graph)
        let reference = try ReferenceExecutor().run(m, inputs: ["in0": x])
        let device = try Session(model: m, runtime: try TestDevice.require()).run(["in0": x])
        for name in ["out0", "out2"] { assertClose(device[name]!, reference[name]!, rtol: rtol, atol: atol, name) }
    }

    @Test func groupNormalization() throws {
        // N=1, C=4, 2 groups, spatial 2: group 0 = channels 0,1 = [1,2,3,4]; group 1 = [0,0,0,8].
        let x = Tensor(shape: [1, 4, 2], floats: [1, 2, 3, 4, 0, 0, 0, 8])
        let i0 = 1 / (1.25 + 1e-5).squareRoot(), i1 = 1 / (12.0 + 1e-5).squareRoot()
        let n0 = [-1.5, -0.5, 0.5, 1.5].map { $0 * i0 }, n1 = [-2.0, -2, -2, 6].map { $0 * i1 }
        // Opset 21: scale and bias per channel.
        let sc: [Double] = [1, 2, 3, 4], bc: [Double] = [0, 1, 0, -1]
        let perChannel = (n0 + n1).enumerated().map { Float($1 * sc[$0 / 2] + bc[$0 / 2]) }
        try checkOp("GroupNormalization", attributes: ["num_groups": .int(2)],
                    inputs: [x, Tensor(shape: [4], floats: sc.map(Float.init)), Tensor(shape: [4], floats: bc.map(Float.init))], opset: 21,
                    expected: [Tensor(shape: [1, 4, 2], floats: perChannel)], rtol: rtol, atol: atol)
        // Opset 18: scale and bias per group.
        let perGroup = (n0 + n1).enumerated().map { Float($1 * [2.0, 3][$0 / 4] + [1.0, -1][$0 / 4]) }
        try checkOp("GroupNormalization", attributes: ["num_groups": .int(2)],
                    inputs: [x, Tensor(shape: [2], floats: [2, 3]), Tensor(shape: [2], floats: [1, -1])], opset: 18,
                    expected: [Tensor(shape: [1, 4, 2], floats: perGroup)], rtol: rtol, atol: atol)
        var rng = TestRandom(seed: 14)
        let y = rng.tensor([2, 6, 5, 7], -2, 3)
        for g in [1, 2, 3, 6] {
            try checkOp("GroupNormalization", attributes: ["num_groups": .int(g)], inputs: [y, rng.tensor([6]), rng.tensor([6])],
                        opset: 21, rtol: rtol, atol: atol)
            try checkOp("GroupNormalization", attributes: ["num_groups": .int(g)], inputs: [y, rng.tensor([g]), rng.tensor([g])],
                        opset: 18, rtol: rtol, atol: atol)
        }
        #expect(throws: GPUInferError.self) {
            try checkOp("GroupNormalization", attributes: ["num_groups": .int(4)], inputs: [y, rng.tensor([6]), rng.tensor([6])], opset: 21)
        }
    }
}
