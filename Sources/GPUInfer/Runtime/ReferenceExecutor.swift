// The pure-Swift reference backend: runs every node's `reference` in topological order.

/// Runs models on the host with the reference implementations.
public struct ReferenceExecutor: Sendable {
    public init() {}

    /// Runs `model` and returns its graph outputs.
    public func run(_ model: Model, inputs: [String: Tensor]) throws -> [String: Tensor] {
        try runAll(model, inputs: inputs, keepAll: false)
    }

    /// Runs `model`; with `keepAll` every intermediate value is returned too.
    func runAll(_ model: Model, inputs: [String: Tensor], keepAll: Bool) throws -> [String: Tensor] {
        let spec = try model.specialize(inputs)
        var values = spec.constants
        for (k, v) in inputs where values[k] == nil { values[k] = v }
        var lastUse: [String: Int] = [:]
        if !keepAll {
            for (pos, i) in spec.liveNodes.enumerated() { for name in model.graph.nodes[i].inputs { lastUse[name] = pos } }
        }
        let outputNames = Set(model.graph.outputs.map(\.name))
        var dynamic = Set<String>()
        for (pos, i) in spec.liveNodes.enumerated() {
            let node = model.graph.nodes[i]
            let ins = node.inputs.map { $0.isEmpty ? nil : values[$0] }
            let dataDependent = type(of: model.operators[i]).outputRowsAreUpperBound || node.inputs.contains { dynamic.contains($0) }
            if dataDependent { for name in node.outputs { dynamic.insert(name) } }
            let outs: [Tensor]
            do { outs = try model.operators[i].reference(ins) } catch let e as GPUInferError {
                if case .shapeMismatch = e { throw e }
                throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "\(e)")
            }
            for (name, t) in zip(node.outputs, outs) where !name.isEmpty {
                // Data-dependent row counts (and everything computed from them) may differ from
                // the planned upper-bound shapes.
                if let expected = spec.types[name], expected.shape != t.shape, !dataDependent {
                    throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "reference produced \(t.shape), shape inference said \(expected.shape)")
                }
                values[name] = t
            }
            if !keepAll {
                for name in node.inputs where lastUse[name] == pos && !outputNames.contains(name) && spec.constants[name] == nil {
                    values[name] = nil
                }
            }
        }
        if keepAll { return values }
        var result: [String: Tensor] = [:]
        for o in model.graph.outputs {
            guard let v = values[o.name] else { throw GPUInferError.invalidModel(location: "output '\(o.name)'", reason: "was not computed") }
            result[o.name] = v
        }
        return result
    }
}
