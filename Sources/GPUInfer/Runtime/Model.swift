// A loaded, optimized model: the graph after function inlining, constant folding, BN folding and
// dead-node removal, with an operator instance per node (so unsupported ops fail at load).
import Foundation

/// Statistics of the load-time passes.
public struct OptimizationReport: Sendable {
    public var constantNodesFolded = 0
    public var batchNormsFolded = 0
    public var deadNodesRemoved = 0
}

/// A loaded ONNX model, ready to be run on any backend.
public final class Model: @unchecked Sendable {
    public let graph: Graph
    let operators: [any Operator]
    public let report: OptimizationReport
    /// File the model was loaded from, if any.
    public let path: String?

    /// Loads and optimizes an ONNX file.
    public convenience init(path: String) throws {
        try self.init(graph: ONNXLoader.load(path: path), path: path)
    }

    /// Optimizes a graph and checks that every operator is supported.
    public init(graph input: Graph, path: String? = nil) throws {
        var g = input
        var report = OptimizationReport()
        try g.inlineFunctions()
        // Validate every op before doing any work, so an unsupported op is reported at load.
        for n in g.nodes { _ = try OpRegistry.make(n, opset: g.opset) }
        report.constantNodesFolded = try g.foldConstants()
        report.batchNormsFolded = g.foldBatchNormIntoConv()
        report.deadNodesRemoved = g.removeDeadNodes()
        self.graph = g
        self.operators = try g.nodes.map { try OpRegistry.make($0, opset: g.opset) }
        self.report = report
        self.path = path
    }

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
        "[" + (vi.dims ?? []).enumerated().map { i, d in d.map(String.init) ?? (vi.dimNames.optional2(i) ?? "?") }.joined(separator: ", ") + "]"
    }

    /// Resolves types and plan-time constants for concrete inputs: the node list that must run.
    func specialize(_ inputs: [String: Tensor]) throws -> Specialization {
        let inTypes = try inputTypes(inputs)
        var types = inTypes
        var constants = graph.initializers
        for (k, v) in graph.initializers { types[k] = TensorType(v.dtype, v.shape) }
        // Integer inputs carry shapes and indices: their values are part of the plan.
        for (name, t) in inputs where !t.dtype.isFloat { constants[name] = t.cast(to: inTypes[name]?.dtype ?? t.dtype) }
        var live: [Int] = []
        for (i, node) in graph.nodes.enumerated() {
            let op = operators[i]
            let inTs = node.inputs.map { $0.isEmpty ? nil : types[$0] }
            let inCs = node.inputs.map { $0.isEmpty ? nil : constants[$0] }
            for (j, name) in node.inputs.enumerated() where !name.isEmpty && types[name] == nil {
                throw GPUInferError.invalidModel(location: "node '\(node.label)' (\(node.opType))", reason: "input \(j) '\(name)' has no known type")
            }
            let allConstant = node.inputs.allSatisfy { $0.isEmpty || constants[$0] != nil }
            if allConstant || op.foldFromTypes(inTs) != nil {
                let outs = try op.foldFromTypes(inTs) ?? op.reference(inCs)
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
            let outTs: [TensorType]
            do { outTs = try op.inferTypes(inTs, constants: inCs) } catch let e as GPUInferError {
                if case .shapeMismatch = e { throw e }
                if case .unsupportedOp = e { throw e }
                throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "\(e)")
            }
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

/// Types and constants for one set of input shapes.
struct Specialization {
    var types: [String: TensorType]
    var constants: [String: Tensor]
    var liveNodes: [Int]
}

extension Array {
    func optional2<T>(_ i: Int) -> T? where Element == T? { i < count ? self[i] : nil }
}
