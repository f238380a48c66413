// Concat (one strided copy per input into its region of the output) and Split (one strided copy
// per output from its region of the input).

/// Concat along `axis` (negative allowed); every other dim must match.
struct Concat: Operator {
    static let opTypes = ["Concat"]
    /// Row-local (`Operator.isRowLocal`): runs on row-bounded inputs without a plan cut.
    static let isRowLocal = true
    let context: LayoutContext
    let axis: Int

    init(node: Node, opset: Int) throws {
        context = LayoutContext(node, opset)
        guard node.attributes["axis"] != nil else { throw context.invalid("missing attribute 'axis'") }
        axis = try node.int("axis", default: 0)
    }

    /// Output type and the normalized axis.
    func resolve(_ inputs: [TensorType?]) throws -> (TensorType, Int) {
        let types = inputs.compactMap { $0 }
        guard let first = types.first, types.count == inputs.count else { throw context.invalid("missing input") }
        let a = try context.axis(axis, rank: first.shape.count)
        var shape = first.shape
        shape[a] = 0
        for t in types {
            var s = t.shape
            guard s.count == shape.count, t.dtype.isFloat == first.dtype.isFloat else {
                throw context.shapeError("inputs \(types.map(\.description)) do not concatenate on axis \(axis)")
            }
            shape[a] += s[a]
            s[a] = shape[a]
            guard s == shape else { throw context.shapeError("inputs \(types.map(\.shape)) differ outside axis \(axis)") }
        }
        return (TensorType(first.dtype, shape), a)
    }
    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] { [try resolve(inputs).0] }
    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let (t, a) = try resolve(TensorType.of(inputs))
        let xs = inputs.compactMap { $0 }
        let outer = t.shape[..<a].reduce(1, *), inner = t.shape[(a + 1)...].reduce(1, *)
        var parts: [Tensor] = []
        for o in 0..<outer {
            for x in xs {
                let chunk = x.shape[a] * inner
                parts.append(x.picking([chunk], Array(o * chunk ..< (o + 1) * chunk)))
            }
        }
        return [Tensor.joined(parts, dtype: t.dtype, shape: t.shape)]
    }
    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let (t, a) = try resolve(inputs.map { $0?.type })
        let dst = Shape.strides(t.shape)
        var offset = 0
        for x in inputs.compactMap({ $0 }) {
            try StridedCopy(dims: x.type.shape, src: Shape.strides(x.type.shape), dst: dst, dstBase: offset * dst[a])
                .encode(ctx, from: x, to: outputs[0])
            offset += x.type.shape[a]
        }
    }
}

/// Split along `axis` into the sizes of the `split` input (opset ≥ 13) or attribute (before),
/// into `num_outputs` chunks of ⌈d/n⌉ with a smaller last one (opset 18), or into equal parts.
struct Split: Operator {
    static let opTypes = ["Split"]
    static let constantInputs = [1]
    let context: LayoutContext
    let axis: Int
    let outputCount: Int
    let attributeSplit: [Int]?
    let numOutputs: Int?

    init(node: Node, opset: Int) throws {
        context = LayoutContext(node, opset)
        axis = try node.int("axis", default: 0)
        outputCount = node.outputs.count
        attributeSplit = opset < 13 ? try node.ints("split") : nil
        numOutputs = opset >= 18 ? try node.ints("num_outputs")?.first : nil
        if let n = numOutputs, n != outputCount { throw context.invalid("num_outputs \(n) but \(outputCount) outputs") }
    }

    /// Normalized axis and the size of every part.
    func sizes(_ shape: [Int], _ split: [Int]?) throws -> (Int, [Int]) {
        let a = try context.axis(axis, rank: shape.count)
        let d = shape[a], n = outputCount
        guard n > 0 else { throw context.invalid("no outputs") }
        if let split = attributeSplit ?? split {
            guard split.count == n, split.allSatisfy({ $0 >= 0 }), split.reduce(0, +) == d else {
                throw context.shapeError("split \(split) does not divide dim \(d) into \(n) outputs")
            }
            return (a, split)
        }
        if numOutputs != nil {
            let chunk = (d + n - 1) / n
            guard d - chunk * (n - 1) >= 0 else { throw context.shapeError("cannot split dim \(d) into \(n) chunks of \(chunk)") }
            return (a, Array(repeating: chunk, count: n - 1) + [d - chunk * (n - 1)])
        }
        guard d % n == 0 else { throw context.shapeError("dim \(d) does not split into \(n) equal parts") }
        return (a, Array(repeating: d / n, count: n))
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try context.type(inputs, 0)
        let (a, parts) = try sizes(x.shape, context.ints(constants, inputs, 1))
        return parts.map { p in
            var s = x.shape
            s[a] = p
            return TensorType(x.dtype, s)
        }
    }
    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try inputs.required(0, "Split")
        let (a, parts) = try sizes(x.shape, context.ints(inputs, 1))
        let st = Shape.strides(x.shape)
        var offset = 0
        return parts.map { p in
            var s = x.shape
            s[a] = p
            let base = offset
            offset += p
            return x.mapped(s) { idx in idx.indices.reduce(base * st[a]) { $0 + idx[$1] * st[$1] } }
        }
    }
    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x = try inputs.required(0, "Split")
        let (a, parts) = try sizes(x.type.shape, context.ints(constants, 1))
        let st = Shape.strides(x.type.shape)
        // The plan passes one output per non-empty output name, in order.
        var targets = outputs.makeIterator()
        var offset = 0
        for (name, p) in zip(ctx.node.outputs, parts) {
            defer { offset += p }
            guard !name.isEmpty, let out = targets.next() else { continue }
            try StridedCopy(dims: out.type.shape, src: st, srcBase: offset * st[a]).encode(ctx, from: x, to: out)
        }
    }
}
