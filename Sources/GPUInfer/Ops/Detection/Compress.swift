// Compress: the slices along an axis whose condition is true (Kernels/compress.cl) — an
// output whose shape depends on the data.

/// ONNX `Compress` (opset 9/11): `condition` is a 1-D bool tensor no longer than the axis (or
/// the flattened input when `axis` is absent); positions past its end count as false. Negative
/// axes from opset 11.
///
/// The kept count is data-dependent (`hasDataDependentShape`): the bound keeps every slice; the
/// device scans the condition, copies the kept slices packed for the real count and writes the
/// real shape to the plan's shape slot.
struct Compress: Operator {
    static let opTypes = ["Compress"]
    static let hasDataDependentShape = true
    /// Along axis 0 (or flattened) only the row count varies.
    func onlyRowsDependOnData(output: Int) -> Bool { axis == nil || axis == 0 }
    let axis: Int?
    let label: String

    init(node: Node, opset: Int) throws {
        axis = node.attributes["axis"] == nil ? nil : try node.int("axis", default: 0)
        label = node.label
    }

    func fail(_ reason: String) -> GPUInferError { .shapeMismatch(node: label, op: "Compress", reason: reason) }

    /// The input viewed as [outer, dim, inner] along the axis (flattened without one).
    func geometry(_ x: [Int], _ condition: [Int]) throws -> (outer: Int, dim: Int, inner: Int, axis: Int?) {
        guard condition.count == 1 else { throw fail("condition must be 1-D, got shape \(condition)") }
        guard let axis else {
            let n = x.reduce(1, *)
            guard condition[0] <= n else { throw fail("condition has \(condition[0]) elements, the flattened input \(n)") }
            return (1, n, 1, nil)
        }
        guard axis >= -x.count, axis < x.count else { throw fail("axis \(axis) is out of range for rank \(x.count)") }
        let a = axis < 0 ? axis + x.count : axis
        guard condition[0] <= x[a] else { throw fail("condition has \(condition[0]) elements, axis \(axis) of \(x) has \(x[a])") }
        return (x[..<a].reduce(1, *), x[a], x[(a + 1)...].reduce(1, *), a)
    }

    func outputShape(_ x: [Int], kept: Int, axis: Int?) -> [Int] {
        guard let axis else { return [kept] }
        var s = x
        s[axis] = kept
        return s
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, "Compress")
        let c: TensorType = try inputs.required(1, "Compress")
        guard !c.dtype.isFloat else { throw GPUInferError.unsupportedDType("\(c.dtype)", location: "Compress condition of node '\(label)' (expected bool)") }
        let g = try geometry(x.shape, c.shape)
        return [TensorType(x.dtype, outputShape(x.shape, kept: min(g.dim, c.shape[0]), axis: g.axis))]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, "Compress")
        let c: Tensor = try inputs.required(1, "Compress")
        let g = try geometry(x.shape, c.shape)
        let kept = c.ints.enumerated().filter { $0.element != 0 }.map(\.offset)
        var source: [Int] = []
        source.reserveCapacity(g.outer * kept.count * g.inner)
        for o in 0..<g.outer {
            for j in kept { source += (o * g.dim + j) * g.inner ..< (o * g.dim + j + 1) * g.inner }
        }
        return [x.picking(outputShape(x.shape, kept: kept.count, axis: g.axis), source)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, "Compress")
        let c: DeviceValue = try inputs.required(1, "Compress")
        let g = try geometry(x.type.shape, c.type.shape)
        guard x.count <= Int(Int32.max) else { throw ctx.error("\(x.count) elements exceed the 32-bit index range of the Compress kernels") }
        let shape = try ctx.outputShape(0)
        let length = c.count
        let positions = try ctx.scratch(bytes: (length + 1) * 4)
        // The shape with the kept count at `axis` (slot index `axisSlot` of the rank written).
        let dims = outputShape(x.type.shape, kept: 0, axis: g.axis)
        let options = "-DT=\(clType(x.type.dtype))"
        try ctx.launch1D(try ctx.kernel("compress_scan", file: "compress", options: options),
                         [.value(c), .int(length), .buffer(positions), .buffer(shape.buffer), .int(shape.offset), .buffer(try ctx.constants(dims)),
                          .int(dims.count), .int(g.axis ?? 0)], count: 1)
        try ctx.launch1D(try ctx.kernel("compress_copy", file: "compress", options: options),
                         [.value(x), .int(g.outer * length * g.inner), .int(length), .int(g.dim), .int(g.inner), .buffer(positions), .value(outputs[0])],
                         count: g.outer * length * g.inner)
    }
}
