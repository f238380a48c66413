// Where(cond, X, Y): X where cond is true, else Y, with NumPy broadcasting over all three.

/// Where on float or integer X/Y with a bool condition.
struct Where: Operator {
    static let opTypes = ["Where"]
    /// Row-local (`Operator.isRowLocal`): runs on row-bounded inputs without a plan cut.
    static let isRowLocal = true
    init(node: Node, opset: Int) throws {}

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let c: TensorType = try inputs.required(0, "Where")
        let xy = try Elementwise.sameStorage([inputs.optional(1), inputs.optional(2)], "Where")
        guard !c.dtype.isFloat else { throw GPUInferError.unsupportedDType("\(c.dtype)", location: "Where condition (expected bool)") }
        return [TensorType(xy[0].dtype, try Elementwise.broadcast([c.shape, xy[0].shape, xy[1].shape], "Where"))]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let c: Tensor = try inputs.required(0, "Where"), x: Tensor = try inputs.required(1, "Where"), y: Tensor = try inputs.required(2, "Where")
        let t = try inferTypes([c, x, y].map { TensorType($0.dtype, $0.shape) }, constants: [])[0]
        let l = BroadcastLayout(output: t.shape, inputs: [c.shape, x.shape, y.shape])
        if t.dtype.isFloat { return [Tensor(shape: t.shape, floats: l.map(c.ints, x.floats, y.floats) { $0 != 0 ? $1 : $2 })] }
        return [Tensor(shape: t.shape, ints: l.map(c.ints, x.ints, y.ints) { $0 != 0 ? $1 : $2 }, dtype: t.dtype)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let xs: [DeviceValue] = try (0..<3).map { try inputs.required($0, "Where") }
        try Elementwise.launch(ctx, "where_\(Elementwise.suffix(outputs[0].type.dtype))", inputs: xs.map(\.buffer),
                               shapes: xs.map(\.type.shape), output: outputs[0])
    }
}
