// The depthwise 3×3 kernel (Kernels/conv_depthwise.cl) and activations fused into convolutions
// (Passes/Optimize.swift fuseConvActivation): device vs reference on awkward shapes, the fused
// graph vs the unfused one, hand-computed values.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct ConvDepthwiseTests {
    /// A model of Conv (weights and bias as initializers) followed by `activation` ("Relu",
    /// "Clip" with bounds as initializers, or nil).
    static func model(x: [Int], w: Tensor, bias: Tensor?, attributes: [String: Attribute], activation: String?,
                      bounds: (Float?, Float?) = (0, 6), options: LoadOptions = LoadOptions()) throws -> Model {
        var inits = ["w": w]
        var convInputs = ["x", "w"]
        if let bias { inits["b"] = bias; convInputs.append("b") }
        var nodes = [Node(name: "conv", opType: "Conv", inputs: convInputs, outputs: [activation == nil ? "y" : "t"], attributes: attributes)]
        if let activation {
            var inputs = ["t"]
            if activation == "Clip" {
                inputs += [bounds.0 == nil ? "" : "lo", bounds.1 == nil ? "" : "hi"]
                if let lo = bounds.0 { inits["lo"] = Tensor(shape: [], floats: [lo]) }
                if let hi = bounds.1 { inits["hi"] = Tensor(shape: [], floats: [hi]) }
            }
            nodes.append(Node(name: "act", opType: activation, inputs: inputs, outputs: ["y"]))
        }
        let graph = Graph(nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, dims: x.map { $0 })],
                          outputs: [ValueInfo(name: "y", dtype: .float32, dims: nil)], initializers: inits, opset: 17)
        return try Model(graph: graph, options: options)
    }

    /// Device vs reference, and the fused model vs the unfused one (reference), within the conv
    /// summation tolerance of ConvTests (9 terms for depthwise, C·k² otherwise).
    static func check(x: [Int], w: [Int], bias: Bool = true, _ a: [String: Any], activation: String?, bounds: (Float?, Float?) = (0, 6),
                      scale: Float = 3, seed: UInt64 = 1, sourceLocation: SourceLocation = #_sourceLocation) throws {
        var rng = TestRandom(seed: seed)
        let input = rng.tensor(x, -scale, scale), weight = rng.tensor(w), b = bias ? rng.tensor([w[0]]) : nil
        let fused = try model(x: x, w: weight, bias: b, attributes: attrs(a), activation: activation, bounds: bounds)
        let plain = try model(x: x, w: weight, bias: b, attributes: attrs(a), activation: activation, bounds: bounds,
                              options: LoadOptions(fuseActivations: false))
        #expect(fused.graph.nodes.count == 1 && fused.report.activationsFused == (activation == nil ? 0 : 1), sourceLocation: sourceLocation)
        let tol = sumTolerance(w.dropFirst().reduce(1, *)) * scale
        let reference = try #require(try ReferenceExecutor().run(fused, inputs: ["x": input])["y"])
        let unfused = try #require(try ReferenceExecutor().run(plain, inputs: ["x": input])["y"])
        assertClose(reference, unfused, rtol: 0, atol: 0, "fused vs unfused reference", sourceLocation: sourceLocation)
        // Every conv variant (both kernel styles: conv2d_dw3x3 and the CPU depthwise kernels, forced rows, generic).
        for options in OpVariants.forOp("Conv") {
            let device = try #require(try Session(model: fused, runtime: try TestDevice.require(), options: options).run(["x": input])["y"])
            assertClose(device, reference, rtol: tol, atol: tol, "device [\(options.summary)] vs reference \(x) \(w) \(a) \(activation ?? "-")",
                        sourceLocation: sourceLocation)
            if let hi = bounds.1, activation == "Clip" { #expect(device.floats.allSatisfy { $0 <= hi }, sourceLocation: sourceLocation) }
        }
    }

    /// One channel, 4×4 of ones, weights 1…9, stride 2 with TF SAME pads (0,0,1,1): output (0,0)
    /// covers rows/cols 0…2 (sum 45), (0,1) cols 2…4 with col 4 padded (w cols 0,1: 1+2+4+5+7+8 = 27),
    /// (1,0) rows 2…4 (1+2+3+4+5+6 = 21), (1,1) 1+2+4+5 = 12; bias −20, ReLU6: 6, 6, 1, 0.
    @Test func handComputedStride2SamePadsReLU6() throws {
        let m = try Self.model(x: [1, 1, 4, 4], w: Tensor(shape: [1, 1, 3, 3], floats: (1...9).map(Float.init)),
                               bias: Tensor(shape: [1], floats: [-20]), attributes: attrs(["group": 1, "strides": [2, 2], "pads": [0, 0, 1, 1]]),
                               activation: "Clip")
        let x = Tensor(shape: [1, 1, 4, 4], floats: [Float](repeating: 1, count: 16))
        let expected = Tensor(shape: [1, 1, 2, 2], floats: [6, 6, 1, 0])
        assertClose(try #require(try ReferenceExecutor().run(m, inputs: ["x": x])["y"]), expected, rtol: 0, atol: 0, "reference")
        for options in OpVariants.forOp("Conv") {
            assertClose(try #require(try Session(model: m, runtime: try TestDevice.require(), options: options).run(["x": x])["y"]), expected,
                        rtol: 0, atol: 0, "device [\(options.summary)]")
        }
    }

    /// Depthwise 3×3, stride 1 and 2: odd channel counts, sizes not multiples of the 4-column
    /// tile, even and odd sizes with TF SAME (asymmetric) and symmetric pads, batch 1–3, with and
    /// without bias and activations.
    @Test(arguments: [
        ([1, 7, 9, 11], 1, [1, 1, 1, 1]), ([2, 5, 10, 10], 2, [0, 0, 1, 1]), ([3, 3, 19, 19], 2, [1, 1, 1, 1]),
        ([1, 13, 2, 2], 2, [0, 0, 1, 1]), ([2, 4, 1, 1], 1, [1, 1, 1, 1]), ([1, 6, 8, 5], 2, [1, 0, 1, 1]), ([1, 2, 6, 6], 1, [0, 0, 0, 0]),
        // Rows of the CPU kernel's 4 × 8 tiles (float8 along the row, float16 loads for stride 2):
        // widths with interior and border tiles, not multiples of 8 or 16, exactly 16, row counts
        // not multiples of 4, asymmetric pads both ways.
        ([1, 3, 13, 17], 1, [1, 1, 1, 1]), ([2, 5, 23, 37], 2, [0, 0, 1, 1]), ([1, 2, 9, 34], 2, [1, 1, 1, 1]),
        ([2, 3, 7, 16], 1, [1, 1, 1, 1]), ([1, 3, 11, 40], 1, [0, 1, 2, 1]), ([1, 2, 10, 33], 2, [1, 0, 0, 1]),
    ])
    func depthwiseMatchesReference(x: [Int], stride: Int, pads: [Int]) throws {
        let c = x[1]
        let a: [String: Any] = ["group": c, "strides": [stride, stride], "pads": pads]
        try Self.check(x: x, w: [c, 1, 3, 3], a, activation: nil, seed: UInt64(c))
        try Self.check(x: x, w: [c, 1, 3, 3], bias: false, a, activation: "Clip", seed: UInt64(c + 1))
        try Self.check(x: x, w: [c, 1, 3, 3], a, activation: "Relu", seed: UInt64(c + 2))
    }

    /// The CPU flat kernel (conv2d_dw3x3_flat: stride 1, output the input's size, the plane as one
    /// row of runs of 8): SSDLite's plane sizes 19×19 … 1×1, sizes with H·W not a multiple of 8 or
    /// smaller than 8, runs that span 2+ rows (W < 8), every left pad 0, 1, 2 (pads summing to 2),
    /// odd channel counts, batch 2; and a 40×40 plane with interior runs between border ones.
    @Test(arguments: [
        ([2, 3, 19, 19], [1, 1, 1, 1]), ([1, 5, 10, 10], [1, 1, 1, 1]), ([2, 7, 5, 5], [1, 1, 1, 1]), ([2, 3, 3, 3], [1, 1, 1, 1]),
        ([2, 5, 2, 2], [1, 1, 1, 1]), ([2, 3, 1, 1], [1, 1, 1, 1]), ([1, 3, 7, 3], [0, 0, 2, 2]), ([2, 3, 9, 13], [2, 2, 0, 0]),
        ([1, 3, 6, 11], [2, 0, 0, 2]), ([1, 2, 1, 9], [1, 1, 1, 1]), ([1, 3, 40, 40], [1, 1, 1, 1]), ([1, 1, 3, 70], [1, 1, 1, 1]),
    ])
    func flatDepthwiseMatchesReference(x: [Int], pads: [Int]) throws {
        let c = x[1]
        let a: [String: Any] = ["group": c, "strides": [1, 1], "pads": pads]
        try Self.check(x: x, w: [c, 1, 3, 3], a, activation: "Clip", seed: UInt64(3 * c + x[2]))
        try Self.check(x: x, w: [c, 1, 3, 3], bias: false, a, activation: nil, seed: UInt64(5 * c + x[3]))
    }

    /// Fusion on the other conv paths: pointwise (GEMM), the CPU-blocked 3×3 (group 1), grouped
    /// (generic kernel), depthwise with a channel multiplier (generic), Clip with only one bound.
    @Test func fusedActivationOnEveryConvPath() throws {
        try Self.check(x: [2, 5, 7, 3], w: [6, 5, 1, 1], [:], activation: "Clip")
        try Self.check(x: [1, 4, 9, 7], w: [10, 4, 3, 3], ["pads": [1, 1, 1, 1]], activation: "Clip")
        try Self.check(x: [1, 6, 5, 5], w: [6, 2, 3, 3], ["group": 3], activation: "Relu")
        try Self.check(x: [1, 3, 6, 6], w: [6, 1, 3, 3], ["group": 3, "strides": [2, 2]], activation: "Clip", bounds: (nil, 0.5))
        try Self.check(x: [1, 3, 6, 6], w: [3, 1, 3, 3], ["group": 3], activation: "Clip", bounds: (-0.25, nil))
    }

    /// ReLU6 fused into a pointwise convolution on the pixel-vectorized kernel (conv1x1_px, planes
    /// of ≥ 2048 pixels on PoCL): 75×75 like SSDLite's, odd channel counts, batch 2.
    @Test func pixelPointwiseReLU6() throws {
        try Self.check(x: [2, 7, 75, 75], w: [11, 7, 1, 1], [:], activation: "Clip")
        try Self.check(x: [1, 24, 50, 41], w: [9, 24, 1, 1], bias: false, [:], activation: "Relu")
    }

    /// No fusion when the Conv output has another consumer or is a graph output, or when Clip's
    /// bounds are not constants.
    @Test func fusionOnlyWhenSafe() throws {
        var rng = TestRandom(seed: 3)
        let conv = Node(name: "conv", opType: "Conv", inputs: ["x", "w"], outputs: ["t"])
        let relu = Node(name: "relu", opType: "Relu", inputs: ["t"], outputs: ["y"])
        let graph = Graph(nodes: [conv, relu], inputs: [ValueInfo(name: "x", dtype: .float32, dims: [1, 2, 3, 3])],
                          outputs: [ValueInfo(name: "y", dtype: .float32, dims: nil), ValueInfo(name: "t", dtype: .float32, dims: nil)],
                          initializers: ["w": rng.tensor([2, 2, 1, 1])], opset: 17)
        #expect(try Model(graph: graph).report.activationsFused == 0)
        let clip = Node(name: "clip", opType: "Clip", inputs: ["t", "lo"], outputs: ["y"])
        let g2 = Graph(nodes: [conv, clip], inputs: [ValueInfo(name: "x", dtype: .float32, dims: [1, 2, 3, 3]), ValueInfo(name: "lo", dtype: .float32, dims: [])],
                       outputs: [ValueInfo(name: "y", dtype: .float32, dims: nil)], initializers: ["w": rng.tensor([2, 2, 1, 1])], opset: 17)
        #expect(try Model(graph: g2).report.activationsFused == 0)
    }
}
