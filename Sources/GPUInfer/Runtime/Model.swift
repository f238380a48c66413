// A loaded, optimized model: the graph after function inlining, constant folding, BN folding and
// dead-node removal, with an operator instance per node (so unsupported ops fail at load).
import Foundation

/// Statistics of the load-time passes.
public struct OptimizationReport: Sendable {
    public var constantNodesFolded = 0
    public var batchNormsFolded = 0
    public var activationsFused = 0
    /// Residual Adds (with a following activation) fused into the Conv before them.
    public var residualsFused = 0
    public var deadNodesRemoved = 0
}

/// Choices made when a model is loaded.
public struct LoadOptions: Sendable {
    /// Run model-local functions that have a fused kernel (e.g. NetVLAD) as one fused node;
    /// false inlines every function body (the plain-ops path, for checking the fused kernels).
    public var useFusedKernels = true
    /// Fold BatchNormalization into a preceding Conv.
    public var foldBatchNorm = true
    /// Fold the activation after a Conv (FusedActivation.of, and the SiLU/HardSwish gated patterns) into it.
    public var fuseActivations = true
    /// Fold a residual Add of a Conv's output (and an activation after it) into the Conv.
    public var fuseResiduals = true
    public init(useFusedKernels: Bool = true, foldBatchNorm: Bool = true, fuseActivations: Bool = true, fuseResiduals: Bool = true) {
        self.fuseResiduals = fuseResiduals
        self.useFusedKernels = useFusedKernels
        self.foldBatchNorm = foldBatchNorm
        self.fuseActivations = fuseActivations
    }
}

/// A loaded ONNX model, ready to be run on any backend.
public final class Model: @unchecked Sendable {
    public let graph: Graph
    let operators: [any Operator]
    public let report: OptimizationReport
    /// File the model was loaded from, if any.
    public let path: String?

    /// Loads and optimizes an ONNX file.
    public convenience init(path: String, options: LoadOptions = LoadOptions()) throws {
        try self.init(graph: ONNXLoader.load(path: path), path: path, options: options)
    }

    /// Optimizes a graph and checks that every operator is supported.
    public init(graph input: Graph, path: String? = nil, options: LoadOptions = LoadOptions()) throws {
        var g = input
        var report = OptimizationReport()
        try g.inlineFunctions(keep: options.useFusedKernels ? Set(OpRegistry.fusedFunctionNames) : [])
        // Validate every op before doing any work, so an unsupported op is reported at load.
        let opset = { (n: Node) in n.domain.isEmpty ? g.opset : g.opsets[n.domain] ?? 1 }
        // Each operator is made once: nodes the passes leave unchanged keep the instance made here.
        var made: [String: (node: Node, op: any Operator)] = [:]
        for n in g.nodes {
            let op = try OpRegistry.make(n, opset: opset(n))
            if let key = n.outputs.first { made[key] = (n, op) }
        }
        report.constantNodesFolded = try g.foldConstants()
        if options.foldBatchNorm { report.batchNormsFolded = g.foldBatchNormIntoConv() }
        if options.fuseActivations { report.activationsFused = g.fuseConvActivation() }
        // fuseResiduals false (ExecutionOptions.fuseResiduals, $GPUINFER_FUSE_RESIDUAL=0) keeps residual Adds as nodes.
        if options.fuseResiduals { report.residualsFused = g.fuseConvResidual() }
        report.deadNodesRemoved = g.removeDeadNodes()
        self.graph = g
        let operators = try g.nodes.map { n in
            if let key = n.outputs.first, let m = made[key], m.node == n { return m.op }
            return try OpRegistry.make(n, opset: opset(n))
        }
        self.operators = operators
        self.parameterInputs = Self.parameterInputs(g, operators)
        self.report = report
        self.path = path
        try checkStaticInputs()
    }

    /// When every input has a fully static declared shape and only float inputs, plans the types
    /// once at load so that shape errors and refusals (unsupported dtype, rank) surface at load
    /// time rather than at the first run.
    private func checkStaticInputs() throws {
        var feeds: [String: Tensor] = [:]
        for vi in inputs {
            guard let dtype = vi.dtype, dtype.isFloat, let dims = vi.dims, dims.allSatisfy({ $0 != nil }),
                  !parameterInputs.contains(vi.name) else { return }
            let shape = dims.compactMap { $0 }
            guard let n = Shape.checkedCount(shape), n <= 1 << 24 else { return }
            feeds[vi.name] = Tensor(zeros: shape, dtype: dtype)
        }
        _ = try specialize(feeds)
    }

    /// Graph inputs consumed at an operator's `constantInputs` position (values needed to plan).
    /// Computed once at load: immutable, so concurrent first runs read it without a lock.
    let parameterInputs: Set<String>

    private static func parameterInputs(_ graph: Graph, _ operators: [any Operator]) -> Set<String> {
        let runtime = Set(graph.runtimeInputs.map(\.name))
        var names = Set<String>()
        for (node, op) in zip(graph.nodes, operators) {
            for i in type(of: op).constantInputs where i < node.inputs.count && runtime.contains(node.inputs[i]) {
                names.insert(node.inputs[i])
            }
        }
        return names
    }

    /// Whether input `name`'s value (not just its shape) is fixed into a plan.
    func isBaked(_ name: String, _ t: Tensor) -> Bool { !t.dtype.isFloat || parameterInputs.contains(name) }

    /// Inputs a caller must supply.
    public var inputs: [ValueInfo] { graph.runtimeInputs }
    public var outputs: [ValueInfo] { graph.outputs }
    public var metadata: [String: String] { graph.metadata }

    /// The concrete types of `inputs`, checked against the declared input types.
    func inputTypes(_ inputs: [String: Tensor]) throws -> [String: TensorType] {
        var types: [String: TensorType] = [:]
        for name in inputs.keys where !self.inputs.contains(where: { $0.name == name }) {
            throw GPUInferError.invalidInput("the model has no input '\(name)' (inputs: \(self.inputs.map(\.name).joined(separator: ", ")))")
        }
        for vi in self.inputs {
            guard let t = inputs[vi.name] else {
                throw GPUInferError.invalidInput("missing input '\(vi.name)' (model inputs: \(self.inputs.map(\.name).joined(separator: ", ")))")
            }
            if let dt = vi.dtype, dt.isFloat != t.dtype.isFloat {
                throw GPUInferError.invalidInput("input '\(vi.name)' is \(t.dtype), the model expects \(dt)")
            }
            if let dims = vi.dims {
                guard dims.count == t.rank else {
                    throw GPUInferError.invalidInput("input '\(vi.name)' has shape \(t.shape), the model expects rank \(dims.count) (\(describe(vi)))")
                }
                for (d, s) in zip(dims, t.shape) where d != nil && d != s {
                    throw GPUInferError.invalidInput("input '\(vi.name)' has shape \(t.shape), the model expects \(describe(vi))")
                }
            }
            types[vi.name] = TensorType(vi.dtype ?? t.dtype, t.shape)
        }
        return types
    }

    private func describe(_ vi: ValueInfo) -> String {
        "[" + (vi.dims ?? []).enumerated().map { i, d in d.map(String.init) ?? (vi.dimNames.optional(i) ?? "?") }.joined(separator: ", ") + "]"
    }

    /// Resolves types and plan-time constants for concrete inputs: the node list that must run.
    /// `Operator.flops` of every live node of a specialization, by node index.
    func nodeFlops(_ spec: Specialization) -> [Int: Double] {
        func type(_ name: String) -> TensorType? {
            name.isEmpty ? nil : spec.types[name] ?? spec.constants[name].map { TensorType($0.dtype, $0.shape) }
        }
        var flops: [Int: Double] = [:]
        for i in spec.liveNodes {
            let node = graph.nodes[i]
            flops[i] = operators[i].flops(node.inputs.map(type), outputs: node.outputs.compactMap(type))
        }
        return flops
    }

    func specialize(_ inputs: [String: Tensor]) throws -> Specialization {
        let inTypes = try inputTypes(inputs)
        var types = inTypes
        var constants = graph.initializers
        for (k, v) in graph.initializers { types[k] = TensorType(v.dtype, v.shape) }
        // Integer inputs (shapes, indices) and inputs read as parameters (Resize scales, Clip
        // bounds…) are plan-time constants: their values are part of the plan's key.
        for (name, t) in inputs where isBaked(name, t) { constants[name] = t.cast(to: inTypes[name]?.dtype ?? t.dtype) }
        var live: [Int] = []
        for (i, node) in graph.nodes.enumerated() {
            let op = operators[i]
            let inTs = node.inputs.map { $0.isEmpty ? nil : types[$0] }
            let inCs = node.inputs.map { $0.isEmpty ? nil : constants[$0] }
            for (j, name) in node.inputs.enumerated() where !name.isEmpty && types[name] == nil {
                throw GPUInferError.invalidModel(location: "node '\(node.label)' (\(node.opType))", reason: "input \(j) '\(name)' has no known type")
            }
            let allConstant = node.inputs.allSatisfy { $0.isEmpty || constants[$0] != nil }
            let foldedFromTypes = op.foldFromTypes(inTs)
            if allConstant || foldedFromTypes != nil {
                // Type inference first: it validates dtypes and shapes before the reference runs.
                let expected = try inferTypes(op, node, inTs, inCs)
                let outs = try foldedFromTypes ?? op.reference(inCs)
                let bounded = type(of: op).outputRowsAreUpperBound
                for (name, (t, e)) in zip(node.outputs, zip(outs, expected)) where !name.isEmpty && t.shape != e.shape
                    && !(bounded && rowsWithinBound(t.shape, e.shape)) {
                    throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "folded value '\(name)' has shape \(t.shape), shape inference said \(e.shape)")
                }
                for (name, t) in zip(node.outputs, outs) where !name.isEmpty {
                    constants[name] = t
                    types[name] = TensorType(t.dtype, t.shape)
                }
                continue
            }
            for idx in type(of: op).constantInputs where idx < node.inputs.count && !node.inputs[idx].isEmpty && constants[node.inputs[idx]] == nil {
                throw GPUInferError.unsupportedOp(op: node.opType, domain: node.domain, node: node.label, opset: graph.opset,
                                                  reason: "input \(idx) ('\(node.inputs[idx])') must be a constant or computable from shapes")
            }
            let outTs = try inferTypes(op, node, inTs, inCs)
            for (name, t) in zip(node.outputs, outTs) where !name.isEmpty {
                guard Shape.checkedCount(t.shape) != nil else {
                    throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "invalid output shape \(t.shape)")
                }
                types[name] = t
            }
            live.append(i)
        }
        return Specialization(types: types, constants: constants, liveNodes: live)
    }
}

/// Whether `actual` equals `bound` except for a dimension 0 that is at most the bound's.
func rowsWithinBound(_ actual: [Int], _ bound: [Int]) -> Bool {
    actual.count == bound.count && !actual.isEmpty && actual[0] <= bound[0] && actual.dropFirst() == bound.dropFirst()
}

/// Runs an operator's type inference, attributing any error to its node.
private func inferTypes(_ op: any Operator, _ node: Node, _ inTs: [TensorType?], _ inCs: [Tensor?]) throws -> [TensorType] {
    do { return try op.inferTypes(inTs, constants: inCs) } catch let e as GPUInferError {
        switch e {
        case .shapeMismatch, .unsupportedOp, .unsupportedDType: throw e
        default: throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "\(e)")
        }
    }
}

/// Types and constants for one set of input shapes.
struct Specialization {
    var types: [String: TensorType]
    var constants: [String: Tensor]
    var liveNodes: [Int]
}
