// Reduced-precision weight storage (Core/ReducedPrecision.swift): bf16/fp16 copies of NetVLAD's
// WPCA weight and of fully connected weights (gemm_dot), widened to fp32 in the kernels.
//
// Tolerance. Storage rounds each weight once (bf16: relative ≤ 2⁻⁸; fp16: ≤ 2⁻¹¹, absolute ≤ 2⁻²⁵
// below 2⁻¹⁴) and the kernels widen it exactly, so the device with reduced storage must equal the
// fp32 reference run on the *rounded* weights up to the fp32 summation-order bound the fp32 tests
// already use (NetVLAD: 1e-5 absolute on unit-norm outputs; Gemm: 1e-5 relative + 1e-5 absolute for
// sums of ≤ 1003 products of values in [-1, 1]). Against the original fp32 weights the error is
// bounded by u·Σ|w||x| — that is the stated accuracy of the option, not a test tolerance.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct ReducedPrecisionTests {
    @Test func bf16RoundsToNearestEven() {
        func bits(_ x: Float) -> UInt16 { WeightPrecision.bf16Bits(x) }
        #expect(bits(1) == 0x3F80 && bits(-2) == 0xC000 && bits(0) == 0 && bits(-0.0) == 0x8000)
        // 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷: ties go to the even pattern (1).
        #expect(bits(1 + 0x1p-8) == 0x3F80)
        // 1 + 3·2⁻⁸ is halfway between 1 + 2⁻⁷ (odd) and 1 + 2⁻⁶ (even).
        #expect(bits(1 + 3 * 0x1p-8) == 0x3F82)
        // Just above the tie rounds up.
        #expect(bits(1 + 0x1p-8 + 0x1p-20) == 0x3F81)
        #expect(Float(bitPattern: UInt32(bits(.nan)) << 16).isNaN)
        #expect(bits(.infinity) == 0x7F80 && bits(-.infinity) == 0xFF80)
        // A subnormal fp32 keeps a (subnormal) bf16 neighbour; the largest fp32 rounds to infinity.
        #expect(WeightPrecision.widened(0x1p-130, .bf16) == 0x1p-130)
        #expect(WeightPrecision.widened(.greatestFiniteMagnitude, .bf16).isInfinite)
        // Every widened value is within the unit roundoff of the original.
        var rng = TestRandom(seed: 7)
        for (p, limit) in [(WeightPrecision.bf16, Float(1e30)), (.fp16, 65504)] {
            for x in rng.tensor([1000], -1, 1).floats.map({ $0 * $0 * $0 * limit }) + [limit, -limit, 1e-6, 3e-8] {
                let (rel, abs) = p.unitRoundoff
                let w = WeightPrecision.widened(x, p)
                #expect(Double(Swift.abs(w - x)) <= rel * Double(Swift.abs(x)) + abs, "\(p) \(x) → \(w)")
            }
        }
    }

    /// `t` with every value replaced by what `precision` stores and the kernels read back.
    static func rounded(_ t: Tensor, _ precision: WeightPrecision) -> Tensor {
        Tensor(shape: t.shape, floats: t.floats.map { WeightPrecision.widened($0, precision) })
    }

    static func options(_ precision: WeightPrecision) -> ExecutionOptions {
        var o = ExecutionOptions()
        o.kernelStyle = .cpu
        o.weightPrecision = precision
        return o
    }

    /// A fully connected layer (Gemm, transB = 1, constant weight and bias) on gemm_dot: K = 1003
    /// leaves a tail of 3 after the float8 steps, 37 outputs a ragged column block, 3 rows.
    @Test(arguments: [WeightPrecision.bf16, .fp16])
    func fullyConnectedEqualsTheRoundedWeights(_ precision: WeightPrecision) throws {
        var rng = TestRandom(seed: 70)
        let x = rng.tensor([3, 1003]), w = rng.tensor([37, 1003]), b = rng.tensor([37])
        let attributes: [String: Attribute] = ["transB": .int(1)]
        let model = try singleNodeModel("Gemm", attributes: attributes, inputs: [x, w, b], constant: [1, 2])
        let roundedModel = try singleNodeModel("Gemm", attributes: attributes, inputs: [x, Self.rounded(w, precision), b], constant: [1, 2])
        let runtime = try TestDevice.require()
        let reference = try #require(try ReferenceExecutor().run(roundedModel, inputs: ["in0": x])["out0"])
        let device = try #require(try Session(model: model, runtime: runtime, options: Self.options(precision)).run(["in0": x])["out0"])
        assertClose(device, reference, rtol: 1e-5, atol: 1e-5, "Gemm with \(precision) weights vs fp32 on the rounded weights")
        // The reduced storage really ran: the result differs from fp32 storage's.
        let fp32 = try #require(try Session(model: model, runtime: runtime, options: Self.options(.fp32)).run(["in0": x])["out0"])
        #expect(zip(device.floats, fp32.floats).contains { $0 != $1 })
    }

    @Test(arguments: [WeightPrecision.bf16, .fp16])
    func netvladWPCAEqualsTheRoundedWeights(_ precision: WeightPrecision) throws {
        var rng = TestRandom(seed: 71)
        let weights = NetVLADTests.randomWeights(d: 24, k: 5, o: 37, seed: 72)
        var roundedWeights = weights
        roundedWeights[2] = Self.rounded(weights[2], precision)
        let features = rng.tensor([2, 24, 3, 5])
        let model = try NetVLADTests.headModel(features: [nil, 24, 3, 5], weights: weights)
        let roundedModel = try NetVLADTests.headModel(features: [nil, 24, 3, 5], weights: roundedWeights)
        let runtime = try TestDevice.require()
        for batch in [1, 2] {
            let f = NetVLADTests.prefix(features, batch)
            let reference = try #require(try ReferenceExecutor().run(roundedModel, inputs: ["features": f])["descriptor"])
            let device = try #require(try Session(model: model, runtime: runtime, options: Self.options(precision)).run(["features": f])["descriptor"])
            checkOutput(device, reference, maxAbs: 1e-5, minCosine: 0.99999, "NetVLAD \(precision) batch \(batch) vs fp32 on the rounded WPCA")
            let fp32 = try #require(try Session(model: model, runtime: runtime, options: Self.options(.fp32)).run(["features": f])["descriptor"])
            #expect(zip(device.floats, fp32.floats).contains { $0 != $1 }, "batch \(batch): \(precision) storage did not run")
        }
    }

    /// A weight fp16 cannot hold is a typed error naming the node and weight, not an infinity.
    @Test func fp16OutOfRangeIsATypedError() throws {
        var rng = TestRandom(seed: 73)
        let x = rng.tensor([2, 16])
        var w = rng.tensor([4, 16])
        w.floats[5] = 70000
        let model = try singleNodeModel("Gemm", attributes: ["transB": .int(1)], inputs: [x, w], constant: [1])
        let session = Session(model: model, runtime: try TestDevice.require(), options: Self.options(.fp16))
        #expect {
            _ = try session.run(["in0": x])
        } throws: { error in
            guard case let GPUInferError.invalidModel(location, reason) = error else { return false }
            return location.contains("in1") && reason.contains("70000") && reason.contains("fp16")
        }
        // bf16 keeps fp32's range.
        _ = try Session(model: model, runtime: try TestDevice.require(), options: Self.options(.bf16)).run(["in0": x])
    }

    @Test func optionParses() throws {
        #expect(try ExecutionOptions.fromEnvironment(["GPUINFER_WEIGHT_PRECISION": "BF16"]).weightPrecision == .bf16)
        #expect(try ExecutionOptions.fromEnvironment([:]).weightPrecision == .fp32)
        #expect(throws: GPUInferError.self) { try ExecutionOptions.fromEnvironment(["GPUINFER_WEIGHT_PRECISION": "int8"]) }
    }
}
