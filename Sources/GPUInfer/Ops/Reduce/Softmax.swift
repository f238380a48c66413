// Softmax, LogSoftmax and Hardmax, with the opset < 13 (2-D coercion) and ≥ 13 (one axis) semantics.
import Foundation

/// Softmax, LogSoftmax and Hardmax. From opset 13 they act along one axis (default −1); before
/// 13 the input is coerced to 2-D [∏ dims before axis, ∏ dims from axis] (default axis 1) and
/// each whole row is normalised. Softmax subtracts the row maximum before exponentiating;
/// Hardmax marks the first maximum (NaN counts as the maximum, as in NumPy's argmax).
struct Softmax: Operator {
    static let opTypes = ["Softmax", "LogSoftmax", "Hardmax"]

    enum Mode: String { case softmax, log_softmax, hardmax }
    let mode: Mode
    let axis: Int
    let coerce2D: Bool
    let node: Node

    init(node: Node, opset: Int) throws {
        mode = node.opType == "Softmax" ? .softmax : node.opType == "LogSoftmax" ? .log_softmax : .hardmax
        coerce2D = opset < 13
        axis = try node.int("axis", default: coerce2D ? 1 : -1)
        self.node = node
    }

    func rows(_ shape: [Int]) throws -> AxisRows {
        let a = try AxisRows.axis(axis, rank: shape.count, node)
        if !coerce2D { return AxisRows(shape, axis: a) }
        return AxisRows(outer: shape[..<a].reduce(1, *), length: shape[a...].reduce(1, *), inner: 1)
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, node.opType)
        guard x.dtype.isFloat else { throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "expects a float input, got \(x.dtype)") }
        _ = try rows(x.shape)
        return [x]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, node.opType)
        let g = try rows(x.shape)
        var y = [Float](repeating: 0, count: x.count)
        for r in 0..<g.rows {
            let idx = g.indices(r)
            switch mode {
            case .hardmax:
                var best = 0
                for i in 1..<max(idx.count, 1) where ArgOrder.better(x.floats[idx[i]], than: x.floats[idx[best]], max: true) { best = i }
                if !idx.isEmpty { y[idx[best]] = 1 }
            case .softmax, .log_softmax:
                // The maximum ignores NaN (OpenCL fmax); a NaN element then makes the row NaN.
                let m = Double(idx.reduce(-Float.infinity) { x.floats[$1] > $0 ? x.floats[$1] : $0 })
                let s = idx.reduce(0.0) { $0 + exp(Double(x.floats[$1]) - m) }
                for i in idx {
                    let d = Double(x.floats[i]) - m
                    y[i] = Float(mode == .softmax ? exp(d) / s : d - log(s))
                }
            }
        }
        return [Tensor(shape: x.shape, floats: y)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, node.opType)
        let g = try rows(x.type.shape)
        if mode == .softmax, ctx.family == .cpu, g.inner >= 16, g.length > 0 {
            // CPU style, an axis with ≥ 16 elements behind it: 16 rows per work-item in vector lanes.
            try ctx.launch(try ctx.kernel("softmax_inner16", file: "softmax"), [.value(x), .value(outputs[0]), .int(g.outer), .int(g.length), .int(g.inner)],
                           global: [(g.inner + 15) / 16, g.outer], local: nil)
            return
        }
        let kernel = try ctx.kernel("\(mode.rawValue)_float", file: "softmax")
        try ctx.launch1D(kernel, [.value(x), .value(outputs[0])] + g.args, count: g.length == 0 ? 0 : g.rows)
    }
}
