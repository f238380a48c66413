// Cast and CastLike: float32 ↔ integer/bool conversions (float→int truncates toward zero, NaN and
// ±∞ give 0, integers wrap to the target width like a C cast).

/// Cast (target from the `to` attribute) and CastLike (target = input 1's type).
struct Cast: Operator {
    static let opTypes = ["Cast", "CastLike"]
    /// Row-local (`Operator.isRowLocal`): runs on row-bounded inputs without a plan cut.
    static let isRowLocal = true

    /// Target type for Cast; nil for CastLike.
    let to: DType?

    init(node: Node, opset: Int) throws {
        guard node.opType == "Cast" else { to = nil; return }
        let code = try node.int("to", default: 0)
        guard let t = DType(onnx: code) else {
            throw GPUInferError.unsupportedOp(op: node.opType, domain: node.domain, node: node.label, opset: opset,
                                              reason: "cast to \(DType.onnxName(code)) is not supported")
        }
        to = t
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, "Cast")
        let target: DType = try to ?? inputs.required(1, "CastLike").dtype
        return [TensorType(target, x.shape)]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, "Cast")
        let target: DType = try to ?? inputs.required(1, "CastLike").dtype
        return [x.cast(to: target)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, "Cast"), y = outputs[0]
        let name = switch (x.type.dtype.isFloat, y.type.dtype.isFloat) {
        case (true, true): "un_copy_f"
        case (true, false): "cast_f2l"
        case (false, true): "cast_l2f"
        case (false, false): "cast_l2l"
        }
        let k = try ctx.kernel(name, file: "elementwise")
        let tail: [KernelArg] = name == "un_copy_f" ? [.float(0), .float(0)] : []
        try ctx.launch1D(k, [.int(y.count), .value(x), .value(y)] + tail + [.int(Elementwise.wrapCode(y.type.dtype))], count: y.count)
    }
}
