// Unary elementwise operators: one table row per op (kernel name in elementwise.cl, float and
// integer references, attributes that become the kernel's alpha and beta).
import Foundation

/// How one unary operator computes: kernel `un_<kernel>_<f|l>` and the matching host formulas.
struct UnaryKind: Sendable {
    let kernel: String
    /// Reference on float32: (x, alpha, beta) → y; nil if the op has no float form.
    let float: (@Sendable (Float, Float, Float) -> Float)?
    /// Reference on integers and bool (wrapping like the device); nil if the op has none.
    let int: (@Sendable (Int64) -> Int64)?
    /// Attribute names and defaults passed as alpha and beta, in that order.
    let params: [(name: String, value: Float)]

    init(_ kernel: String, params: [(name: String, value: Float)] = [], float: (@Sendable (Float, Float, Float) -> Float)?,
         int: (@Sendable (Int64) -> Int64)? = nil) {
        self.kernel = kernel
        self.float = float
        self.int = int
        self.params = params
    }
}

/// Relu, Sigmoid, Exp, Log, Tanh, Neg, Abs, Erf, Sqrt, Reciprocal, Floor, Ceil, Round, Sign,
/// Softplus, Softsign, trigonometric and hyperbolic functions, Elu, Selu, Celu, LeakyRelu,
/// HardSigmoid, HardSwish, ThresholdedRelu, Mish, Gelu and Not.
struct Unary: Operator {
    static let table: [String: UnaryKind] = [
        "Relu": .init("relu", float: { x, _, _ in x < 0 ? 0 : x }, int: { $0 < 0 ? 0 : $0 }),
        "Sigmoid": .init("sigmoid", float: { x, _, _ in 1 / (1 + exp(-x)) }),
        "Exp": .init("exp", float: { x, _, _ in exp(x) }),
        "Log": .init("log", float: { x, _, _ in log(x) }),
        "Tanh": .init("tanh", float: { x, _, _ in tanh(x) }),
        "Neg": .init("neg", float: { x, _, _ in -x }, int: { 0 &- $0 }),
        "Abs": .init("abs", float: { x, _, _ in abs(x) }, int: { $0 < 0 ? 0 &- $0 : $0 }),
        "Erf": .init("erf", float: { x, _, _ in erf(x) }),
        "Sqrt": .init("sqrt", float: { x, _, _ in x.squareRoot() }),
        "Reciprocal": .init("reciprocal", float: { x, _, _ in 1 / x }),
        "Floor": .init("floor", float: { x, _, _ in x.rounded(.down) }),
        "Ceil": .init("ceil", float: { x, _, _ in x.rounded(.up) }),
        "Round": .init("round", float: { x, _, _ in x.rounded(.toNearestOrEven) }),
        "Sign": .init("sign", float: { x, _, _ in x > 0 ? 1 : (x < 0 ? -1 : x) }, int: { $0.signum() }),
        "Softplus": .init("softplus", float: { x, _, _ in Elementwise.softplus(x) }),
        "Softsign": .init("softsign", float: { x, _, _ in x / (1 + abs(x)) }),
        "Sin": .init("sin", float: { x, _, _ in sin(x) }),
        "Cos": .init("cos", float: { x, _, _ in cos(x) }),
        "Tan": .init("tan", float: { x, _, _ in tan(x) }),
        "Asin": .init("asin", float: { x, _, _ in asin(x) }),
        "Acos": .init("acos", float: { x, _, _ in acos(x) }),
        "Atan": .init("atan", float: { x, _, _ in atan(x) }),
        "Sinh": .init("sinh", float: { x, _, _ in sinh(x) }),
        "Cosh": .init("cosh", float: { x, _, _ in cosh(x) }),
        "Asinh": .init("asinh", float: { x, _, _ in asinh(x) }),
        "Acosh": .init("acosh", float: { x, _, _ in acosh(x) }),
        "Atanh": .init("atanh", float: { x, _, _ in atanh(x) }),
        "Elu": .init("elu", params: [("alpha", 1)], float: { x, a, _ in x < 0 ? a * expm1(x) : x }),
        "Selu": .init("selu", params: [("alpha", 1.67326319217681884765625), ("gamma", 1.05070102214813232421875)],
                      float: { x, a, g in x <= 0 ? g * (a * expm1(x)) : g * x }),
        "Celu": .init("celu", params: [("alpha", 1)], float: { x, a, _ in x > 0 ? x : a * expm1(x / a) }),
        "LeakyRelu": .init("leakyrelu", params: [("alpha", 0.01)], float: { x, a, _ in x < 0 ? a * x : x }),
        "HardSigmoid": .init("hardsigmoid", params: [("alpha", 0.2), ("beta", 0.5)],
                             float: { x, a, b in Elementwise.clip(a * x + b, 0, 1) }),
        "HardSwish": .init("hardswish", float: { x, _, _ in x * Elementwise.clip(x * (Float(1) / 6) + 0.5, 0, 1) }),
        "ThresholdedRelu": .init("thresholdedrelu", params: [("alpha", 1)], float: { x, a, _ in x > a ? x : 0 }),
        "Mish": .init("mish", float: { x, _, _ in x * tanh(Elementwise.softplus(x)) }),
        // 0.5·x·(1 + erf(x/√2)) = 0.5·x·erfc(−x/√2): no cancellation for large negative x.
        "Gelu": .init("gelu", float: { x, _, _ in 0.5 * x * erfc(-x * 0.70710678118654752) }),
        "Not": .init("not", float: nil, int: { $0 == 0 ? 1 : 0 }),
    ]
    /// Gelu with approximate = "tanh": 0.5·x·(1 + tanh(u)) = x / (1 + e^(−2u)), u = √(2/π)·(x + 0.044715·x³).
    static let geluTanh = UnaryKind("gelutanh", float: { x, _, _ in
        x / (1 + exp(-2 * (0.79788456080286536 * (x + 0.044715 * x * x * x))))
    })
    static let opTypes = table.keys.sorted()
    /// Row-local (`Operator.isRowLocal`): runs on row-bounded inputs without a plan cut.
    static let isRowLocal = true

    let opType: String
    let kind: UnaryKind
    let alpha: Float
    let beta: Float

    init(node: Node, opset: Int) throws {
        guard var kind = Self.table[node.opType] else {
            throw GPUInferError.unsupportedOp(op: node.opType, domain: node.domain, node: node.label, opset: opset, reason: "not a unary op")
        }
        if node.opType == "Gelu" {
            switch try node.string("approximate", default: "none") {
            case "none": break
            case "tanh": kind = Self.geluTanh
            case let a:
                throw GPUInferError.unsupportedOp(op: node.opType, domain: node.domain, node: node.label, opset: opset,
                                                  reason: "approximate = '\(a)' (expected 'none' or 'tanh')")
            }
        }
        opType = node.opType
        self.kind = kind
        let p = kind.params
        alpha = try p.isEmpty ? 0 : node.float(p[0].name, default: p[0].value)
        beta = try p.count < 2 ? 0 : node.float(p[1].name, default: p[1].value)
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let t: TensorType = try inputs.required(0, opType)
        if t.dtype.isFloat ? kind.float == nil : kind.int == nil {
            throw GPUInferError.unsupportedDType("\(t.dtype)", location: "\(opType) input")
        }
        return [t]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, opType)
        if x.dtype.isFloat, let f = kind.float {
            let a = alpha, b = beta
            return [Tensor(shape: x.shape, floats: x.floats.map { f($0, a, b) })]
        }
        guard !x.dtype.isFloat, let f = kind.int else {
            throw GPUInferError.unsupportedDType("\(x.dtype)", location: "\(opType) input")
        }
        return [Tensor(shape: x.shape, ints: x.ints.map(f), dtype: x.dtype)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, opType)
        let params: [KernelArg]? = x.type.dtype.isFloat ? [.float(alpha), .float(beta)] : nil
        try Elementwise.launchUnary(ctx, kind.kernel, input: x.buffer, output: outputs[0], params: params)
    }
}
