// GeM pooling: the fused kernel (both variants, both kernel styles) against its reference on
// awkward shapes, and the load pass that replaces the exporters' pattern — Clip/Max → Pow →
// GlobalAveragePool/ReduceMean → Pow — checked against the unfused graph.
//
// Tolerance: OpenCL's pow may be 16 ulp off and the device sums S positive terms in another
// order than the reference, so the mean's relative error is within (16 + S)·2⁻²⁴; the final pow
// (exponent q ≈ 1/3) scales it by q and adds its own 16 ulp: rtol = (S + 32)·2⁻²⁴.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct GeMTests {
    static func gemModel(eps: Float, p: Float, q: Float) throws -> Model {
        let node = Node(name: "gem", opType: "GeM", domain: GeM.domain, inputs: ["x", "p", "q"], outputs: ["y"], attributes: ["eps": .float(eps)])
        let graph = Graph(nodes: [node], inputs: [ValueInfo(name: "x", dtype: .float32, dims: nil)], outputs: [ValueInfo(name: "y", dtype: .float32, dims: nil)],
                          initializers: ["p": Tensor(shape: [1], floats: [p]), "q": Tensor(shape: [1], floats: [q])], opset: 17,
                          opsets: ["": 17, GeM.domain: 1])
        return try Model(graph: graph)
    }

    /// Planes of 1 to 4900 values (one work-item per plane, and a work-group per plane: the GPU
    /// style, and the CPU style's choice for long planes), negative values clamped, a NaN kept.
    static let cases: [([Int], Float)] = [([2, 5, 7, 9], 3), ([1, 3, 70, 70], 1.7), ([3, 17, 1, 1], 4.2), ([1, 2, 13, 200], 3), ([2, 3, 5, 4, 3], 2.5)]

    @Test(arguments: cases)
    func kernelMatchesReference(shape: [Int], p: Float) throws {
        var rng = TestRandom(seed: UInt64(shape.reduce(1, *)))
        var x = rng.tensor(shape, -0.5, 2)
        if x.count > 10 { var f = x.floats; f[7] = .nan; x = Tensor(shape: shape, floats: f) }
        let model = try Self.gemModel(eps: 1e-6, p: p, q: 1 / p)
        let reference = try #require(try ReferenceExecutor().run(model, inputs: ["x": x])["y"])
        let size = shape.dropFirst(2).reduce(1, *)
        #expect(reference.shape == [shape[0], shape[1]] + [Int](repeating: 1, count: shape.count - 2))
        // The plane holding the NaN is NaN; clamped planes are finite.
        #expect(reference.floats[7 / size].isNaN == (x.count > 10) && reference.floats.enumerated().allSatisfy { $0.offset == 7 / size && x.count > 10 || $0.element.isFinite })
        for options in OpVariants.kernelStyles {
            let device = try #require(try Session(model: model, runtime: try TestDevice.require(), options: options).run(["x": x])["y"])
            assertClose(device, reference, rtol: Float(size + 32) * 0x1p-24, atol: 1e-7, "GeM \(shape) p \(p) [\(options.summary)]")
        }
        #expect(GeM.variant(size: 4900, planes: 3, gpuStyle: false) == .local && GeM.variant(size: 63, planes: 70, gpuStyle: false) == .planes
                && GeM.variant(size: 63, planes: 70, gpuStyle: true) == .local)
    }

    /// The pattern as exporters write it, with p a [1] initializer and q = Div(1, p) in the graph.
    static func patternGraph(clampWithMax: Bool, reduceMean: Bool, extraOutput: Bool = false) -> Graph {
        var nodes = [
            clampWithMax ? Node(name: "clamp", opType: "Max", inputs: ["x", "eps"], outputs: ["c"])
                         : Node(name: "clamp", opType: "Clip", inputs: ["x", "eps"], outputs: ["c"]),
            Node(name: "pow", opType: "Pow", inputs: ["c", "p"], outputs: ["cp"]),
            reduceMean ? Node(name: "mean", opType: "ReduceMean", inputs: ["cp", "axes"], outputs: ["m"], attributes: ["keepdims": .int(1)])
                       : Node(name: "mean", opType: "GlobalAveragePool", inputs: ["cp"], outputs: ["m"]),
            Node(name: "inverse", opType: "Div", inputs: ["one", "p"], outputs: ["q"]),
            Node(name: "root", opType: "Pow", inputs: ["m", "q"], outputs: ["g"]),
            Node(name: "flatten", opType: "Flatten", inputs: ["g"], outputs: ["y"]),
        ]
        if extraOutput { nodes.append(Node(name: "side", opType: "Relu", inputs: ["cp"], outputs: ["side"])) }
        return Graph(nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, dims: [2, 6, 11, 7])],
                     outputs: [ValueInfo(name: "y", dtype: .float32, dims: nil)] + (extraOutput ? [ValueInfo(name: "side", dtype: .float32, dims: nil)] : []),
                     initializers: ["eps": Tensor(shape: [], floats: [1e-6]), "p": Tensor(shape: [1], floats: [2.83]), "one": Tensor(shape: [], floats: [1]),
                                    "axes": Tensor(shape: [2], ints: [2, 3])], opset: 18)
    }

    /// Each exporter style becomes one GeM node; fused and unfused models agree on both backends.
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func patternIsFused(clampWithMax: Bool, reduceMean: Bool) throws {
        let graph = Self.patternGraph(clampWithMax: clampWithMax, reduceMean: reduceMean)
        let fused = try Model(graph: graph)
        #expect(fused.report.gemFused == 1 && fused.graph.nodes.map(\.opType) == ["GeM", "Flatten"], "\(fused.graph.nodes.map(\.opType))")
        let plain = try Model(graph: graph, options: LoadOptions(useFusedKernels: false))
        #expect(plain.report.gemFused == 0 && plain.graph.nodes.contains { $0.opType == "ReduceMean" || $0.opType == "GlobalAveragePool" })
        var rng = TestRandom(seed: 5)
        let x = rng.tensor([2, 6, 11, 7], -1, 3)
        let expected = try #require(try ReferenceExecutor().run(plain, inputs: ["x": x])["y"])
        #expect(expected.shape == [2, 6])
        let rtol = Float(77 + 32) * 0x1p-24
        assertClose(try #require(try ReferenceExecutor().run(fused, inputs: ["x": x])["y"]), expected, rtol: rtol, atol: 1e-7, "fused reference")
        for options in OpVariants.kernelStyles {
            let device = try #require(try Session(model: fused, runtime: try TestDevice.require(), options: options).run(["x": x])["y"])
            assertClose(device, expected, rtol: rtol, atol: 1e-7, "fused device [\(options.summary)]")
        }
    }

    /// An intermediate value with another consumer keeps the plain ops; a fused ReduceMean
    /// pattern refuses a 5-D input (its mean covered only axes 2 and 3); bad eps is refused.
    @Test func patternGuards() throws {
        let kept = try Model(graph: Self.patternGraph(clampWithMax: false, reduceMean: false, extraOutput: true))
        #expect(kept.report.gemFused == 0)
        var five = Self.patternGraph(clampWithMax: false, reduceMean: true)
        five.inputs = [ValueInfo(name: "x", dtype: .float32, dims: nil)]
        let model = try Model(graph: five)
        #expect(model.report.gemFused == 1)
        expectGPUInferError("5-D", mentions: ["rank 4"], { if case .shapeMismatch = $0 { true } else { false } }) {
            _ = try ReferenceExecutor().run(model, inputs: ["x": Tensor(zeros: [1, 2, 3, 4, 5])])
        }
        expectGPUInferError("eps", mentions: ["eps"], { if case .invalidModel = $0 { true } else { false } }) {
            _ = try Self.gemModel(eps: .infinity, p: 3, q: 1.0 / 3)
        }
    }
}
