// Identity: the output is the input (an alias, no kernel).

struct Identity: Operator {
    static let opTypes = ["Identity"]
    /// Row-local (`Operator.isRowLocal`): runs on row-bounded inputs without a plan cut.
    static let isRowLocal = true
    init(node: Node, opset: Int) throws {}
    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        guard let t = inputs.first ?? nil else { throw GPUInferError.invalidModel(location: "Identity", reason: "missing input") }
        return [t]
    }
    func reference(_ inputs: [Tensor?]) throws -> [Tensor] { [try inputs.required(0, "Identity")] }
    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {}
    var aliases: [Int: Int] { [0: 0] }
}
