// ScatterElements (opset 11/13/16/18) and the deprecated Scatter (opset 9/10): out = data, then
// every update written (or combined) at its own position with the index along `axis` replaced.
// Kernels/scatter_elements.cl; int64 indices, negative ones wrap.

/// ScatterElements with `axis` and `reduction` (none, add, mul from opset 16; max, min from 18);
/// Scatter is the same without reduction. Updates apply in C order of the indices, so with
/// duplicate indices the last update wins (reduction none, as onnxruntime) and reductions combine
/// in that order; the device keeps the same order per destination, so results equal the reference.
struct ScatterElements: Operator {
    static let opTypes = ["ScatterElements", "Scatter"]

    /// How an update combines with the value already at its destination.
    enum Reduction: String, CaseIterable {
        case none, add, mul, max, min
        /// The kernel's REDUCTION define.
        var code: Int { Self.allCases.firstIndex(of: self) ?? 0 }
    }

    let context: LayoutContext
    let axis: Int
    let reduction: Reduction

    init(node: Node, opset: Int) throws {
        context = LayoutContext(node, opset)
        axis = try node.int("axis", default: 0)
        let name = try node.string("reduction", default: "none")
        guard let r = Reduction(rawValue: name) else {
            throw node.attributeError("reduction", "must be none, add, mul, max or min, got '\(name)'")
        }
        guard r == .none || node.opType == "ScatterElements" && opset >= (r == .max || r == .min ? 18 : 16) else {
            throw node.attributeError("reduction", "'\(name)' is not defined for \(node.opType) at opset \(opset)")
        }
        reduction = r
    }

    /// Output type and normalised axis; indices and updates must have one shape, no larger than
    /// data's in any dim but the axis.
    func resolve(_ inputs: [TensorType?]) throws -> (TensorType, Int) {
        let data = try context.type(inputs, 0), indices = try context.type(inputs, 1), updates = try context.type(inputs, 2)
        guard !indices.dtype.isFloat else { throw context.shapeError("indices must be integers") }
        guard updates.dtype == data.dtype else { throw context.shapeError("updates \(updates.dtype) differ from data \(data.dtype)") }
        guard updates.shape == indices.shape else { throw context.shapeError("updates \(updates.shape) differ from indices \(indices.shape)") }
        let a = try context.axis(axis, rank: data.shape.count)
        guard indices.shape.count == data.shape.count,
              zip(indices.shape, data.shape).enumerated().allSatisfy({ $0.offset == a || $0.element.0 <= $0.element.1 }) else {
            throw context.shapeError("indices \(indices.shape) do not fit data \(data.shape) on axis \(axis)")
        }
        return (data, a)
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] { [try resolve(inputs).0] }

    /// `acc` combined with `v` (NaN-propagating max/min, as NumPy's maximum/minimum).
    func combine(_ acc: Float, _ v: Float) -> Float {
        switch reduction {
        case .none: v
        case .add: acc + v
        case .mul: acc * v
        case .max: acc.isNaN || v.isNaN ? .nan : Swift.max(acc, v)
        case .min: acc.isNaN || v.isNaN ? .nan : Swift.min(acc, v)
        }
    }

    /// `acc` combined with `v` for integers (wrapping add and multiply, as the device's `long`).
    func combine(_ acc: Int64, _ v: Int64) -> Int64 {
        switch reduction {
        case .none: v
        case .add: acc &+ v
        case .mul: acc &* v
        case .max: Swift.max(acc, v)
        case .min: Swift.min(acc, v)
        }
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let data = try inputs.required(0, context.op), indices = try inputs.required(1, context.op)
        let updates = try inputs.required(2, context.op)
        let (t, a) = try resolve(TensorType.of(inputs))
        let st = Shape.strides(data.shape), ix = indices.int64Values
        var dest: [Int] = []
        dest.reserveCapacity(indices.count)
        try forEachIndex(indices.shape) { flat, idx in
            var i = idx
            i[a] = try context.wrapIndex(ix[flat], data.shape[a])
            dest.append(zip(i, st).reduce(0) { $0 + $1.0 * $1.1 })
        }
        if t.dtype.isFloat {
            var y = data.floats
            for (k, d) in dest.enumerated() { y[d] = combine(y[d], updates.floats[k]) }
            return [Tensor(shape: t.shape, floats: y)]
        }
        var y = data.ints
        for (k, d) in dest.enumerated() { y[d] = combine(y[d], updates.ints[k]) }
        return [Tensor(shape: t.shape, ints: y, dtype: t.dtype)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let data = try inputs.required(0, context.op), indices = try inputs.required(1, context.op)
        let updates = try inputs.required(2, context.op)
        let (t, a) = try resolve(inputs.map { $0?.type })
        try context.checkIndices(constants.optional(1), data.type.shape[a])
        guard t.count > 0 else { return }
        let options = "-DT=\(clType(t.dtype))"
        try ctx.launch1D(try ctx.kernel("scatter_elements_copy", file: "scatter_elements", options: options),
                         [.int(t.count), .value(data), .value(outputs[0])], count: t.count)
        // One work-item per line of the indices along the axis: it applies that line's updates in
        // order, and no two lines share a destination.
        let q = indices.type.shape
        let lines = q.enumerated().reduce(1) { $0 * ($1.offset == a ? 1 : $1.element) }
        guard lines > 0, q[a] > 0 else { return }
        let meta = try ctx.constants(q + Shape.strides(q) + Shape.strides(t.shape))
        let kernel = try ctx.kernel("scatter_elements", file: "scatter_elements", options: options + " -DREDUCTION=\(reduction.code)")
        try ctx.launch1D(kernel, [.int(lines), .int(q.count), .int(a), .int(t.shape[a]), .buffer(meta), .value(indices), .value(updates),
                                  .value(outputs[0])], count: lines)
    }
}
