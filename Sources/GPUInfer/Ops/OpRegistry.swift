// The operator registry: one entry per operator type. Adding an op = its Swift file in Ops/,
// its Kernels/<name>.cl, its test, and one line here.

enum OpRegistry {
    static let types: [any Operator.Type] = [Identity.self] + elementwiseOps + convOps + layoutOps + reduceOps

    /// `domain::name` of model-local functions with a fused operator (kept as one node).
    static let fusedFunctionNames: [String] = []

    static let byName: [String: any Operator.Type] = {
        var d: [String: any Operator.Type] = [:]
        for t in types {
            for name in t.opTypes { d[name] = t }
        }
        return d
    }()

    /// Whether the default domain has an implementation for `opType`.
    static func supports(_ opType: String) -> Bool { byName[opType] != nil }

    /// Builds the operator for `node`, or throws `unsupportedOp` naming the op, node and opset.
    static func make(_ node: Node, opset: Int) throws -> any Operator {
        guard node.domain.isEmpty else {
            throw GPUInferError.unsupportedOp(op: node.opType, domain: node.domain, node: node.label, opset: opset,
                                              reason: "no implementation for domain '\(node.domain)'")
        }
        guard let type = byName[node.opType] else {
            throw GPUInferError.unsupportedOp(op: node.opType, domain: node.domain, node: node.label, opset: opset,
                                              reason: "operator not implemented")
        }
        return try type.init(node: node, opset: opset)
    }
}
