// Reduced-precision weight storage on CPU-style devices: bf16 or fp16 copies of the weights that
// are streamed from memory once per inference (NetVLAD's WPCA, fully connected layers), widened to
// fp32 inside the kernels (common.cl WLOAD8/WLOAD1) and accumulated in fp32. It pays only where a
// kernel is bound by reading its weight: a GEMV at batch 1. Convolutions reuse each weight across
// pixels and are bound by arithmetic; PoCL has no half arithmetic on x86, so there it cannot pay.
import Foundation

/// How the memory-bound weight streams are stored (`ExecutionOptions.weightPrecision`).
public enum WeightPrecision: String, Sendable, CaseIterable {
    /// The model's fp32 values.
    case fp32
    /// bfloat16: fp32's exponent, 8 significant bits (relative rounding ≤ 2⁻⁸), any finite value
    /// below 2¹²⁸·(1 − 2⁻⁹) (larger ones round to infinity, as fp32 itself would just beyond).
    case bf16
    /// IEEE half: 11 significant bits (relative rounding ≤ 2⁻¹¹ above 2⁻¹⁴, absolute ≤ 2⁻²⁵ below),
    /// |w| ≤ 65504.
    case fp16

    /// The kernels' define (empty for fp32).
    var define: String {
        switch self {
        case .fp32: ""
        case .bf16: " -DW_BF16"
        case .fp16: " -DW_FP16"
        }
    }

    /// Relative rounding bound of one stored weight (unit roundoff), and the absolute bound below
    /// the normal range (fp16's subnormals; 0 where every finite fp32 keeps its relative bound —
    /// bf16 shares fp32's exponent range, so its subnormals are fp32's).
    public var unitRoundoff: (relative: Double, absolute: Double) {
        switch self {
        case .fp32: (0, 0)
        case .bf16: (0x1p-8, 0)
        case .fp16: (0x1p-11, 0x1p-25)
        }
    }

    /// `x` rounded to bf16 (round to nearest even; NaN stays a quiet NaN, infinities stay).
    static func bf16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x40 }
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    /// The stored 16-bit patterns of `values`, or nil for fp32. Throws `invalidModel` naming `what`
    /// for a value fp16 cannot hold (|w| > 65504 would become infinite: a silent wrong answer).
    func halves(_ values: [Float], what: String) throws -> [UInt16] {
        switch self {
        case .fp32:
            return []
        case .bf16:
            return values.map(Self.bf16Bits)
        case .fp16:
            var out = [UInt16](repeating: 0, count: values.count)
            for (i, v) in values.enumerated() {
                let h = Float16(v)
                if h.isInfinite && v.isFinite {
                    throw GPUInferError.invalidModel(location: what, reason: "weight \(v) at index \(i) exceeds fp16's range (±65504); use bf16 or fp32")
                }
                out[i] = h.bitPattern
            }
            return out
        }
    }

    /// The value the kernels read back for a stored `x` (tests and the host reference).
    static func widened(_ x: Float, _ precision: WeightPrecision) -> Float {
        switch precision {
        case .fp32: x
        case .bf16: Float(bitPattern: UInt32(bf16Bits(x)) << 16)
        case .fp16: Float(Float16(x))
        }
    }
}

extension EncodeContext {
    /// Input `index` of this node in the options' weight precision, where it is a constant and the
    /// precision is not fp32: its 16-bit buffer (shared by every plan of the session, like the
    /// repacked weights) and the kernel define; else nil (the model's fp32 buffer is used as is).
    func reducedConstant(_ constants: [Tensor?], input index: Int) throws -> (buffer: CLBuffer, define: String)? {
        let precision = options.weightPrecision
        guard precision != .fp32, index < constants.count, let weight = constants[index], index < node.inputs.count else { return nil }
        let name = node.inputs[index]
        let make = { [runtime, label = node.label] () throws -> CLBuffer in
            let bits = try precision.halves(weight.floats, what: "node '\(label)', weight '\(name)'")
            return try runtime.buffer(bits.isEmpty ? [UInt16(0)] : bits)
        }
        let buffer = try shared.map { try $0.buffer("weight|\(precision.rawValue)|\(name)|\(weight.shape)", make) } ?? make()
        return (buffer, precision.define)
    }
}
