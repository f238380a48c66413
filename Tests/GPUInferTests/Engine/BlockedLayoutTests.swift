// The channel-blocked layout of CPU-style sessions (Passes/BlockedLayout.swift, Ops/Conv/BlockedConv.swift):
// the block/unblock maps, BlockedConv against Conv in every operand-layout combination (awkward
// channel counts leave partial blocks; activations with act(0) ≠ 0 check that padding lanes stay 0),
// the pass's layout choices on a small mobile-style graph, and whole graphs against the NCHW model.
// Device tolerance: the convolution's, sumTolerance(taps) (ConvTests), as BlockedConv sums the same
// terms in the same order as conv2d_blocked / the depthwise kernels.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct BlockedLayoutTests {
    /// CPU style under both CPU profiles (the depthwise kernel's column block and conv2d_blocked's follow them).
    static let cpuStyles = [OpVariants.style(.cpu), OpVariants.style(.cpu) { $0.cpuProfile = .avx2 }, OpVariants.style(.cpu) { $0.cpuProfile = .avx512 }]

    /// Whether every lane of a blocked [N, CB, H, W, 16] tensor past `channels` holds 0.
    static func paddingLanesAreZero(_ t: Tensor, channels: Int) -> Bool {
        let plane = t.shape[2] * t.shape[3] * 16
        return (0..<t.count).allSatisfy { ($0 / plane) % t.shape[1] * 16 + $0 % 16 < channels || t.floats[$0] == 0 }
    }

    @Test func blockAndUnblockAreInverse() {
        var rng = TestRandom(seed: 3)
        let x = rng.tensor([2, 21, 3, 5])
        let b = BlockedConv.block(x)
        #expect(b.shape == [2, 2, 3, 5, 16])
        // Channel 17 of batch 1 at (2, 4): block 1, lane 1.
        let blockedIndex: Int = (((1 * 2 + 1) * 3 + 2) * 5 + 4) * 16 + 1
        let plainIndex: Int = ((1 * 21 + 17) * 3 + 2) * 5 + 4
        #expect(b.floats[blockedIndex] == x.floats[plainIndex])
        // Lanes 5…15 of the last block (channels 21…31) are 0.
        for p in 0..<15 {
            for lane in 5..<16 {
                let i: Int = (15 + p) * 16 + lane
                #expect(b.floats[i] == 0)
            }
        }
        assertClose(BlockedConv.unblock(b, channels: 21), x, rtol: 0, atol: 0, "round trip")
    }

    /// One convolution case: input, weight, Conv attributes, the activation node after it (fused at
    /// load), whether a residual is added, and the layouts of input, output and residual.
    struct Case: CustomTestStringConvertible, Sendable {
        var x: [Int], w: [Int], attributes: [String: Int] = [:], lists: [String: [Int]] = [:]
        var activation: String? = nil, residual = false, bias = true
        var layout: (input: Bool, output: Bool, residual: Bool)
        var testDescription: String { "x\(x) w\(w) \(lists) \(activation ?? "-") res \(residual) layout \(layout)" }
    }

    static let cases: [Case] = [
        // 3×3 stride 2, asymmetric pads, 21 → 37 channels, batch 2, blocked in and out, act(0) = 0.5.
        Case(x: [2, 21, 13, 9], w: [37, 21, 3, 3], lists: ["strides": [2, 2], "pads": [1, 0, 2, 1]], activation: "HardSigmoid", layout: (true, true, false)),
        // Pointwise 40 → 24 from NCHW into blocks, a blocked residual, ReLU after the Add.
        Case(x: [1, 40, 7, 5], w: [24, 40, 1, 1], activation: "Relu", residual: true, layout: (false, true, true)),
        // Pointwise 17 → 33 from blocks into NCHW, the residual blocked.
        Case(x: [1, 17, 6, 7], w: [33, 17, 1, 1], residual: true, layout: (true, false, true)),
        // 5×3 dilated, no bias, blocked in and out, the residual NCHW.
        Case(x: [1, 19, 11, 10], w: [18, 19, 5, 3], lists: ["dilations": [2, 1], "pads": [2, 1, 3, 0]], residual: true, bias: false, layout: (true, true, false)),
        // The 3-channel first convolution: NCHW in, blocked out.
        Case(x: [1, 3, 17, 15], w: [32, 3, 3, 3], lists: ["strides": [2, 2], "pads": [1, 1, 1, 1]], activation: "Relu", layout: (false, true, false)),
        // Depthwise 3×3 stride 2, 37 channels (a partial block), act(0) = 0.5.
        Case(x: [1, 37, 15, 12], w: [37, 1, 3, 3], attributes: ["group": 37], lists: ["strides": [2, 2], "pads": [1, 1, 1, 1]],
             activation: "HardSigmoid", layout: (true, true, false)),
        // Depthwise 5×5 stride 1, one whole block, batch 2.
        Case(x: [2, 16, 7, 7], w: [16, 1, 5, 5], attributes: ["group": 16], lists: ["pads": [2, 2, 2, 2]], activation: "Relu", layout: (true, true, false)),
        // Depthwise 3×3 with strides (2, 1) and asymmetric pads, 33 channels, no bias.
        Case(x: [1, 33, 9, 20], w: [33, 1, 3, 3], attributes: ["group": 33], lists: ["strides": [2, 1], "pads": [0, 1, 1, 0]], bias: false,
             layout: (true, true, false)),
    ]

    /// The NCHW graph of a case: Conv (+ Add of the residual r) (+ activation) → y.
    static func plainGraph(_ c: Case, rng: inout TestRandom) -> (Graph, [String: Tensor]) {
        var inits = ["w": rng.tensor(c.w, -0.5, 0.5)]
        var convInputs = ["x", "w"]
        if c.bias { inits["b"] = rng.tensor([c.w[0]]); convInputs.append("b") }
        var a = attrs(c.attributes)
        for (k, v) in c.lists { a[k] = .ints(v) }
        var nodes = [Node(name: "conv", opType: "Conv", inputs: convInputs, outputs: ["t"], attributes: a)]
        var inputs = [ValueInfo(name: "x", dtype: .float32, dims: c.x.map { $0 })]
        var feeds = ["x": rng.tensor(c.x, -2, 2)]
        var last = "t"
        if c.residual {
            let probe = try? Model(graph: Graph(nodes: nodes, inputs: inputs, outputs: [ValueInfo(name: "t", dtype: nil, dims: nil)], initializers: inits, opset: 17))
            let shape = (try? ReferenceExecutor().run(probe!, inputs: feeds)["t"]?.shape) ?? nil
            inputs.append(ValueInfo(name: "r", dtype: .float32, dims: shape!.map { $0 }))
            feeds["r"] = rng.tensor(shape!, -2, 2)
            nodes.append(Node(name: "add", opType: "Add", inputs: ["t", "r"], outputs: ["s"]))
            last = "s"
        }
        if let act = c.activation {
            nodes.append(Node(name: "act", opType: act, inputs: [last], outputs: ["y"]))
        } else {
            nodes.append(Node(name: "id", opType: "Identity", inputs: [last], outputs: ["y"]))
        }
        return (Graph(nodes: nodes, inputs: inputs, outputs: [ValueInfo(name: "y", dtype: .float32, dims: nil)], initializers: inits, opset: 17), feeds)
    }

    /// BlockedConv (the fused Conv of the plain graph with the case's layouts) against the plain
    /// model: the reference exactly, the device within the convolution tolerance, lanes past the
    /// channel count 0.
    @Test(arguments: cases)
    func blockedConvMatchesConv(_ c: Case) throws {
        try Self.checkBlockedConv(c, styles: Self.cpuStyles)
    }

    /// Rows whose last block of columns is partial: with -DPX_TAIL (`Conv.blockedTail`) the block's
    /// columns run in runs of 4. Pointwise planes and strided rows leaving 1…11 columns for blocks of
    /// 12, 7 and 5 (forced), blocked and NCHW outputs and residuals, act(0) ≠ 0, a transcendental
    /// activation with a blocked output (runs) and with an NCHW one (no runs).
    static let tailCases: [Case] = [
        // 7×7 pointwise: one row of 49 columns (12: 4 blocks and 1; 7: none; 5: 9 blocks and 4).
        Case(x: [1, 24, 7, 7], w: [20, 24, 1, 1], activation: "Relu", residual: true, layout: (true, true, true)),
        // 6×7 pointwise into NCHW with an NCHW residual, act(0) = 0.5: 42 = 3·12 + 6 (runs of 4 and 2).
        Case(x: [1, 17, 6, 7], w: [33, 17, 1, 1], activation: "HardSigmoid", residual: true, layout: (true, false, false)),
        // 3×3 stride 2, asymmetric pads, rows of 11 columns, batch 2, Sigmoid, blocked out.
        Case(x: [2, 21, 13, 21], w: [18, 21, 3, 3], lists: ["strides": [2, 2], "pads": [1, 0, 2, 1]], activation: "Sigmoid", layout: (true, true, false)),
        // The same into NCHW: no runs with a transcendental activation and an NCHW output.
        Case(x: [1, 21, 13, 21], w: [18, 21, 3, 3], lists: ["strides": [2, 2], "pads": [1, 0, 2, 1]], activation: "Sigmoid", residual: true,
             layout: (true, false, true)),
    ]

    @Test(arguments: tailCases)
    func partialBlocksRunInTails(_ c: Case) throws {
        let styles = [12, 7, 5].flatMap { px in
            Self.cpuStyles.map { s in
                var o = s
                o.convTile = .init(16, px)
                return o
            }
        }
        try Self.checkBlockedConv(c, styles: styles)
    }

    @Test func tailRunsFollowTheOutputAndTheActivation() {
        let silu = FusedActivation(.silu), relu = FusedActivation(lo: 0, hi: .infinity)
        #expect(Conv.blockedTail(columns: 12, output: true, activation: silu) == 4)
        #expect(Conv.blockedTail(columns: 12, output: false, activation: silu) == nil)
        #expect(Conv.blockedTail(columns: 12, output: false, activation: relu) == 4)
        #expect(Conv.blockedTail(columns: 5, output: false, activation: nil) == 4)
        #expect(Conv.blockedTail(columns: 4, output: true, activation: nil) == nil)
    }

    static func checkBlockedConv(_ c: Case, styles: [ExecutionOptions]) throws {
        var rng = TestRandom(seed: 11)
        let (plainGraph, feeds) = Self.plainGraph(c, rng: &rng)
        let plain = try Model(graph: plainGraph)
        let expected = try #require(try ReferenceExecutor().run(plain, inputs: feeds)["y"])
        var g = plain.graph
        let ci = try #require(g.nodes.firstIndex { $0.opType == "Conv" })
        #expect(g.nodes.count == 1 || g.nodes.last?.opType == "Identity", "activation and residual fused into the Conv")
        var node = g.nodes[ci]
        node.opType = "BlockedConv"
        node.domain = "ai.gpuinfer"
        node.attributes[BlockedConv.inputAttribute] = .int(c.layout.input ? 1 : 0)
        node.attributes[BlockedConv.outputAttribute] = .int(c.layout.output ? 1 : 0)
        node.attributes[BlockedConv.residualLayoutAttribute] = .int(c.residual && c.layout.residual ? 1 : 0)
        node.attributes[BlockedConv.opsetAttribute] = .int(17)
        g.nodes[ci] = node
        var blockedFeeds = feeds
        if c.layout.input, let x = feeds["x"] { blockedFeeds["x"] = BlockedConv.block(x) }
        if c.residual, c.layout.residual, let r = feeds["r"] { blockedFeeds["r"] = BlockedConv.block(r) }
        for i in g.inputs.indices { g.inputs[i].dims = blockedFeeds[g.inputs[i].name]?.shape.map { $0 } }
        let model = try Model(graph: g)
        let outputChannels = c.w[0]
        func plainOutput(_ t: Tensor) -> Tensor { c.layout.output ? BlockedConv.unblock(t, channels: outputChannels) : t }
        let reference = try #require(try ReferenceExecutor().run(model, inputs: blockedFeeds)["y"])
        assertClose(plainOutput(reference), expected, rtol: 0, atol: 0, "BlockedConv reference vs Conv reference")
        let tol = sumTolerance(c.w.dropFirst().reduce(1, *))
        for options in styles {
            let device = try #require(try Session(model: model, runtime: try TestDevice.require(), options: options).run(blockedFeeds)["y"])
            assertClose(plainOutput(device), expected, rtol: tol, atol: tol, "device [\(options.summary)] vs reference")
            if c.layout.output {
                // Lanes past the channel count are stored as 0 (act(0) = 0.5 for HardSigmoid).
                #expect(Self.paddingLanesAreZero(device, channels: outputChannels), "padding lanes are 0 [\(options.summary)]")
            }
        }
        // The GPU style has no blocked kernels: a typed error, not a wrong answer.
        #expect(throws: GPUInferError.self) { try Session(model: model, runtime: try TestDevice.require(), options: OpVariants.style(.gpu)).run(blockedFeeds) }
    }

    @Test func badLayoutAttributesAndShapesAreTypedErrors() throws {
        var rng = TestRandom(seed: 5)
        let w = rng.tensor([8, 4, 1, 1])
        func model(_ flag: Int, x: [Int]) throws -> Model {
            let node = Node(name: "bc", opType: "BlockedConv", domain: "ai.gpuinfer", inputs: ["x", "w"], outputs: ["y"],
                            attributes: [BlockedConv.inputAttribute: .int(flag), BlockedConv.outputAttribute: .int(0)])
            return try Model(graph: Graph(nodes: [node], inputs: [ValueInfo(name: "x", dtype: .float32, dims: x.map { $0 })],
                                          outputs: [ValueInfo(name: "y", dtype: .float32, dims: nil)], initializers: ["w": w], opset: 17))
        }
        #expect(throws: GPUInferError.self) { try model(2, x: [1, 1, 3, 3, 16]) }
        // 4 channels in blocks of 16 are one block: two blocks, or a 4-D input, do not fit (at load, as the input shapes are static).
        #expect(throws: GPUInferError.self) { try model(1, x: [1, 2, 3, 3, 16]) }
        #expect(throws: GPUInferError.self) { try model(1, x: [1, 4, 3, 3]) }
        let fits = try model(1, x: [1, 1, 3, 3, 16])
        let y = try #require(try ReferenceExecutor().run(fits, inputs: ["x": rng.tensor([1, 1, 3, 3, 16])])["y"])
        #expect(y.shape == [1, 8, 3, 3])
    }

    /// A mobile-style graph: a 3→24 stride-2 stem (ReLU), a depthwise 3×3, a pointwise 24→40, a
    /// pointwise 40→40 with a residual Add of its input, a 3×3 40→40 (channel-blocked Winograd F(2×2)
    /// under both profiles: 12 F(4×4) tiles), GlobalAveragePool.
    static func mobileGraph(rng: inout TestRandom) -> (Graph, [String: Tensor]) {
        let inits: [String: Tensor] = [
            "w0": rng.tensor([24, 3, 3, 3], -0.5, 0.5), "b0": rng.tensor([24]), "w1": rng.tensor([24, 1, 3, 3], -0.5, 0.5), "b1": rng.tensor([24]),
            "w2": rng.tensor([40, 24, 1, 1], -0.3, 0.3), "w3": rng.tensor([40, 40, 1, 1], -0.3, 0.3), "b3": rng.tensor([40]),
            "w4": rng.tensor([40, 40, 3, 3], -0.1, 0.1),
        ]
        let nodes = [
            Node(name: "stem", opType: "Conv", inputs: ["x", "w0", "b0"], outputs: ["s0"], attributes: ["strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]),
            Node(name: "stem_relu", opType: "Relu", inputs: ["s0"], outputs: ["a0"]),
            Node(name: "dw", opType: "Conv", inputs: ["a0", "w1", "b1"], outputs: ["a1"], attributes: ["group": .int(24), "pads": .ints([1, 1, 1, 1])]),
            Node(name: "pw", opType: "Conv", inputs: ["a1", "w2"], outputs: ["a2"]),
            Node(name: "pw2", opType: "Conv", inputs: ["a2", "w3", "b3"], outputs: ["t3"]),
            Node(name: "add", opType: "Add", inputs: ["t3", "a2"], outputs: ["a3"]),
            Node(name: "conv3", opType: "Conv", inputs: ["a3", "w4"], outputs: ["a4"], attributes: ["pads": .ints([1, 1, 1, 1])]),
            Node(name: "gap", opType: "GlobalAveragePool", inputs: ["a4"], outputs: ["y"]),
        ]
        let g = Graph(nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, dims: [1, 3, 29, 23])],
                      outputs: [ValueInfo(name: "y", dtype: .float32, dims: nil)], initializers: inits, opset: 17)
        return (g, ["x": rng.tensor([1, 3, 29, 23], -2, 2)])
    }

    /// CPU style with the AVX2 profile.
    static var avx2Style: ExecutionOptions {
        var o = OpVariants.style(.cpu)
        o.cpuProfile = .avx2
        return o
    }

    @Test func passChoosesLayoutsAndKeepsResults() throws {
        var rng = TestRandom(seed: 21)
        let (g, feeds) = Self.mobileGraph(rng: &rng)
        let model = try Model(graph: g)
        let blocked = try #require(try model.withBlockedLayout(options: Self.avx2Style))
        #expect(blocked.report.blockedConvs == 5)
        func layout(_ name: String) -> [Int]? {
            guard let n = blocked.graph.nodes.first(where: { $0.name == name }) else { return nil }
            guard n.opType == "BlockedConv" else { return [] }
            return [BlockedConv.inputAttribute, BlockedConv.outputAttribute, BlockedConv.residualLayoutAttribute].map {
                if case let .int(v)? = n.attributes[$0] { return v }
                return -1
            }
        }
        #expect(layout("stem") == [0, 1, 0], "NCHW image in, blocks out")
        #expect(layout("dw") == [1, 1, 0])
        #expect(layout("pw") == [1, 1, 0])
        // pw2 took the residual Add: input, residual and output blocked.
        #expect(layout("pw2") == [1, 1, 1])
        // The 3×3 convolution (Winograd on both profiles, channel-blocked) reads pw2's blocked
        // output and writes NCHW for the pool.
        #expect(layout("conv3") == [1, 0, 0])
        // The layouts do not depend on the CPU profile (Winograd or not is decided per node at encode time).
        var wideStyle = OpVariants.style(.cpu)
        wideStyle.cpuProfile = .avx512
        let wide = try #require(try model.withBlockedLayout(options: wideStyle))
        #expect(wide.report.blockedConvs == 5 && wide.graph.nodes == blocked.graph.nodes)
        let reference = try #require(try ReferenceExecutor().run(model, inputs: feeds)["y"])
        let runtime = try TestDevice.require()
        for options in Self.cpuStyles {
            let session = Session(model: model, runtime: runtime, options: options)
            #expect(session.model.report.blockedConvs == 5, "a CPU-style session runs the blocked model [\(options.summary)]")
            let device = try #require(try session.run(feeds)["y"])
            assertClose(device, reference, rtol: 1e-4, atol: 1e-5, "blocked device vs NCHW reference [\(options.summary)]")
            var nchw = options
            nchw.layout = .nchw
            let plainSession = Session(model: model, runtime: runtime, options: nchw)
            #expect(plainSession.model.report.blockedConvs == 0)
            assertClose(try #require(try plainSession.run(feeds)["y"]), device, rtol: 1e-4, atol: 1e-5, "nchw vs blocked device")
        }
        #expect(Session(model: model, runtime: runtime, options: OpVariants.style(.gpu)).model.report.blockedConvs == 0, "GPU style keeps NCHW")
        // Node by node, the verifier compares the blocked values too.
        let comparisons = try Verifier.compare(Session(model: model, runtime: runtime, options: Self.avx2Style), inputs: feeds)
        #expect(comparisons.count == 6 && comparisons.allSatisfy(\.withinTolerance))
        #expect(comparisons.contains { $0.shape == [1, 2, 15, 12, 16] }, "the stem's blocked output is compared")
    }

    /// The blocked kernels' tunables are keyed apart from the NCHW ones (conv_blocked_c16 with the
    /// layout flags in the signature, conv_dw_c16), and stored entries reach them: the session runs
    /// the database's columns and still matches the reference.
    @Test func tuningKeysNameTheLayoutAndEntriesApply() throws {
        var rng = TestRandom(seed: 21)
        let (g, feeds) = Self.mobileGraph(rng: &rng)
        let model = try Model(graph: g)
        let runtime = try TestDevice.require()
        let choices = try Session(model: model, runtime: runtime, tuning: nil, options: Self.avx2Style).tuningChoices(for: feeds)
        func choice(_ node: String) -> TuningChoice? { choices.first { $0.node == node } }
        #expect(choice("stem")?.key.family == "conv_blocked_c16" && choice("stem")?.key.signature.hasSuffix(" l010") == true)
        #expect(choice("pw")?.key.signature.hasSuffix(" l110") == true)
        #expect(choice("pw2")?.key.signature.hasSuffix(" l111") == true && choice("pw2")?.parameters["CO"] == nil, "blocked output: CO fixed")
        #expect(choice("conv3")?.key.family == "conv_winograd_c16_f2" && choice("conv3")?.key.signature.hasSuffix(" l100") == true)
        #expect(choice("conv3")?.parameters == ["K": 1, "PX": 5], "the AVX2 profile's channel-blocked Winograd block")
        #expect(choice("dw")?.key.family == "conv_dw_c16")
        // Without Winograd conv3 runs conv2d_blocked into NCHW: its channel block is tunable.
        var direct = Self.avx2Style
        direct.winograd = .off
        let directChoices = try Session(model: model, runtime: runtime, tuning: nil, options: direct).tuningChoices(for: feeds)
        let conv3 = try #require(directChoices.first { $0.node == "conv3" })
        #expect(conv3.key.family == "conv_blocked_c16" && conv3.key.signature.hasSuffix(" l100") && conv3.parameters["CO"] == 16, "NCHW output: CO tunable")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-blocked-tuning-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = TuningDatabase(directory: dir)
        for (node, parameters) in [("stem", ["PX": 3]), ("dw", ["PX": 2]), ("pw2", ["PX": 7]), ("conv3", ["K": 1, "PX": 3])] {
            let c = try #require(choice(node))
            db.store(c.key, parameters: parameters, defaults: c.defaults, defaultNanoseconds: 2, tunedNanoseconds: 1, device: runtime.device)
        }
        try db.save(device: runtime.device)
        let tuned = Session(model: model, runtime: runtime, tuning: TuningDatabase(directory: dir), options: Self.avx2Style)
        let applied = try tuned.tuningChoices(for: feeds).filter { $0.source == .database }
        #expect(applied.map(\.node).sorted() == ["conv3", "dw", "pw2", "stem"])
        let reference = try #require(try ReferenceExecutor().run(model, inputs: feeds)["y"])
        assertClose(try #require(try tuned.run(feeds)["y"]), reference, rtol: 1e-4, atol: 1e-5, "tuned blocked session vs reference")
    }

    /// Values that are graph outputs, or that feed an op other than a convertible Conv or a blocked
    /// Add, stay NCHW; a depthwise Conv whose input is NCHW stays a Conv.
    @Test func passKeepsNCHWAtBoundaries() throws {
        var rng = TestRandom(seed: 9)
        let inits: [String: Tensor] = ["w0": rng.tensor([16, 16, 1, 1]), "w1": rng.tensor([16, 1, 3, 3]), "w2": rng.tensor([16, 16, 1, 1])]
        let nodes = [
            Node(name: "dw_first", opType: "Conv", inputs: ["x", "w1"], outputs: ["d"], attributes: ["group": .int(16), "pads": .ints([1, 1, 1, 1])]),
            Node(name: "pw", opType: "Conv", inputs: ["d", "w0"], outputs: ["p"]),
            Node(name: "pw_out", opType: "Conv", inputs: ["p", "w2"], outputs: ["q"]),
            Node(name: "sig", opType: "Sigmoid", inputs: ["p"], outputs: ["z"]),
        ]
        let g = Graph(nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, dims: [1, 16, 6, 6])],
                      outputs: [ValueInfo(name: "q", dtype: .float32, dims: nil), ValueInfo(name: "z", dtype: .float32, dims: nil)],
                      initializers: inits, opset: 17)
        var copy = g
        #expect(copy.useBlockedLayout(options: OpVariants.style(.cpu)) == 0, "p feeds a Sigmoid, q is a graph output, dw reads the NCHW input")
        #expect(copy.nodes == g.nodes)
    }

    /// One pooling case for BlockedPool: op type, input shape, attributes.
    struct PoolCase: CustomTestStringConvertible, Sendable {
        var op: String, x: [Int], ints: [String: Int] = [:], lists: [String: [Int]], opset = 17
        var testDescription: String { "\(op) x\(x) \(ints) \(lists)" }
    }

    static let poolCases: [PoolCase] = [
        // ResNet's stem pool on 21 channels (a partial block), batch 2, NaNs in the input.
        PoolCase(op: "MaxPool", x: [2, 21, 13, 11], lists: ["kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]]),
        // SPPF's 5×5 stride-1 pool, 32 channels.
        PoolCase(op: "MaxPool", x: [1, 32, 9, 7], lists: ["kernel_shape": [5, 5], "pads": [2, 2, 2, 2]]),
        // Dilated 3×2 max, asymmetric pads, ceil mode.
        PoolCase(op: "MaxPool", x: [1, 17, 10, 9], ints: ["ceil_mode": 1], lists: ["kernel_shape": [3, 2], "strides": [2, 3], "dilations": [2, 1], "pads": [1, 0, 2, 1]]),
        // ResNet-vd's shortcut pool (2×2 stride 2, ceil mode on odd sizes), with and without the pads in the count.
        PoolCase(op: "AveragePool", x: [2, 40, 7, 9], ints: ["ceil_mode": 1], lists: ["kernel_shape": [2, 2], "strides": [2, 2]]),
        PoolCase(op: "AveragePool", x: [1, 33, 8, 6], ints: ["count_include_pad": 1], lists: ["kernel_shape": [3, 3], "strides": [1, 2], "pads": [1, 1, 0, 1]]),
        PoolCase(op: "AveragePool", x: [1, 5, 6, 6], ints: ["count_include_pad": 0], lists: ["kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "dilations": [1, 2]],
                 opset: 19),
    ]

    /// BlockedPool against Pool: the device and the reference on blocked inputs equal Pool's
    /// reference on the NCHW input exactly (the same taps in the same order and the same divisor),
    /// NaNs propagate as in Pool, and lanes past the channel count are 0.
    @Test(arguments: poolCases)
    func blockedPoolMatchesPool(_ c: PoolCase) throws {
        var rng = TestRandom(seed: 31)
        var x = rng.tensor(c.x, -3, 3)
        if c.x[1] == 21 { x.floats[5] = .nan; x.floats[c.x[2] * c.x[3] * 20 + 17] = .nan }
        var a = attrs(c.ints)
        for (k, v) in c.lists { a[k] = .ints(v) }
        let plain = try singleNodeModel(c.op, attributes: a, inputs: [x], opset: c.opset)
        let expected = try #require(try ReferenceExecutor().run(plain, inputs: ["in0": x])["out0"])
        var blockedAttributes = a
        blockedAttributes[BlockedPool.poolAttribute] = .string(c.op)
        blockedAttributes[BlockedPool.channelsAttribute] = .int(c.x[1])
        blockedAttributes[BlockedPool.opsetAttribute] = .int(c.opset)
        let bx = BlockedConv.block(x)
        let node = Node(name: "pool", opType: "BlockedPool", domain: "ai.gpuinfer", inputs: ["x"], outputs: ["y"], attributes: blockedAttributes)
        let model = try Model(graph: Graph(nodes: [node], inputs: [ValueInfo(name: "x", dtype: .float32, dims: bx.shape.map { $0 })],
                                           outputs: [ValueInfo(name: "y", dtype: nil, dims: nil)], initializers: [:], opset: 17))
        let reference = try #require(try ReferenceExecutor().run(model, inputs: ["x": bx])["y"])
        assertClose(BlockedConv.unblock(reference, channels: c.x[1]), expected, rtol: 0, atol: 0, "BlockedPool reference vs Pool reference")
        for options in Self.cpuStyles {
            let device = try #require(try Session(model: model, runtime: try TestDevice.require(), options: options).run(["x": bx])["y"])
            assertClose(BlockedConv.unblock(device, channels: c.x[1]), expected, rtol: 0, atol: 0, "device [\(options.summary)] vs reference")
            #expect(Self.paddingLanesAreZero(device, channels: c.x[1]), "padding lanes are 0 [\(options.summary)]")
        }
        #expect(throws: GPUInferError.self) { try Session(model: model, runtime: try TestDevice.require(), options: OpVariants.style(.gpu)).run(["x": bx]) }
    }

    /// A VGG-style stage boundary (conv → MaxPool → conv) and a ResNet-vd shortcut (AveragePool →
    /// pointwise conv, added to the main path) stay blocked through the pools; a pool that is a graph
    /// output, and a MaxPool with Indices, stay NCHW. The session matches the NCHW reference.
    @Test func poolsBetweenConvolutionsStayBlocked() throws {
        var rng = TestRandom(seed: 41)
        let inits: [String: Tensor] = [
            "w0": rng.tensor([24, 3, 3, 3], -0.5, 0.5), "w1": rng.tensor([40, 24, 3, 3], -0.2, 0.2), "w2": rng.tensor([40, 24, 1, 1], -0.3, 0.3),
            "w3": rng.tensor([40, 40, 1, 1], -0.3, 0.3), "w4": rng.tensor([8, 24, 1, 1], -0.3, 0.3),
        ]
        let pool = ["kernel_shape": Attribute.ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])]
        let nodes = [
            Node(name: "c0", opType: "Conv", inputs: ["x", "w0"], outputs: ["a0"], attributes: ["pads": .ints([1, 1, 1, 1])]),
            Node(name: "r0", opType: "Relu", inputs: ["a0"], outputs: ["b0"]),
            Node(name: "mp", opType: "MaxPool", inputs: ["b0"], outputs: ["p0"], attributes: pool),
            Node(name: "c1", opType: "Conv", inputs: ["p0", "w1"], outputs: ["a1"], attributes: ["pads": .ints([1, 1, 1, 1])]),
            Node(name: "ap", opType: "AveragePool", inputs: ["p0"], outputs: ["p1"], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2]), "ceil_mode": .int(1)]),
            Node(name: "c2", opType: "Conv", inputs: ["p1", "w2"], outputs: ["a2"]),
            Node(name: "up", opType: "MaxPool", inputs: ["a1"], outputs: ["p2"], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2]), "ceil_mode": .int(1)]),
            Node(name: "add", opType: "Add", inputs: ["p2", "a2"], outputs: ["s"]),
            Node(name: "c3", opType: "Conv", inputs: ["s", "w3"], outputs: ["a3"]),
            Node(name: "out", opType: "MaxPool", inputs: ["a3"], outputs: ["y"], attributes: ["kernel_shape": .ints([2, 2])]),
            Node(name: "ci", opType: "Conv", inputs: ["p0", "w4"], outputs: ["i0"]),
            Node(name: "idx", opType: "MaxPool", inputs: ["i0"], outputs: ["z", "zi"], attributes: ["kernel_shape": .ints([2, 2])]),
        ]
        let g = Graph(nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, dims: [1, 3, 19, 17])],
                      outputs: ["y", "z", "zi"].map { ValueInfo(name: $0, dtype: nil, dims: nil) }, initializers: inits, opset: 17)
        let model = try Model(graph: g)
        let blocked = try #require(try model.withBlockedLayout(options: OpVariants.style(.cpu)))
        func node(_ name: String) -> Node? { blocked.graph.nodes.first { $0.name == name } }
        for name in ["mp", "ap", "up"] {
            #expect(node(name)?.opType == "BlockedPool" && node(name)?.domain == "ai.gpuinfer", "\(name) runs blocked")
        }
        #expect(node("mp")?.attributes[BlockedPool.poolAttribute] == .string("MaxPool") && node("mp")?.attributes[BlockedPool.channelsAttribute] == .int(24))
        #expect(node("ap")?.attributes[BlockedPool.poolAttribute] == .string("AveragePool"))
        #expect(node("out")?.opType == "MaxPool", "a graph output stays NCHW")
        #expect(node("idx")?.opType == "MaxPool", "Indices stay NCHW")
        #expect(node("c0")?.attributes[BlockedConv.outputAttribute] == .int(1))
        #expect(node("ci")?.attributes[BlockedConv.outputAttribute] == .int(0), "ci feeds the Indices pool")
        for name in ["c1", "c2", "ci"] { #expect(node(name)?.attributes[BlockedConv.inputAttribute] == .int(1), "\(name) reads blocks") }
        #expect(node("c3")?.attributes[BlockedConv.outputAttribute] == .int(0), "c3 feeds the NCHW output pool")
        let feeds = ["x": rng.tensor([1, 3, 19, 17], -2, 2)]
        let reference = try ReferenceExecutor().run(model, inputs: feeds)
        for options in Self.cpuStyles {
            let out = try Session(model: model, runtime: try TestDevice.require(), options: options).run(feeds)
            for name in ["y", "z", "zi"] {
                assertClose(try #require(out[name]), try #require(reference[name]), rtol: 1e-4, atol: 1e-5, "\(name) [\(options.summary)]")
            }
        }
    }

    /// How a Split names its sizes.
    enum SplitForm: String, CaseIterable, Sendable { case input, attribute, numOutputs, equal }

    /// A YOLOv8 C2f block and a second split: a 3→32 stride-2 stem, Split into 16 + 16 channels
    /// (`form`), two 3×3 16→16 convolutions on the second half with a residual Add of it, Concat of
    /// both halves and the sum (48), a pointwise 48→40, Split into 32 + 8 on axis −3, Concat of
    /// those again (the last part not a whole block), and a pointwise 40→24 to the graph output.
    static func c2fGraph(form: SplitForm, rng: inout TestRandom) -> (Graph, [String: Tensor]) {
        let opset = form == .attribute ? 11 : form == .numOutputs ? 18 : 17
        var inits: [String: Tensor] = [
            "w0": rng.tensor([32, 3, 3, 3], -0.3, 0.3), "b0": rng.tensor([32]), "w1": rng.tensor([16, 16, 3, 3], -0.2, 0.2),
            "w2": rng.tensor([16, 16, 3, 3], -0.2, 0.2), "w3": rng.tensor([40, 48, 1, 1], -0.2, 0.2), "w4": rng.tensor([24, 40, 1, 1], -0.2, 0.2),
        ]
        var split = Node(name: "split", opType: "Split", inputs: ["s"], outputs: ["a", "b"], attributes: ["axis": .int(1)])
        switch form {
        case .input:
            inits["parts"] = Tensor(shape: [2], ints: [16, 16])
            split.inputs.append("parts")
        case .attribute: split.attributes["split"] = .ints([16, 16])
        case .numOutputs: split.attributes["num_outputs"] = .int(2)
        case .equal: break
        }
        var split2 = Node(name: "split2", opType: "Split", inputs: ["y"], outputs: ["q0", "q1"], attributes: ["axis": .int(-3)])
        if opset < 13 {
            split2.attributes["split"] = .ints([32, 8])
        } else {
            inits["parts2"] = Tensor(shape: [2], ints: [32, 8])
            split2.inputs.append("parts2")
        }
        let pads: Attribute = .ints([1, 1, 1, 1])
        let nodes = [
            Node(name: "stem", opType: "Conv", inputs: ["x", "w0", "b0"], outputs: ["s"], attributes: ["strides": .ints([2, 2]), "pads": pads]),
            split,
            Node(name: "m1", opType: "Conv", inputs: ["b", "w1"], outputs: ["t1"], attributes: ["pads": pads]),
            Node(name: "m2", opType: "Conv", inputs: ["t1", "w2"], outputs: ["t2"], attributes: ["pads": pads]),
            Node(name: "add", opType: "Add", inputs: ["b", "t2"], outputs: ["c"]),
            Node(name: "cat", opType: "Concat", inputs: ["a", "b", "c"], outputs: ["d"], attributes: ["axis": .int(1)]),
            Node(name: "cv2", opType: "Conv", inputs: ["d", "w3"], outputs: ["y"]),
            split2,
            Node(name: "cat2", opType: "Concat", inputs: ["q0", "q1"], outputs: ["e"], attributes: ["axis": .int(-3)]),
            Node(name: "head", opType: "Conv", inputs: ["e", "w4"], outputs: ["z"]),
        ]
        let g = Graph(nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, dims: [1, 3, 19, 23])],
                      outputs: [ValueInfo(name: "z", dtype: .float32, dims: nil)], initializers: inits, opset: opset)
        return (g, ["x": rng.tensor([1, 3, 19, 23], -2, 2)])
    }

    /// Channel Split and Concat keep a C2f block blocked whatever the form of the split sizes: the
    /// pass sets axis 1 and the sizes in blocks (the last part takes the padded block), every
    /// convolution reads and writes blocks but the head, and the device matches the NCHW reference
    /// in both profiles. Tolerance: the convolutions' (as passChoosesLayoutsAndKeepsResults); the
    /// copies are exact.
    @Test(arguments: SplitForm.allCases)
    func channelSplitAndConcatStayBlocked(form: SplitForm) throws {
        var rng = TestRandom(seed: 31)
        let (g, feeds) = Self.c2fGraph(form: form, rng: &rng)
        let model = try Model(graph: g)
        let blocked = try #require(try model.withBlockedLayout(options: OpVariants.style(.cpu)))
        #expect(blocked.report.blockedConvs == 5)
        func node(_ name: String) -> Node? { blocked.graph.nodes.first { $0.name == name } }
        func layout(_ name: String) -> [Int]? {
            guard let n = node(name), n.opType == "BlockedConv" else { return nil }
            return [BlockedConv.inputAttribute, BlockedConv.outputAttribute, BlockedConv.residualLayoutAttribute].map {
                if case let .int(v)? = n.attributes[$0] { return v }
                return -1
            }
        }
        #expect(layout("stem") == [0, 1, 0] && layout("m1") == [1, 1, 0] && layout("cv2") == [1, 1, 0] && layout("head") == [1, 0, 0])
        #expect(layout("m2") == [1, 1, 1], "the residual Add of a split half fuses and stays blocked")
        for name in ["split", "split2", "cat", "cat2"] { #expect(node(name)?.attributes["axis"] == .int(1), "\(name)") }
        func blocks(_ n: Node?) -> [Int]? {
            guard let n else { return nil }
            if case let .ints(v)? = n.attributes["split"] { return v }
            return n.inputs.count > 1 ? blocked.graph.initializers[n.inputs[1]]?.ints.map { Int($0) } : nil
        }
        #expect(blocks(node("split")) == [1, 1] && blocks(node("split2")) == [2, 1])
        #expect(node("split")?.attributes["num_outputs"] == nil)
        let reference = try #require(try ReferenceExecutor().run(model, inputs: feeds)["z"])
        let blockedReference = try #require(try ReferenceExecutor().run(blocked, inputs: feeds)["z"])
        assertClose(blockedReference, reference, rtol: 1e-5, atol: 1e-6, "blocked graph on the reference backend")
        let runtime = try TestDevice.require()
        for options in Self.cpuStyles {
            let session = Session(model: model, runtime: runtime, options: options)
            #expect(session.model.report.blockedConvs == 5)
            assertClose(try #require(try session.run(feeds)["z"]), reference, rtol: 1e-4, atol: 1e-5, "blocked device vs NCHW reference [\(options.summary)]")
        }
    }

    /// A Concat whose first part is not a whole block, a Split into such parts and a Split with a
    /// graph output (its other output then too) keep their values NCHW.
    @Test func splitAndConcatThatCannotBlockStayNCHW() throws {
        var rng = TestRandom(seed: 5)
        let inits: [String: Tensor] = ["w0": rng.tensor([24, 8, 1, 1]), "w1": rng.tensor([16, 8, 1, 1]), "w2": rng.tensor([16, 40, 1, 1]),
                                       "w3": rng.tensor([32, 8, 1, 1]), "w4": rng.tensor([8, 16, 1, 1]), "w5": rng.tensor([8, 16, 1, 1]),
                                       "p824": Tensor(shape: [2], ints: [8, 16]), "p16": Tensor(shape: [2], ints: [16, 16])]
        let nodes = [
            Node(name: "c0", opType: "Conv", inputs: ["x", "w0"], outputs: ["u"]),  // 24 channels
            Node(name: "c1", opType: "Conv", inputs: ["x", "w1"], outputs: ["v"]),  // 16 channels
            Node(name: "cat", opType: "Concat", inputs: ["u", "v"], outputs: ["uv"], attributes: ["axis": .int(1)]),  // first part 24: no
            Node(name: "c2", opType: "Conv", inputs: ["uv", "w2"], outputs: ["o1"]),
            Node(name: "split", opType: "Split", inputs: ["u", "p824"], outputs: ["s0", "s1"], attributes: ["axis": .int(1)]),  // 8 + 16: no
            Node(name: "c3", opType: "Conv", inputs: ["x", "w3"], outputs: ["t"]),  // 32 channels
            Node(name: "split2", opType: "Split", inputs: ["t", "p16"], outputs: ["r0", "r1"], attributes: ["axis": .int(1)]),  // r1 is a graph output
            Node(name: "c4", opType: "Conv", inputs: ["r0", "w4"], outputs: ["o2"]),
            Node(name: "c5", opType: "Conv", inputs: ["s1", "w5"], outputs: ["o3"]),
        ]
        let g = Graph(nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, dims: [1, 8, 5, 7])],
                      outputs: ["o1", "o2", "o3", "r1", "s0"].map { ValueInfo(name: $0, dtype: .float32, dims: nil) },
                      initializers: inits, opset: 17)
        var copy = g
        #expect(copy.useBlockedLayout(options: OpVariants.style(.cpu)) == 0)
        #expect(copy.nodes == g.nodes)
    }

}
