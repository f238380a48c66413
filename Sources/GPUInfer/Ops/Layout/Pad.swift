// Pad: constant, reflect, edge and wrap modes; pads and axes as constant inputs (opset ≥ 11, axes
// from 18) or attributes (before); constant_value may be computed on the device. Negative pads crop.

/// Pad with begin/end amounts per dim.
struct Pad: Operator {
    static let opTypes = ["Pad"]
    static let constantInputs = [1, 3]
    enum Mode: Int { case constant = 0, reflect, edge, wrap }
    let context: LayoutContext
    let mode: Mode
    let attributePads: [Int]?
    let attributeValue: Float

    init(node: Node, opset: Int) throws {
        context = LayoutContext(node, opset)
        let m = try node.string("mode", default: "constant")
        switch m {
        case "constant": mode = .constant
        case "reflect": mode = .reflect
        case "edge": mode = .edge
        case "wrap" where opset >= 19: mode = .wrap
        default: throw context.unsupported("mode '\(m)'")
        }
        if opset < 11 {
            guard let p = try node.ints("pads") ?? node.ints("paddings") else { throw context.invalid("missing attribute 'pads'") }
            attributePads = p
        } else {
            attributePads = nil
        }
        attributeValue = try node.float("value", default: 0)
    }

    /// Begin pads per dim and the output shape.
    func resolve(_ shape: [Int], ints: (Int) throws -> [Int]?) throws -> (begin: [Int], shape: [Int]) {
        let r = shape.count
        guard let pads = try attributePads ?? ints(1) else { throw context.invalid("missing pads input") }
        let axes = try context.axes(try ints(3) ?? Array(0..<r), rank: r)
        guard pads.count == 2 * axes.count else { throw context.shapeError("\(pads.count) pads for \(axes.count) axes") }
        var begin = [Int](repeating: 0, count: r), out = shape
        for (i, a) in axes.enumerated() {
            begin[a] = pads[i]
            out[a] = try Checked.sum([out[a], pads[i], pads[i + axes.count]], "pads \(pads) on dim \(a) of \(shape)")
            guard out[a] >= 0 else { throw context.shapeError("pads \(pads) crop more than dim \(a) of \(shape)") }
            if mode != .constant, shape[a] == 0, out[a] > 0 { throw context.shapeError("cannot \(mode)-pad the empty dim \(a)") }
        }
        return (begin, out)
    }

    /// The scalar fill value (constant mode).
    func fill(_ value: Tensor?) throws -> (Float, Int64) {
        guard let value else { return (attributeValue, attributeValue.isFinite ? Int64(attributeValue) : 0) }
        guard value.count == 1 else { throw context.shapeError("constant_value must be a scalar") }
        return (value.floatValues[0], value.int64Values[0])
    }

    /// Source coordinate of padded coordinate c along a dim of `size`, nil for the fill value.
    func source(_ c: Int, _ size: Int) -> Int? {
        if c >= 0, c < size { return c }
        switch mode {
        case .constant: return nil
        case .reflect:
            let p = 2 * (size - 1)
            guard p > 0 else { return 0 }
            let m = ((c % p) + p) % p
            return m < size ? m : p - m
        case .edge: return c < 0 ? 0 : size - 1
        case .wrap: return ((c % size) + size) % size
        }
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try context.type(inputs, 0)
        return [TensorType(x.dtype, try resolve(x.shape) { try context.ints(constants, inputs, $0) }.shape)]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try inputs.required(0, "Pad")
        let (begin, shape) = try resolve(x.shape) { context.ints(inputs, $0) }
        let (f, i) = try fill(inputs.optional(2))
        let st = Shape.strides(x.shape)
        var floats: [Float] = [], ints: [Int64] = []
        forEachIndex(shape) { _, idx in
            var off = 0
            for k in idx.indices {
                guard let c = source(idx[k] - begin[k], x.shape[k]) else {
                    if x.dtype.isFloat { floats.append(f) } else { ints.append(i) }
                    return
                }
                off += c * st[k]
            }
            if x.dtype.isFloat { floats.append(x.floats[off]) } else { ints.append(x.ints[off]) }
        }
        return [x.dtype.isFloat ? Tensor(shape: shape, floats: floats) : Tensor(shape: shape, ints: ints, dtype: x.dtype)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x = try inputs.required(0, "Pad"), out = outputs[0]
        let (begin, shape) = try resolve(x.type.shape) { context.ints(constants, $0) }
        let (f, i) = try fill(nil)
        let value = inputs.optional(2)
        guard (value?.count ?? 1) == 1 else { throw ctx.error("constant_value must be a scalar") }
        let kernel = try ctx.kernel("pad", file: "pad", options: "-DT=\(clType(out.type.dtype))")
        let meta = try ctx.constants(shape + x.type.shape + begin + Shape.strides(x.type.shape))
        try ctx.launch1D(kernel, [.int(out.count), .int(shape.count), .int(mode.rawValue), .buffer(meta), .value(x), .value(out),
                                  out.type.dtype.isFloat ? .float(f) : .long(i), .value(value ?? out), .int(value == nil ? 0 : 1)],
                         count: out.count)
    }
}
