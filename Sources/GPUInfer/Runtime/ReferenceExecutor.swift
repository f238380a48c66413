// The pure-Swift reference backend: runs every node's `reference` in topological order.

/// Runs models on the host with the reference implementations.
public struct ReferenceExecutor: Sendable {
    public init() {}

    /// Runs `model` and returns its graph outputs.
    public func run(_ model: Model, inputs: [String: Tensor]) throws -> [String: Tensor] {
        try runAll(model, inputs: inputs, keepAll: false)
    }

    /// Runs `model`; with `keepAll` every intermediate value is returned too. A graph with
    /// data-dependent shapes runs segment by segment as on the device (`Specialization`), each
    /// segment's shapes and plan-time values taken from the tensors just computed.
    func runAll(_ model: Model, inputs: [String: Tensor], keepAll: Bool) throws -> [String: Tensor] {
        var spec = try model.specialize(inputs)
        var values = spec.constants
        for (k, v) in inputs where values[k] == nil { values[k] = v }
        let outputNames = Set(model.graph.outputs.map(\.name))
        while true {
            // Values the rest of the graph reads: everything else is dropped after its last use.
            var laterUse = outputNames.union(spec.readBack)
            for i in spec.deferred { laterUse.formUnion(model.graph.nodes[i].inputs) }
            laterUse = Set(laterUse.map(spec.resolve))
            var lastUse: [String: Int] = [:]
            if !keepAll {
                for (pos, i) in spec.liveNodes.enumerated() { for name in model.graph.nodes[i].inputs { lastUse[spec.resolve(name)] = pos } }
            }
            let dataDependent = Set(spec.dynamicValues)
            let dynamic = dataDependent.union(spec.rowBound.keys)
            var shapes: [String: [Int]] = [:]  // real shapes of the data-dependent values
            for (pos, i) in spec.liveNodes.enumerated() {
                let node = model.graph.nodes[i]
                let ins = node.inputs.map { $0.isEmpty ? nil : values[spec.resolve($0)] }
                // Every output's size (its inferred type, or the bound of a data-dependent one) is
                // checked against the memory there is before the reference allocates it, as the
                // device path checks each buffer: a typed out-of-memory error, never an abort.
                for name in node.outputs where !name.isEmpty {
                    if let t = spec.types[name] { try HostMemory.check(t, node: node.label, available: HostMemory.available()) }
                }
                let outs: [Tensor]
                do { outs = try model.operators[i].reference(ins) } catch let e as GPUInferError {
                    if case .shapeMismatch = e { throw e }
                    throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "\(e)")
                }
                for (name, t) in zip(node.outputs, outs) where !name.isEmpty {
                    // Data-dependent shapes stay within their bounds; every other shape is exact.
                    if let expected = spec.types[name], dynamic.contains(name) ? !shapeWithinBound(t.shape, expected.shape) : expected.shape != t.shape {
                        throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "reference produced \(t.shape), shape inference said \(expected.shape)")
                    }
                    values[name] = t
                    if dataDependent.contains(name) { shapes[name] = t.shape }
                }
                if !keepAll {
                    for name in node.inputs.map(spec.resolve) where lastUse[name] == pos && !laterUse.contains(name) && spec.constants[name] == nil {
                        values[name] = nil
                    }
                }
            }
            guard spec.continues else { break }
            var readBack: [String: Tensor] = [:]
            for name in spec.readBack { readBack[name] = values[name] }
            let done = spec
            spec = try model.continueSpecialization(done, shapes: shapes, values: readBack)
            for (k, v) in spec.constants where values[k] == nil { values[k] = v }
        }
        // If outputs are the taken branch's values.
        for name in spec.renames.keys { values[name] = values[spec.resolve(name)] }
        if keepAll { return values }
        var result: [String: Tensor] = [:]
        for o in model.graph.outputs {
            guard let v = values[spec.resolve(o.name)] ?? spec.constants[o.name] else { throw GPUInferError.invalidModel(location: "output '\(o.name)'", reason: "was not computed") }
            result[o.name] = v
        }
        return result
    }
}
