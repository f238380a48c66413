// Activations fused into convolutions (Ops/Conv/FusedActivation.swift, Passes/Optimize.swift
// fuseConvActivation, Kernels/common.cl act): every fusable activation and gated pattern after
// every conv algorithm, the fused graph against the unfused one on the reference backend (exactly:
// the same fp32 operations) and the device against the reference under every conv variant.
//
// Device tolerance: the convolution's summation bound (ConvTests.sumTolerance over C·k² terms,
// times the input scale) passed through the activation, whose slope is at most 1.5 (HardSwish at
// x = 3; SiLU ≈ 1.1, Mish ≈ 1.09, the others ≤ 1), plus a few ulp of the device's exp/tanh/log1p:
// 2× the summation bound covers both while a wrong activation (e.g. Sigmoid for SiLU) is off by
// O(|x|) ≫ that.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct FusedActivationTests {
    /// An activation subgraph after the Conv output "t", ending in "y": its nodes and initializers.
    struct Pattern: Sendable, CustomTestStringConvertible {
        let name: String
        let nodes: [Node]
        var initializers: [String: Tensor] = [:]
        let expected: FusedActivation.Kind?
        var testDescription: String { name }
    }

    static func unary(_ op: String, _ a: [String: Attribute] = [:]) -> [Node] { [Node(name: "act", opType: op, inputs: ["t"], outputs: ["y"], attributes: a)] }

    static let patterns: [Pattern] = [
        Pattern(name: "Relu", nodes: unary("Relu"), expected: .clamp),
        Pattern(name: "Clip(0,6)", nodes: [Node(name: "act", opType: "Clip", inputs: ["t", "lo", "hi"], outputs: ["y"])],
                initializers: ["lo": Tensor(shape: [], floats: [0]), "hi": Tensor(shape: [], floats: [6])], expected: .clamp),
        Pattern(name: "LeakyRelu(0.1)", nodes: unary("LeakyRelu", ["alpha": .float(0.1)]), expected: .leakyRelu),
        Pattern(name: "PRelu(scalar 0.25)", nodes: [Node(name: "act", opType: "PRelu", inputs: ["t", "slope"], outputs: ["y"])],
                initializers: ["slope": Tensor(shape: [1], floats: [0.25])], expected: .leakyRelu),
        Pattern(name: "HardSigmoid(0.2,0.5)", nodes: unary("HardSigmoid"), expected: .hardSigmoid),
        Pattern(name: "HardSwish", nodes: unary("HardSwish"), expected: .hardSwish),
        Pattern(name: "Sigmoid", nodes: unary("Sigmoid"), expected: .sigmoid),
        Pattern(name: "Tanh", nodes: unary("Tanh"), expected: .tanh),
        Pattern(name: "Mish", nodes: unary("Mish"), expected: .mish),
        Pattern(name: "x*Sigmoid(x)", nodes: [Node(name: "g", opType: "Sigmoid", inputs: ["t"], outputs: ["s"]),
                                              Node(name: "m", opType: "Mul", inputs: ["t", "s"], outputs: ["y"])], expected: .silu),
        Pattern(name: "Sigmoid(x)*x", nodes: [Node(name: "g", opType: "Sigmoid", inputs: ["t"], outputs: ["s"]),
                                              Node(name: "m", opType: "Mul", inputs: ["s", "t"], outputs: ["y"])], expected: .silu),
        Pattern(name: "x*HardSigmoid(x, 1/6, 1/2)", nodes: [
            Node(name: "g", opType: "HardSigmoid", inputs: ["t"], outputs: ["s"], attributes: ["alpha": .float(Float(1) / 6), "beta": .float(0.5)]),
            Node(name: "m", opType: "Mul", inputs: ["t", "s"], outputs: ["y"]),
        ], expected: .hardSwish),
        Pattern(name: "Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6)", nodes: [
            Node(name: "a", opType: "Add", inputs: ["t", "three"], outputs: ["u"]),
            Node(name: "c", opType: "Clip", inputs: ["u", "zero", "six"], outputs: ["v"]),
            Node(name: "m", opType: "Mul", inputs: ["v", "t"], outputs: ["q"]),
            Node(name: "d", opType: "Div", inputs: ["q", "six"], outputs: ["y"]),
        ], initializers: ["three": Tensor(shape: [], floats: [3]), "zero": Tensor(shape: [], floats: [0]), "six": Tensor(shape: [], floats: [6])],
        expected: .hardSwishDiv),
        // Not fused: a per-channel PRelu slope, a gate of another value, a divisor other than the clip bound.
        Pattern(name: "Div(Mul(x, Clip(Add(x, 3), 0, 6)), 5)", nodes: [
            Node(name: "a", opType: "Add", inputs: ["three", "t"], outputs: ["u"]),
            Node(name: "c", opType: "Clip", inputs: ["u", "zero", "six"], outputs: ["v"]),
            Node(name: "m", opType: "Mul", inputs: ["t", "v"], outputs: ["q"]),
            Node(name: "d", opType: "Div", inputs: ["q", "five"], outputs: ["y"]),
        ], initializers: ["three": Tensor(shape: [], floats: [3]), "zero": Tensor(shape: [], floats: [0]), "six": Tensor(shape: [], floats: [6]),
                          "five": Tensor(shape: [], floats: [5])], expected: nil),
        Pattern(name: "PRelu(per channel)", nodes: [Node(name: "act", opType: "PRelu", inputs: ["t", "slope"], outputs: ["y"])],
                initializers: ["slope": Tensor(shape: [6, 1, 1], floats: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])], expected: nil),
        Pattern(name: "x*Sigmoid(x)+x (a third consumer)", nodes: [
            Node(name: "g", opType: "Sigmoid", inputs: ["t"], outputs: ["s"]), Node(name: "m", opType: "Mul", inputs: ["t", "s"], outputs: ["u"]),
            Node(name: "a", opType: "Add", inputs: ["u", "t"], outputs: ["y"]),
        ], expected: nil),
    ]

    /// Conv shapes reaching each algorithm in CPU style (pointwise pixel/blocked, 3×3 blocked,
    /// Winograd, depthwise flat and rows, grouped direct) and all of them in GPU style.
    nonisolated(unsafe) static let convs: [(x: [Int], w: [Int], a: [String: Any])] = [
        ([1, 5, 9, 7], [6, 5, 1, 1], [:]),
        ([2, 24, 40, 60], [6, 24, 1, 1], [:]),
        ([1, 4, 9, 7], [6, 4, 3, 3], ["pads": [1, 1, 1, 1]]),
        ([1, 16, 11, 9], [6, 16, 3, 3], ["pads": [1, 1, 1, 1]]),
        ([1, 6, 10, 13], [6, 1, 3, 3], ["group": 6, "pads": [1, 1, 1, 1]]),
        ([2, 6, 10, 13], [6, 1, 3, 3], ["group": 6, "strides": [2, 2], "pads": [0, 0, 1, 1]]),
        ([1, 6, 7, 7], [6, 2, 3, 3], ["group": 3]),
    ]

    static func model(x: [Int], w: Tensor, b: Tensor, a: [String: Any], pattern: Pattern, fuse: Bool) throws -> Model {
        let conv = Node(name: "conv", opType: "Conv", inputs: ["x", "w", "b"], outputs: ["t"], attributes: attrs(a))
        let graph = Graph(nodes: [conv] + pattern.nodes, inputs: [ValueInfo(name: "x", dtype: .float32, dims: x.map { $0 })],
                          outputs: [ValueInfo(name: "y", dtype: .float32, dims: nil)],
                          initializers: pattern.initializers.merging(["w": w, "b": b]) { $1 }, opset: 17)
        return try Model(graph: graph, options: LoadOptions(fuseActivations: fuse))
    }

    @Test(arguments: patterns)
    func fusedMatchesUnfusedOnEveryConvAlgorithm(pattern: Pattern) throws {
        for (i, c) in Self.convs.enumerated() {
            var rng = TestRandom(seed: UInt64(17 + i))
            let scale: Float = 4
            let x = rng.tensor(c.x, -scale, scale), w = rng.tensor(c.w), b = rng.tensor([c.w[0]])
            let fused = try Self.model(x: c.x, w: w, b: b, a: c.a, pattern: pattern, fuse: true)
            let plain = try Self.model(x: c.x, w: w, b: b, a: c.a, pattern: pattern, fuse: false)
            let what = "\(pattern.name) after conv \(c.x) \(c.w) \(c.a)"
            if let kind = pattern.expected {
                #expect(fused.graph.nodes.count == 1 && fused.report.activationsFused == 1, "\(what): \(fused.graph.nodes.map(\.opType))")
                #expect(try FusedActivation(node: fused.graph.nodes[0])?.kind == kind, "\(what)")
            } else {
                #expect(fused.report.activationsFused == 0 && fused.graph.nodes.count == plain.graph.nodes.count, "\(what)")
            }
            let reference = try #require(try ReferenceExecutor().run(fused, inputs: ["x": x])["y"])
            let unfused = try #require(try ReferenceExecutor().run(plain, inputs: ["x": x])["y"])
            assertClose(reference, unfused, rtol: 0, atol: 0, "\(what): fused vs unfused reference")
            let tol = 2 * sumTolerance(c.w.dropFirst().reduce(1, *)) * scale
            for options in OpVariants.forOp("Conv") {
                let device = try #require(try Session(model: fused, runtime: try TestDevice.require(), options: options).run(["x": x])["y"])
                assertClose(device, reference, rtol: tol, atol: tol, "\(what) [\(options.summary)]: device vs reference")
            }
        }
    }

    /// A residual Add followed by HardSwish and by x·Sigmoid(x): the activation joins the fused
    /// residual when it is a single node; the gated pattern stays a Sigmoid and a Mul.
    @Test func residualThenActivation() throws {
        var rng = TestRandom(seed: 5)
        let x = rng.tensor([1, 8, 6, 7], -3, 3), w = rng.tensor([8, 8, 3, 3]), r = rng.tensor([1, 8, 6, 7])
        for act in ["HardSwish", "Sigmoid"] {
            let nodes = [Node(name: "conv", opType: "Conv", inputs: ["x", "w"], outputs: ["t"], attributes: ["pads": .ints([1, 1, 1, 1])]),
                         Node(name: "add", opType: "Add", inputs: ["t", "r"], outputs: ["u"]),
                         Node(name: "act", opType: act, inputs: ["u"], outputs: ["y"])]
            let graph = Graph(nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, dims: [1, 8, 6, 7]), ValueInfo(name: "r", dtype: .float32, dims: [1, 8, 6, 7])],
                              outputs: [ValueInfo(name: "y", dtype: .float32, dims: nil)], initializers: ["w": w], opset: 17)
            let model = try Model(graph: graph)
            #expect(model.graph.nodes.count == 1 && model.report.residualsFused == 1, "\(act): \(model.graph.nodes.map(\.opType))")
            let plain = try Model(graph: graph, options: LoadOptions(fuseActivations: false, fuseResiduals: false))
            let feeds = ["x": x, "r": r]
            let reference = try #require(try ReferenceExecutor().run(model, inputs: feeds)["y"])
            assertClose(reference, try #require(try ReferenceExecutor().run(plain, inputs: feeds)["y"]), rtol: 0, atol: 0, "\(act) fused vs unfused")
            let tol = 2 * sumTolerance(72) * 3
            for options in OpVariants.kernelStyles {
                let device = try #require(try Session(model: model, runtime: try TestDevice.require(), options: options).run(feeds)["y"])
                assertClose(device, reference, rtol: tol, atol: tol, "\(act) residual [\(options.summary)]")
            }
        }
    }

    /// One kernel per conv: a conv + SiLU, a conv + HardSwish in one model run two kernels (the
    /// profile lists one node per conv and no activation node).
    @Test func oneKernelPerConv() throws {
        var rng = TestRandom(seed: 9)
        let nodes = [Node(name: "c1", opType: "Conv", inputs: ["x", "w1"], outputs: ["t1"], attributes: ["pads": .ints([1, 1, 1, 1])]),
                     Node(name: "s1", opType: "Sigmoid", inputs: ["t1"], outputs: ["g1"]),
                     Node(name: "m1", opType: "Mul", inputs: ["t1", "g1"], outputs: ["h"]),
                     Node(name: "c2", opType: "Conv", inputs: ["h", "w2"], outputs: ["t2"]),
                     Node(name: "hs", opType: "HardSwish", inputs: ["t2"], outputs: ["y"])]
        let graph = Graph(nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, dims: [1, 3, 20, 20])],
                          outputs: [ValueInfo(name: "y", dtype: .float32, dims: nil)],
                          initializers: ["w1": rng.tensor([16, 3, 3, 3]), "w2": rng.tensor([8, 16, 1, 1])], opset: 17)
        let model = try Model(graph: graph)
        #expect(model.graph.nodes.map(\.opType) == ["Conv", "Conv"])
        guard let info = TestDevice.info else { return }
        let session = try Session(model: model, device: .openCL(info.index), profiling: true)
        _ = try session.run(["x": rng.tensor([1, 3, 20, 20])], profile: true)
        // (On CPU-style devices the two convs pass their value in the channel-blocked layout: BlockedConv nodes.)
        #expect(session.lastTimings.count == 2 && session.lastTimings.allSatisfy { ["Conv", "BlockedConv"].contains($0.op) && $0.kernels.count == 1 },
                "\(session.lastTimings.map { "\($0.op) \($0.kernels)" })")
    }
}

/// Activations fused into Gemm (fully connected layers) and MatMul, on every GEMM kernel.
@Suite struct FusedActivationGemmTests {
    static func model(_ op: String, a: [Int], b: Tensor, bias: Tensor?, transB: Bool, pattern: FusedActivationTests.Pattern, fuse: Bool) throws -> Model {
        var inputs = ["x", "w"], inits = ["w": b]
        if let bias { inputs.append("c"); inits["c"] = bias }
        let node = Node(name: "fc", opType: op, inputs: inputs, outputs: ["t"], attributes: op == "Gemm" && transB ? ["transB": .int(1)] : [:])
        let graph = Graph(nodes: [node] + pattern.nodes, inputs: [ValueInfo(name: "x", dtype: .float32, dims: a.map { $0 })],
                          outputs: [ValueInfo(name: "y", dtype: .float32, dims: nil)], initializers: inits.merging(pattern.initializers) { $1 }, opset: 17)
        return try Model(graph: graph, options: LoadOptions(fuseActivations: fuse))
    }

    /// Gemm with transB (gemm_dot in CPU style), Gemm without (gemm_rows), batched MatMul; 37
    /// inputs (a float8 tail), 19 outputs; the summation tolerance of 37 terms, doubled for the activation.
    @Test(arguments: FusedActivationTests.patterns.filter { $0.expected != nil && !$0.name.hasPrefix("PRelu") })
    func gemmAndMatMul(pattern: FusedActivationTests.Pattern) throws {
        var rng = TestRandom(seed: 23)
        let cases: [(op: String, a: [Int], b: [Int], bias: Bool, transB: Bool)] = [
            ("Gemm", [5, 37], [19, 37], true, true), ("Gemm", [6, 37], [37, 19], true, false), ("MatMul", [2, 3, 37], [37, 19], false, false),
        ]
        for c in cases {
            let x = rng.tensor(c.a, -3, 3), w = rng.tensor(c.b), bias = c.bias ? rng.tensor([19]) : nil
            let fused = try Self.model(c.op, a: c.a, b: w, bias: bias, transB: c.transB, pattern: pattern, fuse: true)
            let plain = try Self.model(c.op, a: c.a, b: w, bias: bias, transB: c.transB, pattern: pattern, fuse: false)
            let what = "\(pattern.name) after \(c.op) \(c.a)×\(c.b)"
            #expect(fused.graph.nodes.count == 1 && fused.report.activationsFused == 1, "\(what): \(fused.graph.nodes.map(\.opType))")
            let reference = try #require(try ReferenceExecutor().run(fused, inputs: ["x": x])["y"])
            assertClose(reference, try #require(try ReferenceExecutor().run(plain, inputs: ["x": x])["y"]), rtol: 0, atol: 0, "\(what): fused vs unfused")
            let tol = 2 * sumTolerance(37) * 3
            for options in OpVariants.forOp("Gemm") {
                let device = try #require(try Session(model: fused, runtime: try TestDevice.require(), options: options).run(["x": x])["y"])
                assertClose(device, reference, rtol: tol, atol: tol, "\(what) [\(options.summary)]")
            }
        }
    }

    /// The GEMM kernel selector, pinned for both kernel styles and the forcing options.
    @Test func kernelSelector() {
        func pick(_ dot: Bool, _ rows: Bool, _ family: KernelFamily, _ gemm: ExecutionOptions.GemmKernel = .auto) -> StridedGemm.Kernel {
            var o = ExecutionOptions()
            o.gemm = gemm
            return StridedGemm.selectKernel(dotOK: dot, rowsOK: rows, options: o, family: family)
        }
        #expect(pick(true, true, .gpu) == .local && pick(true, false, .gpu) == .local && pick(false, false, .gpu) == .local)
        #expect(pick(true, true, .gpu, .tile) == .tile && pick(false, false, .cpu, .local) == .local)
        #expect(pick(true, true, .cpu) == .dot && pick(false, true, .cpu) == .rows && pick(false, false, .cpu) == .tile)
        #expect(pick(true, true, .cpu, .rows) == .rows && pick(true, false, .cpu, .rows) == .tile)
        #expect(pick(true, true, .cpu, .tile) == .tile && pick(false, true, .cpu, .dot) == .tile)
        #expect(pick(true, true, .gpu, .dot) == .dot && pick(false, true, .gpu, .rows) == .rows)
        // CLBlast: on GPUs it has tuned parameters for, where it can express the operands; forced anywhere it can.
        func clblast(_ ok: Bool, _ tuned: Bool, _ family: KernelFamily, _ gemm: ExecutionOptions.GemmKernel = .auto) -> StridedGemm.Kernel {
            var o = ExecutionOptions()
            o.gemm = gemm
            return StridedGemm.selectKernel(dotOK: true, rowsOK: true, clblastOK: ok, clblastTuned: tuned, options: o, family: family)
        }
        #expect(clblast(true, true, .gpu) == .clblast && clblast(true, false, .gpu) == .local && clblast(false, true, .gpu) == .local)
        #expect(clblast(true, true, .cpu) == .dot && clblast(true, false, .cpu, .clblast) == .clblast)
        #expect(clblast(false, true, .gpu, .clblast) == .local && clblast(false, true, .cpu, .clblast) == .dot)
        #expect(clblast(true, true, .gpu, .local) == .local && clblast(true, true, .gpu, .tile) == .tile)
    }
}
