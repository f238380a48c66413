// Conv: reference vs hand-computed values, device vs reference on awkward shapes and attributes.
import Testing
@testable import GPUInfer

/// Tolerance for fp32 sums of `k` products of values in [-1, 1]. Device and reference add the
/// same products in the same order, but OpenCL may fuse multiply-adds (FP_CONTRACT) and so
/// round differently at each of the k steps: each step differs by ≲ 2⁻²⁴·|running sum| with
/// |running sum| ≲ √k/3, so differences grow like k·2⁻²⁴·√k/3 at worst and ≈ k·2e-8 typically.
/// 1e-5·√k is ≥ 10× the typical difference for k ≤ 1000 and far below an indexing error (≈ 0.1).
func sumTolerance(_ k: Int) -> Float { 1e-5 * Float(max(k, 1)).squareRoot() }

/// Attributes from Swift values: Int → int, [Int] → ints, Float → float, String → string.
func attrs(_ values: [String: Any]) -> [String: Attribute] {
    var a: [String: Attribute] = [:]
    for (k, v) in values {
        switch v {
        case let i as Int: a[k] = .int(i)
        case let l as [Int]: a[k] = .ints(l)
        case let f as Float: a[k] = .float(f)
        case let s as String: a[k] = .string(s)
        default: break
        }
    }
    return a
}

@Suite struct ConvTests {
    /// Runs Conv on random data (device vs reference) with K = C/group · ∏kernel accumulated terms.
    @discardableResult
    func conv(_ x: [Int], _ w: [Int], bias: Bool = true, _ a: [String: Any] = [:], seed: UInt64 = 1,
              sourceLocation: SourceLocation = #_sourceLocation) throws -> Tensor {
        var rng = TestRandom(seed: seed)
        let k = w.dropFirst().reduce(1, *)
        let tol = sumTolerance(k)
        let inputs: [Tensor?] = [rng.tensor(x), rng.tensor(w)] + (bias ? [rng.tensor([w[0]])] : [])
        return try checkOp("Conv", attributes: attrs(a), inputs: inputs, constant: [1, 2], rtol: tol, atol: tol,
                           sourceLocation: sourceLocation)[0]
    }

    @Test func handComputed2x2Kernel() throws {
        let x = Tensor(shape: [1, 1, 3, 3], floats: (1...9).map(Float.init))
        let w = Tensor(shape: [1, 1, 2, 2], floats: [1, 2, 3, 4])
        // y[i][j] = Σ x[i+a][j+b]·w[a][b]: 1+4+12+20, 2+6+15+24, 4+10+21+32, 5+12+24+36.
        try checkOp("Conv", inputs: [x, w, Tensor(shape: [1], floats: [0.5])], constant: [1, 2],
                    expected: [Tensor(shape: [1, 1, 2, 2], floats: [37.5, 47.5, 67.5, 77.5])], rtol: 0, atol: 0)
        // pads 1, stride 2: windows over padded rows/cols {-1,0}, {1,2}.
        try checkOp("Conv", attributes: attrs(["pads": [1, 1, 1, 1], "strides": [2, 2]]), inputs: [x, w], constant: [1],
                    expected: [Tensor(shape: [1, 1, 2, 2], floats: [4, 18, 36, 77])], rtol: 0, atol: 0)
    }

    @Test func handComputed1DDilatedAndGrouped() throws {
        // y[o] = x[o-2] − x[o+2] (dilation 2, pads 2), zeros outside.
        try checkOp("Conv", attributes: attrs(["dilations": [2], "pads": [2, 2]]),
                    inputs: [Tensor(shape: [1, 1, 5], floats: [1, 2, 3, 4, 5]), Tensor(shape: [1, 1, 3], floats: [1, 0, -1])],
                    constant: [1], expected: [Tensor(shape: [1, 1, 5], floats: [-3, -4, -4, 2, 3])], rtol: 0, atol: 0)
        // group 2: channel 0 sums its plane, channel 1 computes x00 − x11; bias [1, 2].
        try checkOp("Conv", attributes: attrs(["group": 2]),
                    inputs: [Tensor(shape: [1, 2, 2, 2], floats: [1, 2, 3, 4, 5, 6, 7, 8]),
                             Tensor(shape: [2, 1, 2, 2], floats: [1, 1, 1, 1, 1, 0, 0, -1]), Tensor(shape: [2], floats: [1, 2])],
                    constant: [1, 2], expected: [Tensor(shape: [1, 2, 1, 1], floats: [11, -1])], rtol: 0, atol: 0)
    }

    @Test func handComputedAutoPad() throws {
        let x = Tensor(shape: [1, 1, 4], floats: [1, 2, 3, 4]), w = Tensor(shape: [1, 1, 2], floats: [1, 1])
        // Total padding 1: SAME_UPPER puts it at the end, SAME_LOWER at the beginning.
        try checkOp("Conv", attributes: attrs(["auto_pad": "SAME_UPPER"]), inputs: [x, w], constant: [1],
                    expected: [Tensor(shape: [1, 1, 4], floats: [3, 5, 7, 4])], rtol: 0, atol: 0)
        try checkOp("Conv", attributes: attrs(["auto_pad": "SAME_LOWER"]), inputs: [x, w], constant: [1],
                    expected: [Tensor(shape: [1, 1, 4], floats: [1, 3, 5, 7])], rtol: 0, atol: 0)
        try checkOp("Conv", attributes: attrs(["auto_pad": "VALID", "strides": [2]]), inputs: [x, w], constant: [1],
                    expected: [Tensor(shape: [1, 1, 2], floats: [3, 7])], rtol: 0, atol: 0)
    }

    @Test func oddChannelsAndSizes() throws {
        #expect(try conv([2, 3, 13, 17], [5, 3, 3, 3], ["pads": [1, 1, 1, 1]]).shape == [2, 5, 13, 17])
        try conv([1, 7, 13, 17], [9, 7, 3, 3], bias: false, ["kernel_shape": [3, 3]], seed: 2)
        try conv([1, 3, 1, 1], [4, 3, 1, 1], seed: 3)
        try conv([1, 64, 8, 8], [16, 64, 3, 3], ["pads": [1, 1, 1, 1]], seed: 4)   // K = 576
        try conv([1, 3, 11, 5], [5, 3, 5, 3], ["pads": [2, 0, 2, 1]], seed: 5)    // non-square kernel
    }

    @Test func stridesPadsDilations() throws {
        #expect(try conv([1, 5, 13, 17], [7, 5, 3, 3], ["strides": [2, 2], "pads": [1, 0, 2, 1]]).shape == [1, 7, 7, 8])
        #expect(try conv([2, 3, 13, 17], [4, 3, 3, 3], ["dilations": [2, 2], "pads": [2, 2, 2, 2]], seed: 2).shape == [2, 4, 13, 17])
        try conv([2, 3, 14, 15], [6, 3, 3, 2], ["dilations": [2, 3], "strides": [3, 2]], seed: 3)
        try conv([1, 4, 13, 17], [5, 4, 1, 1], ["strides": [2, 2]], seed: 4)          // 1×1 with stride: direct path
        try conv([1, 3, 7, 9], [4, 3, 7, 7], ["pads": [3, 3, 3, 3], "strides": [2, 2]], seed: 5)
    }

    /// Shapes for the CPU-style blocked kernel (Kernels/conv_blocked.cl, chosen on PoCL for group-1
    /// convs with a constant weight; default tile 16 channels × 5 columns): channel tails below and
    /// above one block, widths that leave a column tail, border tiles, strides, dilations, batch.
    @Test func blockedKernelShapes() throws {
        try conv([1, 5, 9, 17], [7, 5, 3, 3], ["pads": [1, 1, 1, 1]])                    // Cout 7 < 16, width 17
        try conv([2, 6, 11, 23], [13, 6, 3, 3], ["pads": [1, 1, 1, 1]], seed: 2)         // Cout 13, width 23, batch 2
        try conv([1, 4, 10, 23], [35, 4, 3, 3], bias: false, ["pads": [0, 2, 1, 0]], seed: 3)  // 3 blocks, asymmetric pads
        try conv([2, 5, 13, 23], [13, 5, 3, 3], ["strides": [2, 2], "pads": [1, 1, 1, 1]], seed: 4)
        try conv([1, 5, 13, 17], [7, 5, 3, 3], ["dilations": [2, 2], "pads": [2, 2, 2, 2]], seed: 5)
        try conv([1, 3, 17, 23], [20, 3, 3, 2], ["strides": [1, 2], "dilations": [2, 1], "pads": [1, 0, 2, 1]], seed: 6)
        try conv([2, 3, 20, 30], [64, 3, 3, 3], ["pads": [1, 1, 1, 1]], seed: 7)         // VGG conv1_1: C = 3
        try conv([1, 64, 25, 37], [64, 64, 3, 3], ["pads": [1, 1, 1, 1]], seed: 8)       // VGG-like, K = 576
        try conv([1, 3, 4, 3], [5, 3, 3, 3], ["pads": [1, 1, 1, 1]], seed: 9)            // every tile is a border tile
        try conv([2, 5, 29], [13, 5, 3], ["pads": [1, 1]], seed: 10)                      // 1-D (H = 1)
    }

    /// Pointwise convolutions on the blocked kernel, which runs the H×W plane as one row of H·W
    /// columns: column blocks that cross rows, a plane smaller than one block, a ragged last block,
    /// channel tails, batch, groups, 1-D.
    @Test func blockedPointwiseShapes() throws {
        try conv([1, 37, 7, 7], [21, 37, 1, 1], seed: 12)                 // 49 columns: blocks cross rows
        try conv([2, 19, 3, 3], [35, 19, 1, 1], bias: false, seed: 13)     // 9 columns, batch 2
        try conv([1, 4, 1, 2], [5, 4, 1, 1], seed: 14)                     // fewer columns than a block
        try conv([2, 8, 5, 11], [12, 4, 1, 1], ["group": 2], seed: 15)     // groups of 6 outputs
        try conv([1, 6, 23], [17, 6, 1], seed: 16)                         // 1-D
    }

    /// Pointwise convolutions on planes of ≥ 2048 pixels (≥ 1024 with ≤ 64 input channels), which run conv1x1_px on PoCL (6 output
    /// channels × 16 pixels per work-item): a ragged last pixel block (H·W not a multiple of 16),
    /// exactly 2048 pixels, channel counts below, at and above the 6-channel block with a tail,
    /// batch 2, no bias, 1-D; a fused ReLU6 in ConvDepthwiseTests.pixelPointwiseReLU6.
    @Test func pixelPointwiseShapes() throws {
        try conv([2, 5, 47, 53], [13, 5, 1, 1], seed: 17)                  // 2491 pixels, 13 = 2·6 + 1 channels
        try conv([1, 16, 64, 32], [6, 16, 1, 1], bias: false, seed: 18)     // 2048 pixels, one channel block
        try conv([1, 3, 45, 51], [2, 3, 1, 1], seed: 19)                   // fewer channels than a block
        try conv([1, 33, 2100], [7, 33, 1], seed: 20)                      // 1-D, 2100 pixels
        try conv([2, 31, 33, 37], [20, 31, 1, 1], seed: 21)                // 1221 pixels with ≤ 64 input channels
    }

    /// A weight that is a graph input (not constant) runs the generic kernels.
    @Test func nonConstantWeight() throws {
        var rng = TestRandom(seed: 11)
        try checkOp("Conv", attributes: attrs(["pads": [1, 1, 1, 1]]),
                    inputs: [rng.tensor([1, 5, 9, 17]), rng.tensor([7, 5, 3, 3]), rng.tensor([7])], constant: [],
                    rtol: sumTolerance(45), atol: sumTolerance(45))
    }

    @Test func groupsAndDepthwise() throws {
        try conv([1, 6, 9, 11], [10, 3, 3, 3], ["group": 2, "pads": [1, 1, 1, 1]])           // Mg = 5: tail of a 4-block
        try conv([2, 7, 13, 17], [7, 1, 3, 3], ["group": 7, "strides": [2, 2], "pads": [1, 1, 1, 1]], seed: 2)  // depthwise
        try conv([1, 7, 13, 17], [14, 1, 3, 3], ["group": 7, "pads": [1, 1, 1, 1]], seed: 3)  // multiplier 2
        try conv([2, 9, 12, 13], [9, 3, 3, 3], ["group": 3, "dilations": [2, 2]], seed: 4)
    }

    @Test func autoPadEvenAndOdd() throws {
        for (i, mode) in ["SAME_UPPER", "SAME_LOWER", "VALID"].enumerated() {
            for size in [[12, 12], [13, 11]] {
                for (k, s) in [(3, 1), (3, 2), (4, 2)] {
                    let y = try conv([1, 3] + size, [4, 3, k, k], ["auto_pad": mode, "strides": [s, s]], seed: UInt64(10 * i + k + s))
                    if mode != "VALID" { #expect(y.shape == [1, 4] + size.map { ($0 + s - 1) / s }) }
                }
            }
        }
    }

    @Test func oneDimensional() throws {
        #expect(try conv([2, 5, 31], [6, 5, 5], ["strides": [2], "pads": [2, 1]]).shape == [2, 6, 15])
        try conv([1, 4, 20], [4, 1, 3], ["group": 4, "dilations": [2], "auto_pad": "SAME_UPPER"], seed: 2)
        try conv([3, 5, 9], [7, 5, 1], seed: 3)   // pointwise 1-D: GEMM path
    }

    @Test func pointwiseGemmPath() throws {
        try conv([2, 7, 13, 17], [9, 7, 1, 1])
        try conv([2, 6, 5, 7], [9, 2, 1, 1], ["group": 3], seed: 2)
        try conv([1, 5, 3, 3], [3, 5, 1, 1], bias: false, seed: 3)
    }

    @Test func rejectsUnsupportedAndMismatched() throws {
        var rng = TestRandom(seed: 9)
        // 3-D: rejected at load from kernel_shape, or from the input rank when shapes are known.
        #expect { try singleNodeModel("Conv", attributes: attrs(["kernel_shape": [3, 3, 3]]), inputs: [rng.tensor([1, 1, 4, 4, 4]), rng.tensor([1, 1, 3, 3, 3])], constant: [1]) }
            throws: { e in if case .unsupportedOp = e as? GPUInferError { true } else { false } }
        // With static input shapes the model is planned at load, so these fail while loading.
        #expect { try singleNodeModel("Conv", inputs: [rng.tensor([1, 1, 4, 4, 4]), rng.tensor([1, 1, 3, 3, 3])], constant: [1]) }
            throws: { e in if case .unsupportedOp = e as? GPUInferError { true } else { false } }
        #expect { try singleNodeModel("Conv", attributes: attrs(["group": 2]), inputs: [rng.tensor([1, 3, 4, 4]), rng.tensor([2, 1, 3, 3])], constant: [1]) }
            throws: { e in if case .shapeMismatch = e as? GPUInferError { true } else { false } }
    }
}
