// Expand (broadcast to a constant shape) and Tile (constant repeats): strided copies with zero
// strides (Expand) or index wrap-around (Tile).

/// Expand: NumPy broadcast of the input and the constant `shape` input.
struct Expand: Operator {
    static let opTypes = ["Expand"]
    static let constantInputs = [1]
    let context: LayoutContext

    init(node: Node, opset: Int) throws { context = LayoutContext(node, opset) }

    func outputShape(_ x: [Int], _ shape: [Int]?) throws -> [Int] {
        guard let shape else { throw context.invalid("missing shape input") }
        guard let out = Shape.broadcast([x, shape]), shape.allSatisfy({ $0 >= 0 }) else {
            throw context.shapeError("cannot broadcast \(x) to \(shape)")
        }
        return out
    }
    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try context.type(inputs, 0)
        return [TensorType(x.dtype, try outputShape(x.shape, context.ints(constants, inputs, 1)))]
    }
    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try inputs.required(0, "Expand")
        let out = try outputShape(x.shape, context.ints(inputs, 1))
        let pad = out.count - x.rank
        let st = Shape.strides(x.shape)
        return [x.mapped(out) { idx in x.shape.indices.reduce(0) { $0 + (x.shape[$1] == 1 ? 0 : idx[pad + $1]) * st[$1] } }]
    }
    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x = try inputs.required(0, "Expand")
        let out = outputs[0].type.shape
        try StridedCopy(dims: out, src: Shape.broadcastStrides(x.type.shape, to: out)).encode(ctx, from: x, to: outputs[0])
    }
}

/// Tile: output dim k is input dim k × repeats[k]; input index = output index mod input dim.
struct Tile: Operator {
    static let opTypes = ["Tile"]
    static let constantInputs = [1]
    let context: LayoutContext

    init(node: Node, opset: Int) throws { context = LayoutContext(node, opset) }

    func outputShape(_ x: [Int], _ repeats: [Int]?) throws -> [Int] {
        guard let repeats else { throw context.invalid("missing repeats input") }
        guard repeats.count == x.count, repeats.allSatisfy({ $0 >= 0 }) else {
            throw context.shapeError("repeats \(repeats) do not fit input \(x)")
        }
        return try zip(x, repeats).map { d, r in
            let (n, overflow) = d.multipliedReportingOverflow(by: r)
            guard !overflow, n <= Shape.maxElements else { throw context.shapeError("repeats \(repeats) of input \(x) give a dimension beyond 2^40") }
            return n
        }
    }
    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try context.type(inputs, 0)
        return [TensorType(x.dtype, try outputShape(x.shape, context.ints(constants, inputs, 1)))]
    }
    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try inputs.required(0, "Tile")
        let out = try outputShape(x.shape, context.ints(inputs, 1))
        let st = Shape.strides(x.shape)
        return [x.mapped(out) { idx in idx.indices.reduce(0) { $0 + (idx[$1] % x.shape[$1]) * st[$1] } }]
    }
    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x = try inputs.required(0, "Tile")
        let out = outputs[0].type.shape
        try StridedCopy(dims: out, src: Shape.strides(x.type.shape), mod: x.type.shape).encode(ctx, from: x, to: outputs[0])
    }
}
