// Graph IR and load-time passes: topological sort, cycles, function inlining, constant folding
// (including Shape/Gather/Unsqueeze/Concat chains), BN folding, dead-node removal, buffer reuse.
import Foundation
import Testing
@testable import GPUInfer

private func node(_ op: String, _ inputs: [String], _ outputs: [String], _ attrs: [String: Attribute] = [:], domain: String = "") -> Node {
    Node(name: outputs[0] + "_node", opType: op, domain: domain, inputs: inputs, outputs: outputs, attributes: attrs)
}

private func input(_ name: String, _ shape: [Int]) -> ValueInfo { ValueInfo(name: name, dtype: .float32, dims: shape) }
private func output(_ name: String) -> ValueInfo { ValueInfo(name: name, dtype: nil, dims: nil) }

@Suite struct GraphTests {
    @Test func sortsNodesTopologically() throws {
        var g = Graph(nodes: [node("Relu", ["a"], ["b"]), node("Relu", ["x"], ["a"])], inputs: [input("x", [3])],
                      outputs: [output("b")], initializers: [:], opset: 17)
        try g.sortTopologically()
        #expect(g.nodes.map { $0.outputs[0] } == ["a", "b"])
    }

    @Test func cycleIsAnInvalidModelError() throws {
        var g = Graph(nodes: [node("Relu", ["b"], ["a"]), node("Relu", ["a"], ["b"])], inputs: [input("x", [3])],
                      outputs: [output("b")], initializers: [:], opset: 17)
        do {
            try g.sortTopologically()
            Issue.record("a cyclic graph sorted")
        } catch let GPUInferError.invalidModel(location, reason) {
            #expect(reason.contains("cycle"))
            #expect(location.contains("Relu"))
        }
    }

    /// A node output that redefines an initializer, a graph input or another node's output is an
    /// invalid model (onnxruntime: "Duplicate definition of name"), not a graph whose consumers
    /// silently read the other definition.
    @Test func redefinedValueIsAnInvalidModelError() throws {
        let w = Tensor(shape: [3], floats: [1, 2, 3])
        let cases: [(String, Graph)] = [
            ("initializer", Graph(nodes: [node("Relu", ["x"], ["w"]), node("Sigmoid", ["w"], ["y"])], inputs: [input("x", [3])],
                                  outputs: [output("y")], initializers: ["w": w], opset: 17)),
            ("graph input", Graph(nodes: [node("Relu", ["x"], ["x"])], inputs: [input("x", [3])], outputs: [output("x")], initializers: [:], opset: 17)),
            ("node output", Graph(nodes: [node("Relu", ["x"], ["a"]), node("Sigmoid", ["x"], ["a"])], inputs: [input("x", [3])],
                                  outputs: [output("a")], initializers: [:], opset: 17)),
        ]
        for (what, graph) in cases {
            var g = graph
            #expect(throws: GPUInferError.self, "\(what)") { try g.sortTopologically() }
            do {
                try g.sortTopologically()
            } catch let GPUInferError.invalidModel(_, reason) {
                #expect(reason.contains("produced more than once"), "\(what): \(reason)")
            }
        }
    }

    @Test func unsupportedOpFailsAtLoadNamingOpNodeAndOpset() throws {
        let g = Graph(nodes: [node("Relu", ["x"], ["a"]), node("FancyOp", ["a"], ["b"])], inputs: [input("x", [3])],
                      outputs: [output("b")], initializers: [:], opset: 17)
        do {
            _ = try Model(graph: g)
            Issue.record("loaded a model with an unknown op")
        } catch let e as GPUInferError {
            guard case let .unsupportedOp(op, _, nodeName, opset, _) = e else { Issue.record("wrong error \(e)"); return }
            #expect(op == "FancyOp")
            #expect(nodeName == "b_node")
            #expect(opset == 17)
            #expect(e.description.contains("FancyOp") && e.description.contains("b_node") && e.description.contains("17"))
        }
    }

    @Test func shapeChainsFoldAtPlanTime() throws {
        // Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])) → only Reshape and Relu run.
        let g = Graph(
            nodes: [
                node("Shape", ["x"], ["s"]),
                node("Gather", ["s", "zero"], ["n"], ["axis": .int(0)]),
                node("Unsqueeze", ["n", "axes0"], ["n1"]),
                node("Concat", ["n1", "minus1"], ["shape"], ["axis": .int(0)]),
                node("Reshape", ["x", "shape"], ["r"]),
                node("Relu", ["r"], ["y"]),
            ],
            inputs: [input("x", [2, 3, 4, 5])], outputs: [output("y")],
            initializers: ["zero": .scalar(Int64(0)), "axes0": Tensor(shape: [1], ints: [0]), "minus1": Tensor(shape: [1], ints: [-1])],
            opset: 17)
        let model = try Model(graph: g)
        var rng = TestRandom(seed: 3)
        let x = rng.tensor([2, 3, 4, 5])
        let spec = try model.specialize(["x": x])
        #expect(spec.liveNodes.map { model.graph.nodes[$0].opType } == ["Reshape", "Relu"])
        #expect(spec.types["y"]?.shape == [2, 60])
        let device = try Session(model: model, runtime: try TestDevice.require()).run(["x": x])
        assertClose(device["y"]!, Tensor(shape: [2, 60], floats: x.floats.map { max($0, 0) }), rtol: 0, atol: 0)
    }

    @Test func constantSubgraphsFoldAtLoad() throws {
        // Transpose(W) + x: the Transpose of an initializer is computed once at load.
        let w = Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        let g = Graph(nodes: [node("Transpose", ["w"], ["wt"]), node("Add", ["x", "wt"], ["y"])],
                      inputs: [input("x", [3, 2])], outputs: [output("y")], initializers: ["w": w], opset: 17)
        let model = try Model(graph: g)
        #expect(model.report.constantNodesFolded == 1)
        #expect(model.graph.nodes.map(\.opType) == ["Add"])
        let x = Tensor(shape: [3, 2], floats: [0, 0, 1, 1, 2, 2])
        let y = try ReferenceExecutor().run(model, inputs: ["x": x])["y"]!
        #expect(y.floats == [1, 4, 3, 6, 5, 8])
    }

    @Test func deadNodesAreRemoved() throws {
        let g = Graph(nodes: [node("Relu", ["x"], ["y"]), node("Sigmoid", ["x"], ["unused"])],
                      inputs: [input("x", [4])], outputs: [output("y")], initializers: [:], opset: 17)
        let model = try Model(graph: g)
        #expect(model.report.deadNodesRemoved == 1)
        #expect(model.graph.nodes.map(\.opType) == ["Relu"])
    }

    @Test func batchNormFoldsIntoConv() throws {
        var rng = TestRandom(seed: 11)
        let c = 3, o = 5
        let w = rng.tensor([o, c, 3, 3]), b = rng.tensor([o])
        let gamma = rng.tensor([o], 0.5, 1.5), beta = rng.tensor([o]), mean = rng.tensor([o]), variance = rng.tensor([o], 0.1, 2)
        let inits = ["w": w, "b": b, "gamma": gamma, "beta": beta, "mean": mean, "var": variance]
        let nodes = [node("Conv", ["x", "w", "b"], ["c"], ["pads": .ints([1, 1, 1, 1])]),
                     node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["y"], ["epsilon": .float(1e-3)])]
        let model = try Model(graph: Graph(nodes: nodes, inputs: [input("x", [2, c, 7, 9])], outputs: [output("y")], initializers: inits, opset: 17))
        #expect(model.report.batchNormsFolded == 1)
        #expect(model.graph.nodes.map(\.opType) == ["Conv"])
        // The same graph with the Conv output also exported cannot fold: compare the two.
        let unfolded = try Model(graph: Graph(nodes: nodes, inputs: [input("x", [2, c, 7, 9])], outputs: [output("y"), output("c")], initializers: inits, opset: 17))
        #expect(unfolded.report.batchNormsFolded == 0)
        let x = rng.tensor([2, c, 7, 9])
        let folded = try ReferenceExecutor().run(model, inputs: ["x": x])["y"]!
        let plain = try ReferenceExecutor().run(unfolded, inputs: ["x": x])["y"]!
        // Folding reorders fp32 products: W·(γ/σ)·x vs (W·x)·γ/σ, a few ulps per output (27 terms).
        assertClose(folded, plain, rtol: 1e-5, atol: 1e-5, "folded vs unfolded")
        let device = try Session(model: model, runtime: try TestDevice.require()).run(["x": x])["y"]!
        assertClose(device, plain, rtol: 1e-5, atol: 1e-5, "device folded vs reference unfolded")
    }

    @Test func functionsAreInlinedWithAttributeReferences() throws {
        // ScaleShift(x, b) = LeakyRelu(x + b, alpha = @alpha)
        let body = [
            Node(name: "add", opType: "Add", inputs: ["X", "B"], outputs: ["t"]),
            Node(name: "act", opType: "LeakyRelu", inputs: ["t"], outputs: ["Y"], attributes: ["alpha": .reference("alpha")]),
        ]
        let f = GraphFunction(name: "ScaleShift", domain: "test.local", inputs: ["X", "B"], outputs: ["Y"],
                              attributeNames: ["alpha"], attributeDefaults: [:], nodes: body, opsets: ["": 17])
        let call = Node(name: "call", opType: "ScaleShift", domain: "test.local", inputs: ["x", "b"], outputs: ["y"], attributes: ["alpha": .float(0.5)])
        let g = Graph(nodes: [call], inputs: [input("x", [4])], outputs: [output("y")],
                      initializers: ["b": Tensor(shape: [4], floats: [1, 1, -1, -1])], opset: 17,
                      opsets: ["": 17, "test.local": 1], functions: ["test.local::ScaleShift": f])
        let model = try Model(graph: g)
        #expect(model.graph.nodes.map(\.opType) == ["Add", "LeakyRelu"])
        let x = Tensor(shape: [4], floats: [1, -3, 2, -2])
        let y = try ReferenceExecutor().run(model, inputs: ["x": x])["y"]!
        #expect(y.floats == [2, -1, 1, -1.5])
        let d = try Session(model: model, runtime: try TestDevice.require()).run(["x": x])["y"]!
        #expect(d.floats == [2, -1, 1, -1.5])
    }

    @Test func buffersAreReusedByLiveness() throws {
        // A chain of 8 ReLUs on 1000 floats needs two buffers in flight, not eight.
        var nodes: [Node] = []
        var prev = "x"
        for i in 0..<8 {
            nodes.append(node(i % 2 == 0 ? "Relu" : "Sigmoid", [prev], ["v\(i)"]))
            prev = "v\(i)"
        }
        let model = try Model(graph: Graph(nodes: nodes, inputs: [input("x", [1000])], outputs: [output(prev)], initializers: [:], opset: 17))
        let session = Session(model: model, runtime: try TestDevice.require())
        var rng = TestRandom(seed: 5)
        let x = rng.tensor([1000])
        let bytes = try session.activationBytes(for: ["x": x])
        #expect(bytes <= 3 * 4000, "activation bytes \(bytes)")
        let y = try session.run(["x": x])[prev]!
        let r = try ReferenceExecutor().run(model, inputs: ["x": x])[prev]!
        // Sigmoid via OpenCL exp (≤ 4 ulp), composed four times.
        assertClose(y, r, rtol: 1e-5, atol: 1e-6)
    }

    @Test func oneSessionServesManyThreads() async throws {
        let model = try Model(graph: Graph(nodes: [node("Relu", ["x"], ["a"]), node("Add", ["a", "x"], ["y"])],
                                           inputs: [input("x", [257])], outputs: [output("y")], initializers: [:], opset: 17))
        let session = Session(model: model, runtime: try TestDevice.require())
        let results = try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
            for t in 0..<16 {
                group.addTask {
                    var rng = TestRandom(seed: UInt64(t % 4))
                    let x = rng.tensor([257])
                    return (t, try session.run(["x": x])["y"]!.floats)
                }
            }
            var all: [Int: [Float]] = [:]
            for try await (t, v) in group { all[t] = v }
            return all
        }
        for t in 0..<16 {
            var rng = TestRandom(seed: UInt64(t % 4))
            let x = rng.tensor([257])
            #expect(results[t] == x.floats.map { max($0, 0) + $0 })
        }
    }
}
