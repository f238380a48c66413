// Clip: min(max(x, lo), hi) with lo/hi as attributes (opset < 11) or optional inputs (opset ≥ 11).

/// Clip on float or integer tensors; an absent bound is ±∞ (or the Int64 range). NaN stays NaN.
/// Bounds known at plan time (the usual case) become kernel arguments; bounds computed at run
/// time are read from their device buffers.
struct Clip: Operator {
    static let opTypes = ["Clip"]
    /// Row-local (`Operator.isRowLocal`): runs on row-bounded inputs without a plan cut.
    static let isRowLocal = true

    /// Bounds from attributes (opset < 11); nil means they come from inputs 1 and 2.
    let attributeBounds: (lo: Float, hi: Float)?

    init(node: Node, opset: Int) throws {
        attributeBounds = opset < 11
            ? (try node.float("min", default: -Float.greatestFiniteMagnitude), try node.float("max", default: .greatestFiniteMagnitude))
            : nil
    }

    /// A bound input as a single value, or nil when it is omitted.
    private func bound(_ t: Tensor?, _ which: String) throws -> Tensor? {
        guard let t else { return nil }
        guard t.count == 1 else { throw GPUInferError.invalidInput("Clip: \(which) must be a single value, got shape \(t.shape)") }
        return t
    }

    /// Float bounds for a float input.
    private func floatBounds(_ inputs: [Tensor?]) throws -> (Float, Float) {
        if let b = attributeBounds { return b }
        let lo = try bound(inputs.optional(1), "min").map { Float($0.double(at: 0)) } ?? -.infinity
        let hi = try bound(inputs.optional(2), "max").map { Float($0.double(at: 0)) } ?? .infinity
        return (lo, hi)
    }

    /// Integer bounds for an integer input.
    private func intBounds(_ inputs: [Tensor?]) throws -> (Int64, Int64) {
        if attributeBounds != nil { throw GPUInferError.unsupportedDType("integer", location: "Clip before opset 11 (float only)") }
        let lo = try bound(inputs.optional(1), "min").map { $0.int64Values[0] } ?? .min
        let hi = try bound(inputs.optional(2), "max").map { $0.int64Values[0] } ?? .max
        return (lo, hi)
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let t: TensorType = try inputs.required(0, "Clip")
        if attributeBounds != nil, !t.dtype.isFloat {
            throw GPUInferError.unsupportedDType("\(t.dtype)", location: "Clip before opset 11 (float only)")
        }
        for i in 1...2 {
            if let b = inputs.optional(i), b.count != 1 || b.dtype.isFloat != t.dtype.isFloat {
                throw GPUInferError.invalidInput("Clip: input \(i) must be a single \(t.dtype) value, got \(b)")
            }
        }
        return [t]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, "Clip")
        if x.dtype.isFloat {
            let (lo, hi) = try floatBounds(inputs)
            return [Tensor(shape: x.shape, floats: x.floats.map { Elementwise.clip($0, lo, hi) })]
        }
        let (lo, hi) = try intBounds(inputs)
        return [Tensor(shape: x.shape, ints: x.ints.map { Elementwise.clip($0, lo, hi) }, dtype: x.dtype)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, "Clip")
        if attributeBounds == nil, (1...2).contains(where: { inputs.optional($0) != nil && constants.optional($0) == nil }) {
            let lo = inputs.optional(1), hi = inputs.optional(2)
            let k = try ctx.kernel("clipb_\(Elementwise.suffix(x.type.dtype))", file: "elementwise")
            try ctx.launch1D(k, [.int(x.count), .value(x), .value(lo ?? x), .value(hi ?? x), .int((lo == nil ? 0 : 1) | (hi == nil ? 0 : 2)),
                                 .value(outputs[0])], count: x.count)
            return
        }
        let params: [KernelArg]
        if x.type.dtype.isFloat {
            let (lo, hi) = try floatBounds(constants)
            params = [.float(lo), .float(hi)]
        } else {
            let (lo, hi) = try intBounds(constants)
            params = [.long(lo), .long(hi)]
        }
        try Elementwise.launchUnary(ctx, "clip", input: x.buffer, output: outputs[0], params: params)
    }
}
