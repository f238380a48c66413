// BatchNormalization in inference mode, for the nodes the Conv folding pass leaves:
// y = (x − mean[c]) / √(var[c] + ε) · scale[c] + B[c] over channel axis 1, any rank ≥ 2.
import Foundation

/// Inference BatchNormalization (training_mode = 0; opset < 9 `spatial` must be 1). The optional
/// training-mode outputs of opsets < 14 get no value.
struct BatchNormalization: Operator {
    static let opTypes = ["BatchNormalization"]

    let epsilon: Float

    init(node: Node, opset: Int) throws {
        epsilon = try node.float("epsilon", default: 1e-5)
        let unsupported = { (reason: String) in
            GPUInferError.unsupportedOp(op: node.opType, domain: node.domain, node: node.label, opset: opset, reason: reason)
        }
        if try node.int("training_mode", default: 0) != 0 { throw unsupported("training_mode = 1 (only inference is supported)") }
        if try node.int("spatial", default: 1) != 1 { throw unsupported("spatial = 0 (per-element statistics)") }
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, "BatchNormalization")
        guard x.dtype.isFloat, x.shape.count >= 2 else {
            throw GPUInferError.invalidInput("BatchNormalization: X must be float of rank ≥ 2, got \(x)")
        }
        let c = x.shape[1]
        for (i, name) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] {
            let p: TensorType = try inputs.required(i, "BatchNormalization")
            guard p.dtype.isFloat, p.shape == [c] else {
                throw GPUInferError.invalidInput("BatchNormalization: \(name) must be float [\(c)], got \(p)")
            }
        }
        return [x]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        _ = try inferTypes(inputs.map { $0.map { TensorType($0.dtype, $0.shape) } }, constants: [])
        let x: Tensor = try inputs.required(0, "BatchNormalization")
        let p: [[Float]] = try (1...4).map { try inputs.required($0, "BatchNormalization").floats }
        let (scale, bias, mean, variance) = (p[0], p[1], p[2], p[3])
        let c = x.shape[1], inner = x.shape.dropFirst(2).reduce(1, *)
        var y = x.floats
        for i in y.indices {
            let k = (i / max(inner, 1)) % c
            y[i] = (y[i] - mean[k]) / (variance[k] + epsilon).squareRoot() * scale[k] + bias[k]
        }
        return [Tensor(shape: x.shape, floats: y)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let v: [DeviceValue] = try (0...4).map { try inputs.required($0, "BatchNormalization") }
        let shape = v[0].type.shape
        let k = try ctx.kernel("batchnorm", file: "elementwise")
        try ctx.launch1D(k, [.int(outputs[0].count), .int(shape[1]), .int(shape.dropFirst(2).reduce(1, *))] + v.map(KernelArg.value)
                         + [.float(epsilon), .value(outputs[0])], count: outputs[0].count)
    }
}
