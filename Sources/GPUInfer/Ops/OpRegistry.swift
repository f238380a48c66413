// The operator registry: one entry per operator type. Adding an op = its Swift file in Ops/,
// its Kernels/<name>.cl, its test, and one line in its family's registry list.

enum OpRegistry {
    static let types: [any Operator.Type] = [Identity.self, IfOp.self] + elementwiseOps + convOps + layoutOps + reduceOps + detectionOps + visionOps + fusedOps

    /// Operators keyed by `domain::opType` ("" domain for standard ONNX ops).
    static let byKey: [String: any Operator.Type] = {
        var d: [String: any Operator.Type] = [:]
        for t in types {
            for name in t.opTypes { d[t.domain + "::" + name] = t }
        }
        return d
    }()

    /// Standard ONNX operators by op type.
    static let byName: [String: any Operator.Type] = byKey.filter { $0.key.hasPrefix("::") }
        .reduce(into: [:]) { $0[String($1.key.dropFirst(2))] = $1.value }

    /// `domain::name` of model-local functions that run as one fused operator instead of being inlined.
    static let fusedFunctionNames: [String] = byKey.keys.filter { !$0.hasPrefix("::") }.sorted()

    /// Whether the default domain has an implementation for `opType`.
    static func supports(_ opType: String) -> Bool { byName[opType] != nil }

    /// Builds the operator for `node`, or throws `unsupportedOp` naming the op, node and opset.
    static func make(_ node: Node, opset: Int) throws -> any Operator {
        guard let type = byKey[node.domain + "::" + node.opType] else {
            let reason = node.domain.isEmpty ? "operator not implemented"
                : "no implementation for domain '\(node.domain)' (and no model-local function of that name)"
            throw GPUInferError.unsupportedOp(op: node.opType, domain: node.domain, node: node.label, opset: opset, reason: reason)
        }
        return try type.init(node: node, opset: opset)
    }
}
