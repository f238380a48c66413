// An activation fused into a convolution: Relu or Clip(lo, hi) (ReLU6 = Clip(0, 6)) following a
// Conv is folded into it at load time (Passes/Optimize.swift `fuseConvActivation`), carried as the
// Conv node's internal attributes and applied by the kernels at the store (Kernels/common.cl `act`).
import Foundation

/// `min(max(v, lo), hi)` with Clip's comparisons: NaN stays NaN.
struct FusedActivation: Sendable, Equatable {
    /// Attribute names on the Conv node (a namespace no ONNX attribute uses).
    static let minAttribute = "gpuinfer.activation_min", maxAttribute = "gpuinfer.activation_max"
    var lo: Float, hi: Float

    @inline(__always) func apply(_ v: Float) -> Float { v < lo ? lo : (v > hi ? hi : v) }

    /// The Conv node's fused activation, or nil.
    init?(node: Node) throws {
        guard node.attributes[Self.minAttribute] != nil || node.attributes[Self.maxAttribute] != nil else { return nil }
        lo = try node.float(Self.minAttribute, default: -.infinity)
        hi = try node.float(Self.maxAttribute, default: .infinity)
        guard !lo.isNaN, !hi.isNaN, lo <= hi else { throw node.attributeError(Self.minAttribute, "fused activation bounds [\(lo), \(hi)] are invalid") }
    }

    init(lo: Float, hi: Float) {
        self.lo = lo
        self.hi = hi
    }

    /// Kernel build options defining ACT_CLAMP, ACT_LO and ACT_HI (exact hexadecimal float literals).
    var options: String {
        func literal(_ v: Float) -> String {
            if v == .infinity { return "INFINITY" }
            if v == -.infinity { return "(-INFINITY)" }
            return "(" + String(format: "%a", Double(v)) + "f)"
        }
        return "-DACT_CLAMP -DACT_LO=\(literal(lo)) -DACT_HI=\(literal(hi))"
    }
}
