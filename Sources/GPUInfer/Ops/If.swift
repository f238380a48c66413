// If: the ONNX loader inlines both branches into the graph, each node guarded by the condition
// (`Node.guards`), and leaves this node to pick the taken branch's outputs. The planner resolves
// it once the condition is known (a constant, a value folded from shapes, or a boolean read
// back from the device after the segment that computes it): the outputs become the taken
// branch's values — no kernel, no copy — and the other branch never runs.

/// The `If` node after branch inlining: inputs `[cond, then outputs…, else outputs…]`.
struct IfOp: Operator {
    static let opTypes = ["If"]
    static let constantInputs = [0]
    let outputCount: Int
    let label: String

    init(node: Node, opset: Int) throws {
        label = node.label
        outputCount = node.outputs.count
        guard node.inputs.count == 1 + 2 * outputCount else {
            throw GPUInferError.unsupportedOp(op: "If", domain: node.domain, node: node.label, opset: opset,
                                              reason: "its branches were not inlined (an If inside a function body, or malformed inputs)")
        }
    }

    /// The input indices of the outputs of the branch `cond` selects.
    func taken(_ cond: Tensor) throws -> Range<Int> {
        guard cond.count == 1 else {
            throw GPUInferError.shapeMismatch(node: label, op: "If", reason: "the condition must hold one value, got shape \(cond.shape)")
        }
        return cond.double(at: 0) != 0 ? 1..<(1 + outputCount) : (1 + outputCount)..<(1 + 2 * outputCount)
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        guard let cond = constants.optional(0) else {
            throw GPUInferError.unsupportedOp(op: "If", domain: "", node: label, opset: 0, reason: "the condition must be known when planning")
        }
        return try taken(cond).map { i in
            guard let t = inputs.optional(i) else { throw GPUInferError.invalidModel(location: "If '\(label)'", reason: "branch output \(i) has no type") }
            return t
        }
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let cond: Tensor = try inputs.required(0, "If")
        return try taken(cond).map { try inputs.required($0, "If") }
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        throw ctx.error("If is resolved when planning (its outputs are the taken branch's values)")
    }
}
