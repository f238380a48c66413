// Gather (indices of any rank along an axis) and GatherElements (per-element indices); indices
// are a device buffer of int64, negative values wrap.

/// Shared index checks.
extension LayoutContext {
    /// `ix` wrapped into 0..<dim, or an error naming the bad index.
    func wrapIndex(_ ix: Int64, _ dim: Int) throws -> Int {
        let v = ix < 0 ? ix + Int64(dim) : ix
        guard v >= 0, v < Int64(dim) else { throw shapeError("index \(ix) is out of range for a dim of size \(dim)") }
        return Int(v)
    }

    /// Checks every index of a plan-time constant indices tensor.
    func checkIndices(_ indices: Tensor?, _ dim: Int) throws {
        guard let indices else { return }
        for ix in indices.int64Values { _ = try wrapIndex(ix, dim) }
    }
}

/// Gather: out = data[:, …, indices, …] with indices replacing dim `axis`.
struct Gather: Operator {
    static let opTypes = ["Gather"]
    /// Row-local (`Operator.isRowLocal`): runs on row-bounded inputs without a plan cut.
    static let isRowLocal = true
    let context: LayoutContext
    let axis: Int

    init(node: Node, opset: Int) throws {
        context = LayoutContext(node, opset)
        axis = try node.int("axis", default: 0)
    }

    func resolve(_ inputs: [TensorType?]) throws -> (TensorType, Int) {
        let data = try context.type(inputs, 0), indices = try context.type(inputs, 1)
        guard !indices.dtype.isFloat else { throw context.shapeError("indices must be integers") }
        let a = try context.axis(axis, rank: data.shape.count)
        return (TensorType(data.dtype, Array(data.shape[..<a]) + indices.shape + data.shape[(a + 1)...]), a)
    }
    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] { [try resolve(inputs).0] }
    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let data = try inputs.required(0, "Gather"), indices = try inputs.required(1, "Gather")
        let (t, a) = try resolve(TensorType.of(inputs))
        let dim = data.shape[a], inner = data.shape[(a + 1)...].reduce(1, *), outer = data.shape[..<a].reduce(1, *)
        let rows = try indices.int64Values.map { try context.wrapIndex($0, dim) }
        var source: [Int] = []
        source.reserveCapacity(t.count)
        for o in 0..<outer {
            for row in rows { source += (o * dim + row) * inner ..< (o * dim + row + 1) * inner }
        }
        return [data.picking(t.shape, source)]
    }
    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let data = try inputs.required(0, "Gather"), indices = try inputs.required(1, "Gather")
        let (t, a) = try resolve(inputs.map { $0?.type })
        let dim = data.type.shape[a]
        try context.checkIndices(constants.optional(1), dim)
        guard dim > 0 || t.count == 0 else { throw ctx.error("gathering from an empty axis") }
        let kernel = try ctx.kernel("gather", file: "gather", options: "-DT=\(clType(t.dtype))")
        try ctx.launch1D(kernel, [.int(t.count), .value(data), .value(indices), .value(outputs[0]), .int(dim),
                                  .int(indices.count), .int(data.type.shape[(a + 1)...].reduce(1, *))], count: t.count)
    }
}

/// GatherElements: out[i] = data[i with i[axis] = indices[i]]; the output has the indices' shape.
struct GatherElements: Operator {
    static let opTypes = ["GatherElements"]
    let context: LayoutContext
    let axis: Int

    init(node: Node, opset: Int) throws {
        context = LayoutContext(node, opset)
        axis = try node.int("axis", default: 0)
    }

    func resolve(_ inputs: [TensorType?]) throws -> (TensorType, Int) {
        let data = try context.type(inputs, 0), indices = try context.type(inputs, 1)
        guard !indices.dtype.isFloat else { throw context.shapeError("indices must be integers") }
        let a = try context.axis(axis, rank: data.shape.count)
        guard indices.shape.count == data.shape.count,
              zip(indices.shape, data.shape).enumerated().allSatisfy({ $0.offset == a || $0.element.0 <= $0.element.1 }) else {
            throw context.shapeError("indices \(indices.shape) do not fit data \(data.shape) on axis \(axis)")
        }
        return (TensorType(data.dtype, indices.shape), a)
    }
    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] { [try resolve(inputs).0] }
    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let data = try inputs.required(0, "GatherElements"), indices = try inputs.required(1, "GatherElements")
        let (t, a) = try resolve(TensorType.of(inputs))
        let st = Shape.strides(data.shape), ix = indices.int64Values
        var source: [Int] = []
        try forEachIndex(t.shape) { flat, idx in
            var i = idx
            i[a] = try context.wrapIndex(ix[flat], data.shape[a])
            source.append(zip(i, st).reduce(0) { $0 + $1.0 * $1.1 })
        }
        return [data.picking(t.shape, source)]
    }
    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let data = try inputs.required(0, "GatherElements"), indices = try inputs.required(1, "GatherElements")
        let (t, a) = try resolve(inputs.map { $0?.type })
        try context.checkIndices(constants.optional(1), data.type.shape[a])
        guard data.type.shape[a] > 0 || t.count == 0 else { throw ctx.error("gathering from an empty axis") }
        let kernel = try ctx.kernel("gather_elements", file: "gather", options: "-DT=\(clType(t.dtype))")
        let meta = try ctx.constants(t.shape + Shape.strides(data.type.shape) + data.type.shape)
        try ctx.launch1D(kernel, [.int(t.count), .int(t.shape.count), .int(a), .buffer(meta), .value(data), .value(indices),
                                  .value(outputs[0])], count: t.count)
    }
}
