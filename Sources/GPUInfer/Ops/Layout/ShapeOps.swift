// Shape, Size, Constant, ConstantOfShape, Range, RandomUniform: values known when a plan is built. The planner
// always folds them (from input types, or because every input is constant), so encode throws.

/// Shared `encode` of ops the planner always folds.
private func foldedOnly(_ ctx: EncodeContext) -> GPUInferError {
    ctx.error("\(ctx.node.opType) is evaluated when the plan is built and has no device kernel")
}

/// Shape (with `start`/`end` from opset 15): the input's dims as int64.
struct ShapeOp: Operator {
    static let opTypes = ["Shape"]
    let context: LayoutContext
    let start: Int
    let end: Int?

    init(node: Node, opset: Int) throws {
        context = LayoutContext(node, opset)
        start = try node.int("start", default: 0)
        end = try node.ints("end")?.first
    }

    func dims(_ shape: [Int]) -> [Int] {
        let r = shape.count
        func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + r : v, 0), r) }
        let s = clamp(start), e = clamp(end ?? r)
        return s < e ? Array(shape[s..<e]) : []
    }
    func foldFromTypes(_ inputs: [TensorType?]) -> [Tensor]? {
        guard let t = inputs.first ?? nil else { return nil }
        let d = dims(t.shape)
        return [Tensor(shape: [d.count], ints: d.map { Int64($0) })]
    }
    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [TensorType(.int64, [dims(try context.type(inputs, 0).shape).count])]
    }
    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        guard let r = foldFromTypes(TensorType.of(inputs)) else { throw context.invalid("missing input") }
        return r
    }
    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        throw foldedOnly(ctx)
    }
}

/// Size: the input's element count as an int64 scalar.
struct SizeOp: Operator {
    static let opTypes = ["Size"]
    let context: LayoutContext

    init(node: Node, opset: Int) throws { context = LayoutContext(node, opset) }

    func foldFromTypes(_ inputs: [TensorType?]) -> [Tensor]? {
        guard let t = inputs.first ?? nil else { return nil }
        return [Tensor.scalar(Int64(t.count))]
    }
    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        _ = try context.type(inputs, 0)
        return [TensorType(.int64, [])]
    }
    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        guard let r = foldFromTypes(TensorType.of(inputs)) else { throw context.invalid("missing input") }
        return r
    }
    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        throw foldedOnly(ctx)
    }
}

/// Constant: `value`, `value_float(s)` or `value_int(s)`.
struct ConstantOp: Operator {
    static let opTypes = ["Constant"]
    let value: Tensor

    init(node: Node, opset: Int) throws {
        let context = LayoutContext(node, opset)
        for name in ["sparse_value", "value_string", "value_strings"] where node.attributes[name] != nil {
            throw context.unsupported("attribute '\(name)' (string and sparse constants are not supported)")
        }
        var found: [Tensor] = []
        if let t = try node.tensor("value") { found.append(t) }
        if node.attributes["value_float"] != nil { found.append(.scalar(try node.float("value_float", default: 0))) }
        if let v = try node.floats("value_floats") {
            found.append(Tensor(shape: [v.count], floats: v))
        }
        if node.attributes["value_int"] != nil { found.append(.scalar(Int64(try node.int("value_int", default: 0)))) }
        if case let .ints(v)? = node.attributes["value_ints"] { found.append(Tensor(shape: [v.count], ints: v.map { Int64($0) })) }
        guard found.count == 1 else { throw context.invalid("needs exactly one value attribute, found \(found.count)") }
        value = found[0]
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [TensorType(value.dtype, value.shape)]
    }
    func reference(_ inputs: [Tensor?]) throws -> [Tensor] { [value] }
    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        throw foldedOnly(ctx)
    }
}

/// RandomUniform: a float tensor of `shape` drawn uniformly from [low, high) — what
/// Benchmarks/skeleton.py writes in place of a model's weights, so a model of any size travels
/// as a few hundred KB and runs with weights in each original tensor's range. Deterministic: the
/// same `seed` (0 when absent; ONNX leaves unseeded values to the runtime) gives the same values
/// on every run and machine (SplitMix64 of the seed's bits, 24-bit uniforms); onnxruntime draws
/// other values from the same range.
struct RandomUniformOp: Operator {
    static let opTypes = ["RandomUniform"]
    /// Largest tensor drawn: 2³¹ elements (8 GiB of float32).
    static let maxElements = 1 << 31
    let context: LayoutContext
    let shape: [Int]
    let low: Float, high: Float, seed: Float

    init(node: Node, opset: Int) throws {
        context = LayoutContext(node, opset)
        guard let dims = try node.ints("shape") else { throw context.invalid("missing attribute 'shape'") }
        guard dims.allSatisfy({ $0 >= 0 }) else { throw context.shapeError("negative dim in shape \(dims)") }
        var count = 1
        for d in dims {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, p <= Self.maxElements else {
                throw context.invalid("shape \(dims) has more than \(Self.maxElements) elements")
            }
            count = p
        }
        let dtype = try node.int("dtype", default: 1)
        guard dtype == 1 else { throw context.unsupported("dtype \(dtype) (only float32, 1, is implemented)") }
        shape = dims
        low = try node.float("low", default: 0)
        high = try node.float("high", default: 1)
        seed = try node.float("seed", default: 0)
        guard low.isFinite, high.isFinite, low <= high else { throw context.invalid("low \(low) and high \(high) must be finite with low ≤ high") }
    }

    /// The values: SplitMix64 from the seed's bit pattern, the top 24 bits of each draw as u in [0, 1).
    func values() -> [Float] {
        let n = shape.reduce(1, *)
        var state = UInt64(seed.bitPattern) &* 0x9E37_79B9_7F4A_7C15
        let scale = high - low
        return [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
            for i in 0..<n {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z ^= z >> 31
                let u = Float(z >> 40) * (1.0 / 16_777_216.0)
                buffer[i] = min(low + scale * u, high == low ? low : high.nextDown)
            }
            initialized = n
        }
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [TensorType(.float32, shape)]
    }
    func reference(_ inputs: [Tensor?]) throws -> [Tensor] { [Tensor(shape: shape, floats: values())] }
    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        throw foldedOnly(ctx)
    }
}

/// ConstantOfShape: a tensor of the constant shape input filled with `value` (default float 0).
struct ConstantOfShape: Operator {
    static let opTypes = ["ConstantOfShape"]
    static let constantInputs = [0]
    let context: LayoutContext
    let value: Tensor

    init(node: Node, opset: Int) throws {
        context = LayoutContext(node, opset)
        value = try node.tensor("value") ?? .scalar(Float(0))
        guard value.count == 1 else { throw context.invalid("'value' must hold one element, it has \(value.count)") }
    }

    func shape(_ dims: [Int]?) throws -> [Int] {
        guard let dims else { throw context.invalid("missing shape input") }
        guard dims.allSatisfy({ $0 >= 0 }) else { throw context.shapeError("negative dim in shape \(dims)") }
        return dims
    }
    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        [TensorType(value.dtype, try shape(context.ints(constants, inputs, 0)))]
    }
    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let s = try shape(context.ints(inputs, 0))
        let n = s.reduce(1, *)
        return [value.dtype.isFloat ? Tensor(shape: s, floats: .init(repeating: value.floats[0], count: n))
            : Tensor(shape: s, ints: .init(repeating: value.ints[0], count: n), dtype: value.dtype)]
    }
    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        throw foldedOnly(ctx)
    }
}

/// Range: start, start+delta, … below `limit` (above it for a negative delta), like onnxruntime:
/// count = ⌈(limit−start)/delta⌉ and floats accumulated by repeated addition (the spec's loop).
struct RangeOp: Operator {
    static let opTypes = ["Range"]
    static let constantInputs = [0, 1, 2]
    let context: LayoutContext

    init(node: Node, opset: Int) throws { context = LayoutContext(node, opset) }

    func compute(_ start: Tensor, _ limit: Tensor, _ delta: Tensor) throws -> Tensor {
        guard start.count == 1, limit.count == 1, delta.count == 1 else {
            throw context.shapeError("start, limit and delta must be scalars")
        }
        guard limit.dtype == start.dtype, delta.dtype == start.dtype else {
            throw context.shapeError("start, limit and delta must have one type, got \(start.dtype), \(limit.dtype), \(delta.dtype)")
        }
        if start.dtype.isFloat {
            let s = start.floatValues[0], l = limit.floatValues[0], d = delta.floatValues[0]
            guard d != 0, d.isFinite, s.isFinite, l.isFinite else { throw context.shapeError("invalid range \(s)..<\(l) by \(d)") }
            let n = max(0, Int(exactly: (Double(l - s) / Double(d)).rounded(.up)) ?? Int.max)
            guard n <= Int(Int32.max) else { throw context.shapeError("range of \(n) elements is too long") }
            // Computed on the host (at load, for shape inference): the memory budget holds.
            try HostMemory.check(TensorType(.float32, [n]), node: context.label, available: HostMemory.available())
            var v = s
            var out: [Float] = []
            for _ in 0..<n {
                out.append(v)
                v += d
            }
            return Tensor(shape: [n], floats: out)
        }
        let s = start.ints[0], l = limit.ints[0], d = delta.ints[0]
        guard d != 0 else { throw context.shapeError("delta is 0") }
        let (span, overflow) = l.subtractingReportingOverflow(s)
        guard !overflow else { throw context.shapeError("range \(s)..<\(l) is too long") }
        guard !span.dividedReportingOverflow(by: d).overflow else { throw context.shapeError("range \(s)..<\(l) by \(d) is too long") }
        let (q, r) = span.quotientAndRemainder(dividingBy: d)
        let n = Int(max(0, q + (r != 0 && (r > 0) == (d > 0) ? 1 : 0)))
        guard n <= Int(Int32.max) else { throw context.shapeError("range of \(n) elements is too long") }
        try HostMemory.check(TensorType(start.dtype, [n]), node: context.label, available: HostMemory.available())
        return Tensor(shape: [n], ints: (0..<n).map { s + Int64($0) * d }, dtype: start.dtype)
    }
    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        guard let s = constants.optional(0), let l = constants.optional(1), let d = constants.optional(2) else {
            throw context.unsupported("start, limit and delta must be constants")
        }
        let t = try compute(s, l, d)
        return [TensorType(t.dtype, t.shape)]
    }
    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        [try compute(inputs.required(0, "Range"), inputs.required(1, "Range"), inputs.required(2, "Range"))]
    }
    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        throw foldedOnly(ctx)
    }
}
