// An activation fused into a convolution (or the GEMM behind it): the activation node that is the
// only consumer of a Conv's output — Relu, Clip with constant bounds (ReLU6), LeakyRelu, PRelu with
// one slope, HardSigmoid, HardSwish, Sigmoid, Tanh, Mish, and the gated patterns exporters write
// for SiLU (`x * Sigmoid(x)`) and HardSwish (`x * HardSigmoid(x)`) — is folded into it at load time
// (Passes/Optimize.swift `fuseConvActivation`), carried as the Conv node's internal attributes and
// applied by every conv kernel at its store (Kernels/common.cl `act`, `act8`, `act16`).
import Foundation

/// What the fused activation computes, with the very fp32 operations of the unfused node(s).
struct FusedActivation: Sendable, Equatable, CustomStringConvertible {
    enum Kind: String, Sendable, CaseIterable {
        /// min(max(v, lo), hi) with Clip's comparisons (NaN stays NaN): Relu, Clip, ReLU6.
        case clamp
        /// v < 0 ? alpha·v : v (LeakyRelu, PRelu with a single slope).
        case leakyRelu = "leakyrelu"
        /// clip(alpha·v + beta, 0, 1).
        case hardSigmoid = "hardsigmoid"
        /// v · clip(alpha·v + beta, 0, 1): HardSwish (alpha 1/6, beta 1/2) and `x * HardSigmoid(x)`.
        case hardSwish = "hardswish"
        /// 1 / (1 + e^−v).
        case sigmoid
        /// v · (1 / (1 + e^−v)): `x * Sigmoid(x)` (SiLU, Swish).
        case silu
        /// (v · clip(v + alpha, 0, beta)) / beta: HardSwish as paddle2onnx and other exporters write
        /// it, `Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6)`.
        case hardSwishDiv = "hardswishdiv"
        /// v · tanh(softplus(v)).
        case mish
        case tanh
    }

    /// Attribute names on the Conv node (a namespace no ONNX attribute uses). A clamp is stored as
    /// min/max only (as before the other kinds existed); other kinds name themselves.
    static let minAttribute = "gpuinfer.activation_min", maxAttribute = "gpuinfer.activation_max"
    static let kindAttribute = "gpuinfer.activation", alphaAttribute = "gpuinfer.activation_alpha", betaAttribute = "gpuinfer.activation_beta"
    static let attributeNames = [minAttribute, maxAttribute, kindAttribute, alphaAttribute, betaAttribute]

    var kind: Kind
    var lo: Float = -.infinity, hi: Float = .infinity
    var alpha: Float = 0, beta: Float = 0

    init(lo: Float, hi: Float) {
        kind = .clamp
        self.lo = lo
        self.hi = hi
    }

    init(_ kind: Kind, alpha: Float = 0, beta: Float = 0) {
        self.kind = kind
        self.alpha = alpha
        self.beta = beta
    }

    /// The Conv node's fused activation, or nil.
    init?(node: Node) throws {
        if let name = node.attributes[Self.kindAttribute] {
            guard case let .string(text) = name, let kind = Kind(rawValue: text) else {
                throw node.attributeError(Self.kindAttribute, "unknown fused activation \(name)")
            }
            self.kind = kind
            alpha = try node.float(Self.alphaAttribute, default: 0)
            beta = try node.float(Self.betaAttribute, default: 0)
            guard alpha.isFinite, beta.isFinite else { throw node.attributeError(Self.alphaAttribute, "fused activation parameters must be finite") }
            if kind != .clamp { return }
        } else {
            guard node.attributes[Self.minAttribute] != nil || node.attributes[Self.maxAttribute] != nil else { return nil }
            kind = .clamp
        }
        lo = try node.float(Self.minAttribute, default: -.infinity)
        hi = try node.float(Self.maxAttribute, default: .infinity)
        guard !lo.isNaN, !hi.isNaN, lo <= hi else { throw node.attributeError(Self.minAttribute, "fused activation bounds [\(lo), \(hi)] are invalid") }
    }

    /// Whether `node` carries a fused activation.
    static func isFused(_ node: Node) -> Bool { attributeNames.contains { node.attributes[$0] != nil } }

    /// The attributes that carry this activation on a node.
    var attributes: [String: Attribute] {
        switch kind {
        case .clamp: [Self.minAttribute: .float(lo), Self.maxAttribute: .float(hi)]
        default: [Self.kindAttribute: .string(kind.rawValue), Self.alphaAttribute: .float(alpha), Self.betaAttribute: .float(beta)]
        }
    }

    /// Writes the activation onto `node`.
    func attach(to node: inout Node) {
        for (k, v) in attributes { node.attributes[k] = v }
    }

    @inline(__always) func apply(_ v: Float) -> Float {
        switch kind {
        case .clamp: return v < lo ? lo : (v > hi ? hi : v)
        case .leakyRelu: return v < 0 ? alpha * v : v
        case .hardSigmoid: return Elementwise.clip(alpha * v + beta, 0, 1)
        case .hardSwish: return v * Elementwise.clip(alpha * v + beta, 0, 1)
        case .sigmoid: return 1 / (1 + exp(-v))
        case .silu: return v * (1 / (1 + exp(-v)))
        case .hardSwishDiv: return v * Elementwise.clip(v + alpha, 0, beta) / beta
        case .mish: return v * Foundation.tanh(Elementwise.softplus(v))
        case .tanh: return Foundation.tanh(v)
        }
    }

    /// Whether the activation evaluates exp, log or tanh (Sigmoid, SiLU, Mish, Tanh): tens of vector
    /// instructions per value where the others take a few compares and multiplies.
    var isTranscendental: Bool { [.sigmoid, .silu, .mish, .tanh].contains(kind) }

    /// Kernel build options selecting `act` in Kernels/common.cl (exact hexadecimal float literals).
    var options: String {
        func literal(_ v: Float) -> String {
            if v == .infinity { return "INFINITY" }
            if v == -.infinity { return "(-INFINITY)" }
            return "(" + String(format: "%a", Double(v)) + "f)"
        }
        switch kind {
        case .clamp: return "-DACT_CLAMP -DACT_LO=\(literal(lo)) -DACT_HI=\(literal(hi))"
        default: return "-DACT_\(kind.rawValue.uppercased()) -DACT_ALPHA=\(literal(alpha)) -DACT_BETA=\(literal(beta))"
        }
    }

    var description: String {
        switch kind {
        case .clamp: "clamp(\(lo), \(hi))"
        case .leakyRelu, .hardSigmoid, .hardSwish, .hardSwishDiv: "\(kind.rawValue)(\(alpha), \(beta))"
        default: kind.rawValue
        }
    }
}

extension FusedActivation {
    /// The activation `node` computes of its first input, when it is one the kernels can fuse:
    /// Relu, Clip with constant (or opset < 11 attribute) bounds, LeakyRelu, PRelu whose slope is
    /// one constant value, HardSigmoid, HardSwish, Sigmoid, Tanh, Mish. `constant` gives an
    /// initializer's value.
    static func of(_ node: Node, opset: Int, constant: (String) -> Tensor?) -> FusedActivation? {
        guard node.domain.isEmpty, node.outputs.count == 1, !node.inputs.isEmpty else { return nil }
        func scalar(_ index: Int) -> Float?? {
            guard index < node.inputs.count, !node.inputs[index].isEmpty else { return .some(nil) }
            guard let t = constant(node.inputs[index]), t.count == 1, t.dtype == .float32 else { return nil }
            return .some(t.floats[0])
        }
        func float(_ name: String, _ value: Float) -> Float? {
            guard let v = try? node.float(name, default: value), v.isFinite else { return nil }
            return v
        }
        switch node.opType {
        case "Relu": return FusedActivation(lo: 0, hi: .infinity)
        case "Clip":
            var lo: Float = -.infinity, hi: Float = .infinity
            if opset < 11 {
                lo = (try? node.float("min", default: -.greatestFiniteMagnitude)) ?? -.greatestFiniteMagnitude
                hi = (try? node.float("max", default: .greatestFiniteMagnitude)) ?? .greatestFiniteMagnitude
            } else {
                guard let l = scalar(1), let h = scalar(2) else { return nil }
                lo = l ?? -.infinity
                hi = h ?? .infinity
            }
            guard !lo.isNaN, !hi.isNaN, lo <= hi else { return nil }
            return FusedActivation(lo: lo, hi: hi)
        case "LeakyRelu":
            return float("alpha", 0.01).map { FusedActivation(.leakyRelu, alpha: $0) }
        case "PRelu":
            guard node.inputs.count == 2, let slope = scalar(1), let s = slope, s.isFinite else { return nil }
            return FusedActivation(.leakyRelu, alpha: s)
        case "HardSigmoid":
            guard let a = float("alpha", 0.2), let b = float("beta", 0.5) else { return nil }
            return FusedActivation(.hardSigmoid, alpha: a, beta: b)
        case "HardSwish": return FusedActivation(.hardSwish, alpha: Float(1) / 6, beta: 0.5)
        case "Sigmoid": return FusedActivation(.sigmoid)
        case "Tanh": return FusedActivation(.tanh)
        case "Mish": return FusedActivation(.mish)
        default: return nil
        }
    }

    /// The activation `x * gate(x)` computes when `gate` is Sigmoid (SiLU) or HardSigmoid (HardSwish), else nil.
    var gated: FusedActivation? {
        switch kind {
        case .sigmoid: FusedActivation(.silu)
        case .hardSigmoid: FusedActivation(.hardSwish, alpha: alpha, beta: beta)
        default: nil
        }
    }
}
