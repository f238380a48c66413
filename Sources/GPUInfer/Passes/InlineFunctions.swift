// Inlines model-local ONNX functions: each call node is replaced by the function body with
// inputs, outputs and attribute references renamed, unless a fused kernel for that function
// is registered (OpRegistry.fusedOps) and fusion is enabled, in which case the call node stays.

extension Graph {
    /// Replaces calls of model-local functions by their bodies (recursively, depth-limited).
    /// `keep` lists `domain::name` of functions to leave as single nodes (fused kernels).
    mutating func inlineFunctions(keep: Set<String> = Set(OpRegistry.fusedFunctionNames)) throws {
        var depth = 0
        while nodes.contains(where: { functions[$0.domain + "::" + $0.opType] != nil && !keep.contains($0.domain + "::" + $0.opType) }) {
            depth += 1
            guard depth <= 16 else {
                throw GPUInferError.invalidModel(location: "functions", reason: "function calls nest deeper than 16 levels (recursive function?)")
            }
            var result: [Node] = []
            for (callIndex, node) in nodes.enumerated() {
                let key = node.domain + "::" + node.opType
                guard let f = functions[key], !keep.contains(key) else {
                    result.append(node)
                    continue
                }
                result += try expand(f, call: node, callIndex: callIndex)
            }
            nodes = result
        }
        try sortTopologically()
    }

    private func expand(_ f: GraphFunction, call: Node, callIndex: Int) throws -> [Node] {
        let prefix = "\(call.label)/\(callIndex)/"
        var rename: [String: String] = ["": ""]
        for (i, name) in f.inputs.enumerated() { rename[name] = i < call.inputs.count ? call.inputs[i] : "" }
        for (i, name) in f.outputs.enumerated() where i < call.outputs.count { rename[name] = call.outputs[i] }
        var attrs = f.attributeDefaults
        for (k, v) in call.attributes { attrs[k] = v }
        return try f.nodes.map { n in
            var m = n
            m.name = prefix + n.name
            m.inputs = n.inputs.map { rename[$0] ?? prefix + $0 }
            m.outputs = n.outputs.map { rename[$0] ?? prefix + $0 }
            var a: [String: Attribute] = [:]
            for (k, v) in n.attributes {
                if case let .reference(ref) = v {
                    if let value = attrs[ref] { a[k] = value }  // unset reference: attribute omitted
                } else {
                    a[k] = v
                }
            }
            m.attributes = a
            if m.domain == f.domain && functions[m.domain + "::" + m.opType] == nil && !m.domain.isEmpty {
                throw GPUInferError.unsupportedOp(op: m.opType, domain: m.domain, node: m.name, opset: opset, reason: "unknown operator inside function \(f.name)")
            }
            return m
        }
    }
}
