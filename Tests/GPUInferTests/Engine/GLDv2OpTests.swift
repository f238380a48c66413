// The exact operator configurations of the GLDv2 models (Models/gldv2.py) on PoCL against the CPU
// reference, with awkward sizes: SE-ResNeXt's 64-group 3×3 convolutions (4–32 output channels per
// group, so the blocked kernel's 4-, 8- and 16-channel blocks and their tails), pointwise
// convolutions on the blocked kernel, Inception-v4's 1×7/7×1 and 1×3/3×1 kernels, the "vd"
// AveragePool shortcut (2×2/2, ceil_mode 0 and 1, padding excluded) and Inception's 3×3/1 average
// pool, and the squeeze-excitation chain (GlobalAveragePool → FC → ReLU → FC → Sigmoid → channel Mul).
//
// Tolerances: convolutions use the suite-wide 1e-5·√K (K products summed in different orders on
// the two sides); pools add ≤ 9 terms in the same order and divide once (1e-6 relative); the SE
// chain is checked against a hand-written loop in Double to 1e-5 (two sums of ≤ 96 products and
// a sigmoid, fp32 rounding ≈ 1e-6) and the device against the reference to 1e-5.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct GLDv2OpTests {
    @discardableResult
    func conv(_ x: [Int], _ w: [Int], bias: Bool = true, _ a: [String: Any] = [:], seed: UInt64 = 1,
              sourceLocation: SourceLocation = #_sourceLocation) throws -> Tensor {
        var rng = TestRandom(seed: seed)
        let tol = sumTolerance(w.dropFirst().reduce(1, *))
        let inputs: [Tensor?] = [rng.tensor(x), rng.tensor(w)] + (bias ? [rng.tensor([w[0]])] : [])
        return try checkOp("Conv", attributes: attrs(a), inputs: inputs, constant: [1, 2], rtol: tol, atol: tol,
                           sourceLocation: sourceLocation)[0]
    }

    /// 64 groups with Mg = 4, 8, 16 and 32 output channels per group (SE-ResNeXt 64×4d stages 1–4),
    /// stride 1 and 2, odd sizes, batch 2, and a group count whose Mg = 12 leaves a partial block.
    @Test func groupedConv64Groups() throws {
        try conv([1, 256, 15, 13], [256, 4, 3, 3], ["group": 64, "pads": [1, 1, 1, 1]])
        try conv([2, 512, 9, 11], [512, 8, 3, 3], ["group": 64, "strides": [2, 2], "pads": [1, 1, 1, 1]], seed: 2)
        try conv([1, 1024, 7, 9], [1024, 16, 3, 3], bias: false, ["group": 64, "pads": [1, 1, 1, 1]], seed: 3)
        try conv([1, 2048, 5, 6], [2048, 32, 3, 3], ["group": 64, "strides": [2, 2], "pads": [1, 1, 1, 1]], seed: 4)
        try conv([1, 36, 7, 5], [36, 12, 3, 3], ["group": 3, "pads": [1, 1, 1, 1]], seed: 5)
    }

    /// Pointwise convolutions (ResNet bottlenecks, shortcuts, Inception reductions) on the blocked
    /// kernel: channel tails, batch 2, sizes not a multiple of the 5-column tile, stride 2.
    @Test func pointwiseConvBlocked() throws {
        try conv([2, 37, 11, 13], [45, 37, 1, 1], seed: 6)
        try conv([1, 64, 7, 7], [256, 64, 1, 1], bias: false, seed: 7)
        try conv([1, 33, 9, 10], [19, 33, 1, 1], ["strides": [2, 2]], seed: 8)
    }

    /// The GEMM path for pointwise convolutions ($GPUINFER_CONV_POINTWISE=gemm) is still reachable
    /// through non-constant weights and agrees with the reference.
    @Test func pointwiseConvWithRuntimeWeight() throws {
        var rng = TestRandom(seed: 9)
        try checkOp("Conv", attributes: [:], inputs: [rng.tensor([2, 37, 11, 13]), rng.tensor([45, 37, 1, 1]), rng.tensor([45])],
                    rtol: sumTolerance(37), atol: sumTolerance(37))
    }

    /// Inception-v4's asymmetric kernels with their paddings, odd channel counts and sizes.
    @Test func asymmetricKernels() throws {
        try conv([1, 19, 17, 15], [23, 19, 1, 7], ["pads": [0, 3, 0, 3]], seed: 10)
        try conv([2, 19, 17, 15], [21, 19, 7, 1], ["pads": [3, 0, 3, 0]], seed: 11)
        try conv([1, 13, 9, 11], [17, 13, 1, 3], ["pads": [0, 1, 0, 1]], seed: 12)
        try conv([1, 13, 9, 11], [17, 13, 3, 1], bias: false, ["pads": [1, 0, 1, 0]], seed: 13)
        try conv([1, 9, 16, 14], [7, 9, 7, 1], ["pads": [3, 0, 3, 0], "strides": [2, 2]], seed: 14)
    }

    /// The vd shortcut's AveragePool 2×2/2 pad 0 (floor for ResNet152-vd-v0, ceil for the
    /// PaddleClas models), padding excluded, on odd and even sizes; and Inception's 3×3/1 pad 1.
    @Test func averagePoolShortcuts() throws {
        // Hand-computed: 3×3 input, ceil_mode 1 → 2×2 output; the last row/column windows hold
        // 2 and 1 values (exclusive counts): [[1,2,3],[4,5,6],[7,8,9]] → [[3, 4.5], [7.5, 9]].
        let x3 = Tensor(shape: [1, 1, 3, 3], floats: (1...9).map(Float.init))
        try checkOp("AveragePool", attributes: attrs(["kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1]),
                    inputs: [x3], expected: [Tensor(shape: [1, 1, 2, 2], floats: [3, 4.5, 7.5, 9])], rtol: 0, atol: 0)
        try checkOp("AveragePool", attributes: attrs(["kernel_shape": [2, 2], "strides": [2, 2]]),
                    inputs: [x3], expected: [Tensor(shape: [1, 1, 1, 1], floats: [3])], rtol: 0, atol: 0)
        var rng = TestRandom(seed: 15)
        for ceil in [0, 1] {
            for shape in [[2, 5, 15, 13], [1, 3, 14, 16]] {
                try checkOp("AveragePool", attributes: attrs(["kernel_shape": [2, 2], "strides": [2, 2], "pads": [0, 0, 0, 0],
                                                               "ceil_mode": ceil, "count_include_pad": 0]),
                            inputs: [rng.tensor(shape)], rtol: 1e-6, atol: 1e-7)
            }
        }
        try checkOp("AveragePool", attributes: attrs(["kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1], "count_include_pad": 0]),
                    inputs: [rng.tensor([2, 7, 9, 11])], rtol: 1e-6, atol: 1e-7)
    }

    /// Squeeze-excitation as exported: y · σ(W2ᵀ·relu(W1ᵀ·gap(y) + b1) + b2), with Paddle's [in, out]
    /// FC weights, C = 96 channels, reduction 16, batch 2, a 7×5 map.
    @Test func squeezeExcitation() throws {
        let (n, c, r, h, w) = (2, 96, 6, 7, 5)
        var rng = TestRandom(seed: 16)
        let x = rng.tensor([n, c, h, w], -2, 2)
        let w1 = rng.tensor([c, r], -0.5, 0.5), b1 = rng.tensor([r], -0.1, 0.1)
        let w2 = rng.tensor([r, c], -1, 1), b2 = rng.tensor([c], -0.5, 0.5)
        let axes = Tensor(shape: [2], ints: [2, 3])
        let nodes = [
            Node(name: "gap", opType: "GlobalAveragePool", inputs: ["x"], outputs: ["g"], attributes: [:]),
            Node(name: "flat", opType: "Flatten", inputs: ["g"], outputs: ["f"], attributes: ["axis": .int(1)]),
            Node(name: "fc1", opType: "Gemm", inputs: ["f", "w1", "b1"], outputs: ["s1"], attributes: [:]),
            Node(name: "relu", opType: "Relu", inputs: ["s1"], outputs: ["s2"], attributes: [:]),
            Node(name: "fc2", opType: "Gemm", inputs: ["s2", "w2", "b2"], outputs: ["s3"], attributes: [:]),
            Node(name: "sig", opType: "Sigmoid", inputs: ["s3"], outputs: ["s4"], attributes: [:]),
            Node(name: "unsq", opType: "Unsqueeze", inputs: ["s4", "axes"], outputs: ["s5"], attributes: [:]),
            Node(name: "scale", opType: "Mul", inputs: ["x", "s5"], outputs: ["y"], attributes: [:]),
        ]
        let graph = Graph(nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, dims: [nil, c, nil, nil])],
                          outputs: [ValueInfo(name: "y", dtype: .float32, dims: nil)],
                          initializers: ["w1": w1, "b1": b1, "w2": w2, "b2": b2, "axes": axes], opset: 17, opsets: ["": 17])
        let model = try Model(graph: graph)
        // Independent expectation in Double.
        var expected = [Float](repeating: 0, count: x.count)
        for b in 0..<n {
            let gap: [Double] = (0..<c).map { ch in
                (0..<(h * w)).reduce(0.0) { $0 + Double(x.floats[(b * c + ch) * h * w + $1]) } / Double(h * w)
            }
            let hidden: [Double] = (0..<r).map { j in
                max(0, (0..<c).reduce(Double(b1.floats[j])) { $0 + gap[$1] * Double(w1.floats[$1 * r + j]) })
            }
            for ch in 0..<c {
                let z = (0..<r).reduce(Double(b2.floats[ch])) { $0 + hidden[$1] * Double(w2.floats[$1 * c + ch]) }
                let s = 1 / (1 + exp(-z))
                for i in 0..<(h * w) { expected[(b * c + ch) * h * w + i] = Float(Double(x.floats[(b * c + ch) * h * w + i]) * s) }
            }
        }
        let want = Tensor(shape: [n, c, h, w], floats: expected)
        let reference = try #require(try ReferenceExecutor().run(model, inputs: ["x": x])["y"])
        assertClose(reference, want, rtol: 1e-5, atol: 1e-5, "SE reference vs hand-computed")
        let device = try #require(try Session(model: model, runtime: try TestDevice.require()).run(["x": x])["y"])
        assertClose(device, reference, rtol: 1e-5, atol: 1e-5, "SE device vs reference")
    }
}
