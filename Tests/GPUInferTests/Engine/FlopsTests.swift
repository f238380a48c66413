// Operator.flops, the effective-GFLOP/s count behind `gpuinfer bench`: hand-counted multiply-adds
// (2 flops each) for Conv, grouped Conv, ConvTranspose, Gemm and MatMul, and 0 for data movement.
import Testing
@testable import GPUInfer

@Suite struct FlopsTests {
    private func flops(_ op: String, _ attributes: [String: Attribute] = [:], _ shapes: [[Int]]) throws -> Double {
        var rng = TestRandom(seed: 5)
        let model = try singleNodeModel(op, attributes: attributes, inputs: shapes.map { rng.tensor($0) }, constant: Set(1..<shapes.count))
        return try Session(model: model, device: .cpu).flops(for: ["in0": rng.tensor(shapes[0])])
    }

    @Test func convCountsEveryOutputTimesItsTaps() throws {
        // X [2,3,7,9], W [5,3,3,3], pad 1: output [2,5,7,9] = 630 values, 27 taps each.
        #expect(try flops("Conv", ["pads": .ints([1, 1, 1, 1])], [[2, 3, 7, 9], [5, 3, 3, 3], [5]]) == 2 * 630 * 27)
        // Grouped: X [1,6,5,5], W [4,3,3,3] with 2 groups, no pad: output [1,4,3,3] = 36 values, 27 taps.
        #expect(try flops("Conv", ["group": .int(2)], [[1, 6, 5, 5], [4, 3, 3, 3]]) == 2 * 36 * 27)
    }

    @Test func convTransposeCountsEveryInputTimesItsTaps() throws {
        // X [1,3,4,5] = 60 values scattered through W [3,2,3,3]: 18 taps each.
        #expect(try flops("ConvTranspose", [:], [[1, 3, 4, 5], [3, 2, 3, 3]]) == 2 * 60 * 18)
    }

    @Test func gemmAndMatMul() throws {
        // A [7,5] (transposed: [5,7] stored), B [5,3]: 7·3 outputs of 5-term dots.
        #expect(try flops("Gemm", [:], [[7, 5], [5, 3]]) == 2 * 21 * 5)
        #expect(try flops("Gemm", ["transA": .int(1)], [[5, 7], [5, 3]]) == 2 * 21 * 5)
        // Batched MatMul [2,4,6]·[6,3] = [2,4,3] outputs of 6-term dots.
        #expect(try flops("MatMul", [:], [[2, 4, 6], [6, 3]]) == 2 * 24 * 6)
    }

    @Test func dataMovementHasNoFlops() throws {
        #expect(try flops("Transpose", ["perm": .ints([1, 0])], [[3, 4]]) == 0)
    }
}
