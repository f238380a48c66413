// Binary elementwise operators with NumPy broadcasting (arithmetic, Pow, Mod, PRelu, comparisons,
// logic) and the variadic Max/Min/Sum/Mean, all on the `bin_*` kernels of elementwise.cl.
import Foundation

/// How one binary operator computes: kernels `bin_<kernel>_<f|l|fl>_<c|s>` and the matching
/// host formulas for each pair of storage types it accepts.
struct BinaryKind: Sendable {
    let kernel: String
    /// float ⊗ float → float.
    var float: (@Sendable (Float, Float) -> Float)? = nil
    /// float ⊗ float → bool.
    var floatTest: (@Sendable (Float, Float) -> Bool)? = nil
    /// float ⊗ integer → float (Pow with an integer exponent).
    var floatInt: (@Sendable (Float, Int64) -> Float)? = nil
    /// integer ⊗ float → integer (Pow with a float exponent).
    var intFloat: (@Sendable (Int64, Float) -> Int64)? = nil
    /// integer ⊗ integer → integer (wrapping like the device).
    var int: (@Sendable (Int64, Int64) -> Int64)? = nil
    /// integer/bool ⊗ integer/bool → bool.
    var intTest: (@Sendable (Int64, Int64) -> Bool)? = nil

    /// Whether the result is bool whatever the inputs.
    var isTest: Bool { floatTest != nil || intTest != nil }

    /// Kernel stem and output dtype for inputs `a`, `b`, or nil if the pair is not supported.
    func resolve(_ a: DType, _ b: DType) -> (stem: String, out: DType)? {
        switch (a.isFloat, b.isFloat) {
        case (true, true) where float != nil: ("bin_\(kernel)_f", a)
        case (true, true) where floatTest != nil: ("bin_\(kernel)_f", .bool)
        case (true, false) where floatInt != nil: ("bin_\(kernel)_fl", a)
        case (false, true) where intFloat != nil: ("bin_\(kernel)_lf", a)
        case (false, false) where int != nil: ("bin_\(kernel)_l", a)
        case (false, false) where intTest != nil: ("bin_\(kernel)_l", .bool)
        default: nil
        }
    }

    /// The reference: `a ⊗ b` broadcast to `shape`.
    func apply(_ a: Tensor, _ b: Tensor, shape: [Int], op: String) throws -> Tensor {
        let l = BroadcastLayout(output: shape, inputs: [a.shape, b.shape])
        switch (a.dtype.isFloat, b.dtype.isFloat) {
        case (true, true):
            if let f = float { return Tensor(shape: shape, floats: l.map(a.floats, b.floats, f)) }
            if let t = floatTest { return Tensor(shape: shape, ints: l.map(a.floats, b.floats) { t($0, $1) ? 1 : 0 }, dtype: .bool) }
        case (true, false):
            if let f = floatInt { return Tensor(shape: shape, floats: l.map(a.floats, b.ints, f)) }
        case (false, false):
            if let f = int { return Tensor(shape: shape, ints: l.map(a.ints, b.ints, f), dtype: a.dtype) }
            if let t = intTest { return Tensor(shape: shape, ints: l.map(a.ints, b.ints) { t($0, $1) ? 1 : 0 }, dtype: .bool) }
        case (false, true):
            if let f = intFloat { return Tensor(shape: shape, ints: l.map(a.ints, b.floats, f), dtype: a.dtype) }
        }
        throw GPUInferError.unsupportedDType("\(a.dtype) and \(b.dtype)", location: "\(op) inputs")
    }

    /// Integer division truncating toward zero; x/0 = 0 (no trap), wrapping for Int64.min / −1.
    static func divide(_ a: Int64, _ b: Int64) -> Int64 { b == 0 ? 0 : (b == -1 ? 0 &- a : a / b) }
    /// C remainder (sign of the dividend); x%0 = 0.
    static func remainder(_ a: Int64, _ b: Int64) -> Int64 { b == 0 || b == -1 ? 0 : a % b }
    /// Remainder with the sign of the divisor (NumPy's mod; a zero result takes b's sign).
    static func modulo(_ a: Int64, _ b: Int64) -> Int64 {
        let r = remainder(a, b)
        return r != 0 && (r < 0) != (b < 0) ? r &+ b : r
    }
    static func modulo(_ a: Float, _ b: Float) -> Float {
        let r = a.truncatingRemainder(dividingBy: b)
        return r == 0 ? Float(signOf: b, magnitudeOf: 0) : ((r < 0) != (b < 0) ? r + b : r)
    }
    /// aᵇ by squaring, wrapping; a negative exponent truncates 1/a^|b| (0 unless |a| = 1).
    static func power(_ a: Int64, _ b: Int64) -> Int64 {
        if b < 0 { return a == 1 ? 1 : (a == -1 ? (b & 1 != 0 ? -1 : 1) : 0) }
        var r: Int64 = 1, x = a, e = b
        while e > 0 {
            if e & 1 != 0 { r = r &* x }
            x = x &* x
            e >>= 1
        }
        return r
    }

    /// Integer base, float exponent (as `pow_lf`): exact for integral exponents, else the float
    /// power truncated toward zero (NaN/±∞ → 0, saturating).
    static func power(_ a: Int64, _ b: Float) -> Int64 {
        if b == b.rounded(.down), abs(b) < 9.2e18 { return power(a, Int64(b)) }
        let p = pow(Float(a), b)
        guard p.isFinite else { return 0 }
        return p >= 9.2e18 ? .max : (p <= -9.2e18 ? .min : Int64(p))
    }

    static let add = BinaryKind(kernel: "add", float: { $0 + $1 }, int: { $0 &+ $1 })
    static let max = BinaryKind(kernel: "max", float: { $0 > $1 || $0.isNaN ? $0 : $1 }, int: { Swift.max($0, $1) })
    static let min = BinaryKind(kernel: "min", float: { $0 < $1 || $0.isNaN ? $0 : $1 }, int: { Swift.min($0, $1) })
    static let table: [String: BinaryKind] = [
        "Add": add,
        "Sub": .init(kernel: "sub", float: { $0 - $1 }, int: { $0 &- $1 }),
        "Mul": .init(kernel: "mul", float: { $0 * $1 }, int: { $0 &* $1 }),
        "Div": .init(kernel: "div", float: { $0 / $1 }, int: divide),
        "Pow": .init(kernel: "pow", float: { pow($0, $1) }, floatInt: { pow($0, Float($1)) }, intFloat: power, int: power),
        "PRelu": .init(kernel: "prelu", float: { $0 < 0 ? $0 * $1 : $0 }, int: { $0 < 0 ? $0 &* $1 : $0 }),
        "Equal": .init(kernel: "equal", floatTest: { $0 == $1 }, intTest: { $0 == $1 }),
        "Less": .init(kernel: "less", floatTest: { $0 < $1 }, intTest: { $0 < $1 }),
        "LessOrEqual": .init(kernel: "lessequal", floatTest: { $0 <= $1 }, intTest: { $0 <= $1 }),
        "Greater": .init(kernel: "greater", floatTest: { $0 > $1 }, intTest: { $0 > $1 }),
        "GreaterOrEqual": .init(kernel: "greaterequal", floatTest: { $0 >= $1 }, intTest: { $0 >= $1 }),
        "And": .init(kernel: "and", intTest: { $0 != 0 && $1 != 0 }),
        "Or": .init(kernel: "or", intTest: { $0 != 0 || $1 != 0 }),
        "Xor": .init(kernel: "xor", intTest: { ($0 != 0) != ($1 != 0) }),
    ]
    /// Mod with fmod = 1 (C fmod, sign of the dividend) and fmod = 0 (sign of the divisor).
    static let fmod = BinaryKind(kernel: "fmod", float: { $0.truncatingRemainder(dividingBy: $1) }, int: remainder)
    static let mod = BinaryKind(kernel: "mod", float: { modulo($0, $1) }, int: { modulo($0, $1) })
}

/// Add, Sub, Mul, Div, Pow, Mod, PRelu, Equal, Less(OrEqual), Greater(OrEqual), And, Or, Xor.
struct Binary: Operator {
    static let opTypes = BinaryKind.table.keys.sorted() + ["Mod"]
    /// Row-local (`Operator.isRowLocal`): runs on row-bounded inputs without a plan cut.
    static let isRowLocal = true

    let opType: String
    let kind: BinaryKind

    init(node: Node, opset: Int) throws {
        opType = node.opType
        if opType == "Mod" {
            kind = try node.int("fmod", default: 0) != 0 ? BinaryKind.fmod : BinaryKind.mod
        } else if let k = BinaryKind.table[opType] {
            kind = k
        } else {
            throw GPUInferError.unsupportedOp(op: opType, domain: node.domain, node: node.label, opset: opset, reason: "not a binary op")
        }
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let a: TensorType = try inputs.required(0, opType), b: TensorType = try inputs.required(1, opType)
        guard let (_, out) = kind.resolve(a.dtype, b.dtype) else {
            throw GPUInferError.unsupportedDType("\(a.dtype) and \(b.dtype)", location: "\(opType) inputs")
        }
        let shape = try Elementwise.broadcast([a.shape, b.shape], opType)
        if opType == "PRelu", shape != a.shape {
            throw GPUInferError.invalidInput("PRelu: slope \(b.shape) does not broadcast to X \(a.shape)")
        }
        return [TensorType(out, shape)]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let a: Tensor = try inputs.required(0, opType), b: Tensor = try inputs.required(1, opType)
        let t = try inferTypes([TensorType(a.dtype, a.shape), TensorType(b.dtype, b.shape)], constants: [])[0]
        return [try kind.apply(a, b, shape: t.shape, op: opType)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let a: DeviceValue = try inputs.required(0, opType), b: DeviceValue = try inputs.required(1, opType)
        guard let (stem, _) = kind.resolve(a.type.dtype, b.type.dtype) else { throw ctx.error("unsupported input types") }
        try Elementwise.launch(ctx, stem, inputs: [a.buffer, b.buffer], shapes: [a.type.shape, b.type.shape], output: outputs[0])
    }
}

/// Max, Min, Sum and Mean over one or more broadcast inputs, folded left to right:
/// y = ((x₀ ⊗ x₁) ⊗ x₂) …, then ÷ n for Mean.
struct Variadic: Operator {
    static let opTypes = ["Max", "Min", "Sum", "Mean"]
    /// Row-local (`Operator.isRowLocal`): runs on row-bounded inputs without a plan cut.
    static let isRowLocal = true

    let opType: String
    let kind: BinaryKind

    init(node: Node, opset: Int) throws {
        opType = node.opType
        kind = switch opType {
        case "Max": BinaryKind.max
        case "Min": BinaryKind.min
        default: BinaryKind.add
        }
        if node.inputs.isEmpty || node.inputs.contains("") {
            throw GPUInferError.invalidModel(location: "node '\(node.label)' (\(opType))", reason: "needs one or more inputs, none omitted")
        }
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let ts = try Elementwise.sameStorage(inputs, opType)
        guard let first = ts.first else { throw GPUInferError.invalidInput("\(opType): needs at least one input") }
        if opType == "Mean", !first.dtype.isFloat { throw GPUInferError.unsupportedDType("\(first.dtype)", location: "Mean input") }
        return [TensorType(first.dtype, try Elementwise.broadcast(ts.map(\.shape), opType))]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let shape = try inferTypes(inputs.map { $0.map { TensorType($0.dtype, $0.shape) } }, constants: [])[0].shape
        let xs: [Tensor] = try inputs.indices.map { try inputs.required($0, opType) }
        var acc = xs[0]
        for x in xs.dropFirst() { acc = try kind.apply(acc, x, shape: shape, op: opType) }
        if opType == "Mean" {
            let n = Float(xs.count)
            acc.floats = acc.floats.map { $0 / n }
        }
        return [acc]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let xs: [DeviceValue] = try inputs.indices.map { try inputs.required($0, opType) }
        let y = outputs[0]
        guard let (stem, _) = kind.resolve(y.type.dtype, y.type.dtype) else { throw ctx.error("unsupported input types") }
        if xs.count == 1 {
            try Elementwise.launchUnary(ctx, "copy", input: xs[0].buffer, output: y)
            return
        }
        // The first pair writes y; each later input updates y in place (same index, no hazard).
        try Elementwise.launch(ctx, stem, inputs: [xs[0].buffer, xs[1].buffer], shapes: [xs[0].type.shape, xs[1].type.shape], output: y)
        for x in xs.dropFirst(2) {
            try Elementwise.launch(ctx, stem, inputs: [y.buffer, x.buffer], shapes: [y.type.shape, x.type.shape], output: y)
        }
        if opType == "Mean" {
            try Elementwise.launchUnary(ctx, "divs", input: y.buffer, output: y, params: [.float(Float(xs.count)), .float(0)])
        }
    }
}
