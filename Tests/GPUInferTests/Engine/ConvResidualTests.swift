// Residual Adds fused into convolutions (Passes/Optimize.swift fuseConvResidual, Conv input 3):
// the fused graph vs the unfused one on the reference (bit-exact: the same fp32 operations in the
// same order) and on the device, on every conv path (blocked, pointwise, depthwise, generic grouped,
// a residual that broadcasts), and the cases where fusing would be wrong.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct ConvResidualTests {
    /// x → Conv(w, b) → t; Add(t, r) (or Add(r, t) when `swapped`) → s; optional activation → y.
    /// `r` is a graph input of shape `r`, or with `residualConv` the output of a second 1×1 Conv of
    /// x placed after the Add's first operand in node order (as torchvision exports a downsample).
    static func graph(x: [Int], r: [Int], w: Tensor, bias: Tensor?, attributes: [String: Attribute], activation: String?,
                      swapped: Bool = false, residualConv: Tensor? = nil) -> Graph {
        var inits = ["w": w]
        var convInputs = ["x", "w"]
        if let bias { inits["b"] = bias; convInputs.append("b") }
        var nodes = [Node(name: "conv", opType: "Conv", inputs: convInputs, outputs: ["t"], attributes: attributes)]
        var inputs = [ValueInfo(name: "x", dtype: .float32, dims: x.map { $0 })]
        if let residualConv {
            inits["wd"] = residualConv
            nodes.append(Node(name: "downsample", opType: "Conv", inputs: ["x", "wd"], outputs: ["r"]))
        } else {
            inputs.append(ValueInfo(name: "r", dtype: .float32, dims: r.map { $0 }))
        }
        nodes.append(Node(name: "add", opType: "Add", inputs: swapped ? ["r", "t"] : ["t", "r"], outputs: [activation == nil ? "y" : "s"]))
        if let activation {
            var actInputs = ["s"]
            if activation == "Clip" {
                actInputs += ["lo", "hi"]
                inits["lo"] = Tensor(shape: [], floats: [-0.5])
                inits["hi"] = Tensor(shape: [], floats: [1.5])
            }
            nodes.append(Node(name: "act", opType: activation, inputs: actInputs, outputs: ["y"]))
        }
        return Graph(nodes: nodes, inputs: inputs, outputs: [ValueInfo(name: "y", dtype: .float32, dims: nil)], initializers: inits, opset: 17)
    }

    /// Fused vs unfused: the reference bit-exact, the device within the conv summation tolerance
    /// of the reference (C·k² terms, as ConvTests) and bit-exact with the unfused device run when
    /// the same conv kernel runs both (`deviceExact`).
    static func check(x: [Int], w: [Int], r: [Int]? = nil, bias: Bool = true, _ a: [String: Any], activation: String?,
                      swapped: Bool = false, downsample: Bool = false, deviceExact: Bool = true, seed: UInt64 = 1,
                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        var rng = TestRandom(seed: seed)
        let weight = rng.tensor(w), b = bias ? rng.tensor([w[0]]) : nil
        let wd = downsample ? rng.tensor([w[0], x[1], 1, 1]) : nil
        let g = graph(x: x, r: r ?? [], w: weight, bias: b, attributes: attrs(a), activation: activation, swapped: swapped, residualConv: wd)
        let fused = try Model(graph: g)
        let plain = try Model(graph: g, options: LoadOptions(fuseResiduals: false))
        #expect(fused.report.residualsFused == 1, sourceLocation: sourceLocation)
        #expect(fused.graph.nodes.count == (downsample ? 2 : 1), "Add and activation absorbed", sourceLocation: sourceLocation)
        #expect(fused.graph.nodes.last?.inputs.count == 4, sourceLocation: sourceLocation)
        var feeds = ["x": rng.tensor(x, -2, 2)]
        if let r { feeds["r"] = rng.tensor(r, -2, 2) }
        let reference = try #require(try ReferenceExecutor().run(fused, inputs: feeds)["y"])
        let unfused = try #require(try ReferenceExecutor().run(plain, inputs: feeds)["y"])
        assertClose(reference, unfused, rtol: 0, atol: 0, "fused vs unfused reference", sourceLocation: sourceLocation)
        let runtime = try TestDevice.require()
        let device = try #require(try Session(model: fused, runtime: runtime).run(feeds)["y"])
        let tol = sumTolerance(w.dropFirst().reduce(1, *) + (downsample ? x[1] : 0)) * 2
        assertClose(device, reference, rtol: tol, atol: tol, "device vs reference \(x) \(w) \(a) \(activation ?? "-")", sourceLocation: sourceLocation)
        if deviceExact {
            let deviceUnfused = try #require(try Session(model: plain, runtime: runtime).run(feeds)["y"])
            assertClose(device, deviceUnfused, rtol: 0, atol: 0, "fused vs unfused device", sourceLocation: sourceLocation)
        }
    }

    /// 1×1 conv of ones (weight 2, bias 1) on a 1×1×2×2 input [1, −3, 0.5, −1]: 3, −5, 2, −1;
    /// plus residual [1, 1, −4, 0.5]: 4, −4, −2, −0.5; ReLU: 4, 0, 0, 0.
    @Test func handComputed() throws {
        let g = Self.graph(x: [1, 1, 2, 2], r: [1, 1, 2, 2], w: Tensor(shape: [1, 1, 1, 1], floats: [2]), bias: Tensor(shape: [1], floats: [1]),
                           attributes: [:], activation: "Relu")
        let m = try Model(graph: g)
        #expect(m.report.residualsFused == 1)
        let feeds = ["x": Tensor(shape: [1, 1, 2, 2], floats: [1, -3, 0.5, -1]), "r": Tensor(shape: [1, 1, 2, 2], floats: [1, 1, -4, 0.5])]
        let expected = Tensor(shape: [1, 1, 2, 2], floats: [4, 0, 0, 0])
        assertClose(try #require(try ReferenceExecutor().run(m, inputs: feeds)["y"]), expected, rtol: 0, atol: 0, "reference")
        assertClose(try #require(try Session(model: m, runtime: try TestDevice.require()).run(feeds)["y"]), expected, rtol: 0, atol: 0, "device")
    }

    /// The blocked 3×3 kernel (channel counts not multiples of the 16-channel tile, widths not
    /// multiples of the 5-column tile, batch 2), pointwise, stride 2 with a downsample residual
    /// produced later in node order, either operand order, Relu, Clip and no activation.
    struct Case: Sendable, CustomStringConvertible {
        var x: [Int], w: [Int], pads: [Int], activation: String?, swapped: Bool
        var description: String { "x \(x) w \(w) pads \(pads) \(activation ?? "-")\(swapped ? " swapped" : "")" }
    }
    static let blockedCases: [Case] = [
        Case(x: [2, 5, 9, 7], w: [7, 5, 3, 3], pads: [1, 1, 1, 1], activation: "Relu", swapped: false),
        Case(x: [1, 3, 6, 11], w: [17, 3, 3, 3], pads: [1, 0, 1, 2], activation: "Clip", swapped: true),
        Case(x: [2, 6, 5, 5], w: [33, 6, 1, 1], pads: [0, 0, 0, 0], activation: nil, swapped: false),
        Case(x: [1, 4, 13, 13], w: [8, 4, 1, 1], pads: [0, 0, 0, 0], activation: "Relu", swapped: true),
    ]

    @Test(arguments: blockedCases)
    func blockedAndPointwise(_ c: Case) throws {
        let a: [String: Any] = ["pads": c.pads]
        let geo = try Conv(node: Node(name: "c", opType: "Conv", inputs: ["x", "w"], outputs: ["y"], attributes: attrs(a)), opset: 17)
            .geometry(c.x, c.w, nil)
        try Self.check(x: c.x, w: c.w, r: geo.output, a, activation: c.activation, swapped: c.swapped, seed: UInt64(c.w[0]))
        try Self.check(x: c.x, w: c.w, r: geo.output, bias: false, a, activation: c.activation, swapped: !c.swapped, seed: UInt64(c.w[0] + 1))
    }

    /// A torchvision-style downsample: the residual is a 1×1 stride-2 conv of x that comes after
    /// the main conv in node order; the fused node must run after it.
    @Test func downsampleResidualLaterInNodeOrder() throws {
        try Self.check(x: [2, 6, 7, 9], w: [10, 6, 1, 1], bias: false, [:], activation: "Relu", downsample: true)
    }

    /// Paths that finish with the conv_epilogue kernel: Winograd (3×3 stride 1, ≥ 16 channels and
    /// forced to F(2,3) and F(4,3), ConvWinograd.swift), depthwise 3×3, grouped with fewer than 4
    /// output channels per group (generic kernel), and residuals that broadcast (per channel, and
    /// one wider than the conv output), which take the scratch + Add kernel path.
    @Test func epilogueAndBroadcastPaths() throws {
        try Self.check(x: [2, 5, 9, 11], w: [5, 1, 3, 3], r: [2, 5, 9, 11], ["group": 5, "pads": [1, 1, 1, 1]], activation: "Clip")
        try Self.check(x: [1, 6, 5, 7], w: [6, 2, 3, 3], r: [1, 6, 5, 7], ["group": 3, "pads": [1, 1, 1, 1]], activation: "Relu")
        try Self.check(x: [2, 5, 6, 6], w: [7, 5, 3, 3], r: [1, 7, 1, 1], ["pads": [1, 1, 1, 1]], activation: "Relu")
        try Self.check(x: [1, 5, 1, 1], w: [7, 5, 1, 1], r: [3, 7, 4, 2], [:], activation: "Clip")
        try Self.check(x: [2, 5, 6, 6], w: [7, 5, 3, 3], r: [6], ["pads": [1, 1, 1, 1]], activation: nil, swapped: true)
    }

    /// No fusion where it would change results or lose a value: the Conv output has another
    /// consumer or is a graph output, the Conv already has a fused activation (act-then-add), the
    /// other operand is a constant, or the Add's output feeds more than the activation (then the
    /// Add fuses but the Relu stays).
    @Test func fusionOnlyWhenSafe() throws {
        var rng = TestRandom(seed: 9)
        let w = rng.tensor([3, 3, 1, 1])
        let x = ValueInfo(name: "x", dtype: .float32, dims: [1, 3, 4, 4]), r = ValueInfo(name: "r", dtype: .float32, dims: [1, 3, 4, 4])
        let y = ValueInfo(name: "y", dtype: .float32, dims: nil)
        let conv = Node(name: "conv", opType: "Conv", inputs: ["x", "w"], outputs: ["t"])
        let add = Node(name: "add", opType: "Add", inputs: ["t", "r"], outputs: ["y"])
        // Conv output also a graph output.
        var g = Graph(nodes: [conv, add], inputs: [x, r], outputs: [y, ValueInfo(name: "t", dtype: .float32, dims: nil)], initializers: ["w": w], opset: 17)
        #expect(try Model(graph: g).report.residualsFused == 0)
        // Conv output consumed twice.
        let other = Node(name: "neg", opType: "Neg", inputs: ["t"], outputs: ["z"])
        g = Graph(nodes: [conv, add, other], inputs: [x, r], outputs: [y, ValueInfo(name: "z", dtype: .float32, dims: nil)], initializers: ["w": w], opset: 17)
        #expect(try Model(graph: g).report.residualsFused == 0)
        // Conv → Relu → Add: the Relu fuses into the Conv, the Add must not.
        let relu = Node(name: "relu", opType: "Relu", inputs: ["t"], outputs: ["u"])
        let addU = Node(name: "add", opType: "Add", inputs: ["u", "r"], outputs: ["y"])
        g = Graph(nodes: [conv, relu, addU], inputs: [x, r], outputs: [y], initializers: ["w": w], opset: 17)
        var m = try Model(graph: g)
        #expect(m.report.activationsFused == 1 && m.report.residualsFused == 0)
        // A constant operand.
        let addC = Node(name: "add", opType: "Add", inputs: ["t", "c"], outputs: ["y"])
        g = Graph(nodes: [conv, addC], inputs: [x], outputs: [y], initializers: ["w": w, "c": rng.tensor([1, 3, 4, 4])], opset: 17)
        #expect(try Model(graph: g).report.residualsFused == 0)
        // The Add output feeds the Relu and a graph output: Add fuses, Relu stays a node.
        let addS = Node(name: "add", opType: "Add", inputs: ["t", "r"], outputs: ["s"])
        let reluS = Node(name: "relu", opType: "Relu", inputs: ["s"], outputs: ["y"])
        g = Graph(nodes: [conv, addS, reluS], inputs: [x, r], outputs: [y, ValueInfo(name: "s", dtype: .float32, dims: nil)], initializers: ["w": w], opset: 17)
        m = try Model(graph: g)
        #expect(m.report.residualsFused == 1 && m.graph.nodes.count == 2)
        let feeds = ["x": rng.tensor([1, 3, 4, 4]), "r": rng.tensor([1, 3, 4, 4])]
        let plain = try Model(graph: g, options: LoadOptions(fuseResiduals: false))
        let got = try Session(model: m, runtime: try TestDevice.require()).run(feeds)
        let want = try ReferenceExecutor().run(plain, inputs: feeds)
        for name in ["s", "y"] {
            assertClose(try #require(got[name]), try #require(want[name]), rtol: sumTolerance(3), atol: sumTolerance(3), name)
        }
    }

    /// A fused node carried in a file must have its 4 inputs; a 4-input Conv without the attribute is refused.
    @Test func malformedFusedNodesAreRefused() throws {
        let bad = Node(name: "conv", opType: "Conv", inputs: ["x", "w", "", "r"], outputs: ["y"])
        #expect(throws: GPUInferError.self) { _ = try Conv(node: bad, opset: 17) }
        var three = Node(name: "conv", opType: "Conv", inputs: ["x", "w"], outputs: ["y"])
        three.attributes[Conv.residualAttribute] = .int(1)
        #expect(throws: GPUInferError.self) { _ = try Conv(node: three, opset: 17) }
    }
}
