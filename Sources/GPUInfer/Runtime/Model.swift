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
    /// Generalized-mean pooling patterns replaced by one `ai.gpuinfer::GeM` node.
    public var gemFused = 0
    /// Convolutions reading or writing the channel-blocked layout (Passes/BlockedLayout.swift; set
    /// on the model a CPU-style session runs).
    public var blockedConvs = 0
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
    public internal(set) var report: OptimizationReport
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
        if options.useFusedKernels { report.gemFused = g.fuseGeM() }
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
        hasFixedSpatialSize = g.runtimeInputs.allSatisfy { vi in vi.dims.map { $0.dropFirst(2).allSatisfy { $0 != nil } } ?? false }
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

    /// Whether every runtime input's dimensions after the first two (an image's height and width)
    /// are fixed in the model (a dynamic batch or channel count is allowed). Computed once at load.
    public let hasFixedSpatialSize: Bool
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

    /// The first segment for concrete inputs: types and plan-time constants of every value that
    /// can be known before anything runs, and the nodes to run. Nodes downstream of a
    /// data-dependent shape (`Operator.hasDataDependentShape`) or needing a device-computed value
    /// at plan time are left for the segments `continueSpecialization` makes once those are read.
    func specialize(_ inputs: [String: Tensor]) throws -> Specialization {
        let inTypes = try inputTypes(inputs)
        var spec = Specialization(types: inTypes, constants: graph.initializers, liveNodes: [])
        for (k, v) in graph.initializers { spec.types[k] = TensorType(v.dtype, v.shape) }
        // Integer inputs (shapes, indices) and inputs read as parameters (Resize scales, Clip
        // bounds…) are plan-time constants: their values are part of the plan's key.
        for (name, t) in inputs where isBaked(name, t) { spec.constants[name] = t.cast(to: inTypes[name]?.dtype ?? t.dtype) }
        spec.deferred = Array(graph.nodes.indices)
        try planSegment(&spec)
        return spec
    }

    /// The segment after `previous`, once its data-dependent shapes (`shapes`, by value name) and
    /// read-back values (`values`) are known. The values computed so far become `earlier`.
    func continueSpecialization(_ previous: Specialization, shapes: [String: [Int]], values: [String: Tensor]) throws -> Specialization {
        var spec = previous
        spec.depth += 1
        for name in previous.dynamicValues {
            guard let shape = shapes[name], let bound = previous.types[name] else {
                throw GPUInferError.invalidModel(location: "value '\(name)'", reason: "its data-dependent shape was not read back")
            }
            guard shape.count == bound.shape.count, zip(shape, bound.shape).allSatisfy({ $0 >= 0 && $0 <= $1 }) else {
                throw GPUInferError.invalidModel(location: "value '\(name)'", reason: "the device reported shape \(shape), outside its bound \(bound.shape)")
            }
            spec.types[name] = TensorType(bound.dtype, shape)
        }
        for (name, source) in previous.rowBound {
            guard let rows = shapes[source]?.first, let bound = spec.types[name], !bound.shape.isEmpty else { continue }
            spec.types[name] = TensorType(bound.dtype, [rows] + bound.shape.dropFirst())
        }
        spec.rowBound = [:]
        for name in previous.readBack {
            guard let t = values[name] else { throw GPUInferError.invalidModel(location: "value '\(name)'", reason: "was not read back") }
            spec.constants[name] = t
        }
        for i in previous.liveNodes { for name in graph.nodes[i].outputs where !name.isEmpty { spec.earlier.insert(name) } }
        spec.liveNodes = []
        spec.unnamedOutputTypes = [:]
        spec.dynamicValues = []
        spec.readBack = []
        try planSegment(&spec)
        return spec
    }

    /// Elements a device value may have to be read back as a plan-time value (a shape, a k, a
    /// count): anything larger is a tensor, not a size, and stays refused.
    static let maxReadBackElements = 4096

    /// Moves the deferred nodes of `spec` that can be planned now into `liveNodes` (or folds
    /// them), leaving the rest deferred.
    private func planSegment(_ spec: inout Specialization) throws {
        let todo = spec.deferred
        spec.deferred = []
        var pending = Set<String>()  // values this segment cannot know
        var readBack = Set<String>()
        func defer_(_ i: Int) {
            spec.deferred.append(i)
            for name in graph.nodes[i].outputs where !name.isEmpty { pending.insert(name) }
        }
        for i in todo {
            let node = graph.nodes[i]
            let op = operators[i]
            // A value computed on the device (in this segment or an earlier one) that is needed
            // when planning: read back after this segment, when small.
            func producedOnDevice(_ name: String) -> Bool {
                let name = spec.resolve(name)
                return spec.earlier.contains(name) || spec.liveNodes.contains { graph.nodes[$0].outputs.contains(name) }
            }
            // A boolean condition's value, or nil while it must wait: computed later (pending),
            // or read back after this segment (a scalar the device computes).
            func condition(_ cond: String, _ described: String) throws -> Tensor? {
                if pending.contains(cond) { return nil }
                if let c = spec.constants[cond] { return c }
                guard producedOnDevice(cond), (spec.types[cond]?.count ?? 0) == 1 else {
                    throw GPUInferError.unsupportedOp(op: node.opType, domain: node.domain, node: node.label, opset: graph.opset,
                                                      reason: "\(described) is neither known nor a device-computed boolean")
                }
                readBack.insert(spec.resolve(cond))
                return nil
            }
            // Nodes of If branches: run, wait for the condition, or never run (the other branch).
            var skip = false, waits = false
            for g in node.guards {
                guard let c = try condition(g.cond, "the If condition '\(g.cond)' of its branch") else { waits = true; break }
                if (c.count == 1 && c.double(at: 0) != 0) != g.value { skip = true; break }
            }
            if waits { defer_(i); continue }
            if skip { continue }
            if let branch = op as? IfOp {
                let cond = node.inputs[0]
                guard let c = try condition(cond, "the condition '\(cond)'") else { defer_(i); continue }
                let taken = try branch.taken(c)
                // A taken value that is pending stays pending under its new name; one whose rows
                // only are pending (`rowBound`) keeps that bound.
                if taken.contains(where: { pending.contains(node.inputs[$0]) && spec.rowBound[spec.resolve(node.inputs[$0])] == nil }) { defer_(i); continue }
                for (name, j) in zip(node.outputs, taken) where !name.isEmpty && pending.contains(node.inputs[j]) {
                    spec.rowBound[name] = spec.rowBound[spec.resolve(node.inputs[j])]
                    pending.insert(name)
                }
                // The outputs are the taken branch's values: constants, or new names for them.
                for (name, j) in zip(node.outputs, taken) where !name.isEmpty {
                    let source = spec.resolve(node.inputs[j])
                    guard let t = spec.types[source] else {
                        throw GPUInferError.invalidModel(location: "If '\(node.label)'", reason: "branch output '\(source)' has no known type")
                    }
                    spec.types[name] = t
                    if let value = spec.constants[source] { spec.constants[name] = value } else { spec.renames[name] = source }
                }
                continue
            }
            if node.inputs.contains(where: { pending.contains($0) }) {
                // Inputs whose rows only are pending (`rowBound`): a row-local node runs on their
                // bounds without a cut, its outputs bounded by the same count.
                if let source = try boundedRowsSource(node, op, pending: pending, spec: spec) {
                    let outTs = try inferTypes(op, node, node.inputs.map { $0.isEmpty ? nil : spec.types[$0] },
                                               node.inputs.map { $0.isEmpty ? nil : spec.constants[$0] })
                    for (name, t) in zip(node.outputs, outTs) where !name.isEmpty {
                        spec.types[name] = t
                        spec.rowBound[name] = source
                        pending.insert(name)
                    }
                    spec.addLive(i, node, outputs: outTs)
                    continue
                }
                defer_(i)
                continue
            }
            let inTs = node.inputs.map { $0.isEmpty ? nil : spec.types[$0] }
            let inCs = node.inputs.map { $0.isEmpty ? nil : spec.constants[$0] }
            for (j, name) in node.inputs.enumerated() where !name.isEmpty && spec.types[name] == nil {
                throw GPUInferError.invalidModel(location: "node '\(node.label)' (\(node.opType))", reason: "input \(j) '\(name)' has no known type")
            }
            let dynamic = type(of: op).hasDataDependentShape
            let allConstant = node.inputs.allSatisfy { $0.isEmpty || spec.constants[$0] != nil }
            let foldedFromTypes = op.foldFromTypes(inTs)
            if allConstant || foldedFromTypes != nil {
                // Type inference first: it validates dtypes and shapes before the reference runs.
                let expected = try inferTypes(op, node, inTs, inCs)
                // A folded value is computed on the host: the reference backend's memory budget holds.
                if foldedFromTypes == nil {
                    for t in expected { try HostMemory.check(t, node: node.label, available: HostMemory.available()) }
                }
                let outs = try foldedFromTypes ?? op.reference(inCs)
                for (name, (t, e)) in zip(node.outputs, zip(outs, expected)) where !name.isEmpty && t.shape != e.shape
                    && !(dynamic && shapeWithinBound(t.shape, e.shape)) {
                    throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "folded value '\(name)' has shape \(t.shape), shape inference said \(e.shape)")
                }
                for (name, t) in zip(node.outputs, outs) where !name.isEmpty {
                    spec.constants[name] = t
                    spec.types[name] = TensorType(t.dtype, t.shape)
                }
                continue
            }
            // Inputs needed at plan time that only the device computes (a k from a count, a shape
            // from a reduction): read back after this segment, the node planned in the next.
            for idx in type(of: op).constantInputs where idx < node.inputs.count && !node.inputs[idx].isEmpty && spec.constants[node.inputs[idx]] == nil {
                let name = node.inputs[idx]
                guard producedOnDevice(name), let t = spec.types[name], t.count <= Self.maxReadBackElements else {
                    let why = spec.types[name].map { $0.count > Self.maxReadBackElements ? " (\($0.count) elements computed on the device: too many to read back as a plan-time value)" : "" } ?? ""
                    throw GPUInferError.unsupportedOp(op: node.opType, domain: node.domain, node: node.label, opset: graph.opset,
                                                      reason: "input \(idx) ('\(name)') must be a constant or computable from shapes\(why)")
                }
                readBack.insert(spec.resolve(name))
                waits = true
            }
            if waits { defer_(i); continue }
            let outTs = try inferTypes(op, node, inTs, inCs)
            for (name, t) in zip(node.outputs, outTs) where !name.isEmpty {
                guard Shape.checkedCount(t.shape) != nil else {
                    throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "invalid output shape \(t.shape)")
                }
                spec.types[name] = t
            }
            spec.addLive(i, node, outputs: outTs)
            if dynamic {
                // The outputs' types are upper bounds; their consumers wait for the real shapes
                // (row-local ones only for the row count, where that is all that varies).
                for (o, name) in node.outputs.enumerated() where !name.isEmpty {
                    spec.dynamicValues.append(name)
                    pending.insert(name)
                    if op.onlyRowsDependOnData(output: o) { spec.rowBound[name] = name }
                }
            }
        }
        spec.readBack = readBack.sorted()
        if !spec.deferred.isEmpty && spec.liveNodes.isEmpty && spec.readBack.isEmpty {
            let node = graph.nodes[spec.deferred[0]]
            throw GPUInferError.unsupportedOp(op: node.opType, domain: node.domain, node: node.label, opset: graph.opset,
                                              reason: "its inputs can never be planned (segment \(spec.depth) made no progress)")
        }
    }
}

extension Model {
    /// The data-dependent value whose row count bounds every pending input of `node`, when the
    /// node can run on those inputs' upper bounds and give outputs whose first rows are right:
    /// the op is row-local (`Operator.isRowLocal`), its pending inputs are all row-bounded by one
    /// value and none is read at plan time, and every output's dimension 0 is the inputs' (checked
    /// by inferring the types again with a different row count: the outputs must follow it).
    fileprivate func boundedRowsSource(_ node: Node, _ op: any Operator, pending: Set<String>, spec: Specialization) throws -> String? {
        guard type(of: op).isRowLocal else { return nil }
        let constantIdx = Set(type(of: op).constantInputs)
        var source: String?
        var bounded: [Int] = []
        for (j, name) in node.inputs.enumerated() where !name.isEmpty && pending.contains(name) {
            guard !constantIdx.contains(j), let s = spec.rowBound[spec.resolve(name)], source == nil || source == s,
                  let t = spec.types[spec.resolve(name)], !t.shape.isEmpty else { return nil }
            source = s
            bounded.append(j)
        }
        guard let source, let rows = spec.types[spec.resolve(node.inputs[bounded[0]])]?.shape[0],
              bounded.allSatisfy({ spec.types[spec.resolve(node.inputs[$0])]?.shape[0] == rows }) else { return nil }
        let inCs = node.inputs.map { $0.isEmpty ? nil : spec.constants[$0] }
        func outputs(rows r: Int) -> [TensorType]? {
            let inTs = node.inputs.enumerated().map { j, name -> TensorType? in
                guard !name.isEmpty, var t = spec.types[spec.resolve(name)] else { return nil }
                if bounded.contains(j) { t = TensorType(t.dtype, [r] + t.shape.dropFirst()) }
                return t
            }
            return try? op.inferTypes(inTs, constants: inCs)
        }
        let probe = rows + 7
        guard let atBound = outputs(rows: rows), let atProbe = outputs(rows: probe), atBound.count == atProbe.count,
              zip(atBound, atProbe).allSatisfy({ $0.shape.first == rows && $1.shape.first == probe && $0.shape.dropFirst() == $1.shape.dropFirst() })
        else { return nil }
        return source
    }
}

/// Whether `actual` has `bound`'s rank and no dimension above the bound's.
func shapeWithinBound(_ actual: [Int], _ bound: [Int]) -> Bool {
    actual.count == bound.count && zip(actual, bound).allSatisfy { $0 <= $1 }
}

/// Runs an operator's type inference, attributing any error to its node.
/// Every output shape is checked: no negative dimension, at most `Shape.maxElements` elements
/// (so that byte sizes, strides and index arithmetic downstream cannot overflow).
private func inferTypes(_ op: any Operator, _ node: Node, _ inTs: [TensorType?], _ inCs: [Tensor?]) throws -> [TensorType] {
    let types: [TensorType]
    do { types = try op.inferTypes(inTs, constants: inCs) } catch let e as GPUInferError {
        switch e {
        case .shapeMismatch, .unsupportedOp, .unsupportedDType, .outOfMemory: throw e
        default: throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "\(e)")
        }
    }
    for (i, t) in types.enumerated() {
        guard let n = Shape.checkedCount(t.shape), n <= Shape.maxElements else {
            throw GPUInferError.shapeMismatch(node: node.label, op: node.opType,
                                              reason: "output \(i) shape \(t.shape) is negative or holds more than 2^40 elements")
        }
    }
    return types
}

/// Types and constants for one set of input shapes, and the nodes of one plan segment. A graph
/// whose shapes depend on computed values runs as a chain of segments: each one ends where a
/// shape (`dynamicValues`) or a plan-time value (`readBack`) must be read from the device.
struct Specialization {
    var types: [String: TensorType]
    var constants: [String: Tensor]
    /// The nodes this segment runs, in graph order.
    var liveNodes: [Int]
    /// Nodes left for later segments, in graph order.
    var deferred: [Int] = []
    /// Outputs of this segment's data-dependent nodes: their `types` are upper bounds, the device
    /// writes the real shapes, which the next segment starts from (or, after the last segment,
    /// the outputs are read with).
    var dynamicValues: [String] = []
    /// Values this segment (or an earlier one) computes that later nodes need at plan time.
    var readBack: [String] = []
    /// Values computed by earlier segments.
    var earlier: Set<String> = []
    /// 0 for the first segment.
    var depth = 0
    /// Outputs of resolved `If` nodes: the taken branch's value each one is.
    var renames: [String: String] = [:]
    /// Every output type of the live nodes that leave an output unnamed ("") or omit trailing
    /// ones, by node: the device plan gives those outputs scratch buffers.
    var unnamedOutputTypes: [Int: [TensorType]] = [:]

    /// Adds node `i` to the segment, with the types of all its op's outputs.
    mutating func addLive(_ i: Int, _ node: Node, outputs: [TensorType]) {
        liveNodes.append(i)
        if outputs.count > node.outputs.count || node.outputs.contains("") { unnamedOutputTypes[i] = outputs }
    }

    /// The value `name` is (itself, or the branch value an If output stands for).
    func resolve(_ name: String) -> String {
        var n = name
        for _ in 0..<64 {
            guard let r = renames[n] else { break }
            n = r
        }
        return n
    }
    /// Whether another segment follows (sizes or values to read back, or nodes left).
    var continues: Bool { !readBack.isEmpty || !deferred.isEmpty }
    /// Values of this segment planned at a row bound: dimension 0 is the real row count of the
    /// data-dependent value named (their first rows are right, the rest garbage).
    var rowBound: [String: String] = [:]
}
