// TopK: the k largest (or smallest) elements along an axis and their int64 indices.

/// TopK with k from the constant input 1, `axis` (default −1), `largest` and `sorted`. Results
/// are always sorted (allowed when sorted = 0); ties keep the lower index first and NaN sorts
/// above every number, as in the ONNX reference.
struct TopK: Operator {
    static let opTypes = ["TopK"]
    static let constantInputs = [1]
    let axis: Int
    let largest: Bool
    let node: Node

    init(node: Node, opset: Int) throws {
        guard opset >= 10 else {
            throw GPUInferError.unsupportedOp(op: "TopK", domain: node.domain, node: node.label, opset: opset, reason: "TopK before opset 10 (k as an attribute) is not supported")
        }
        axis = try node.int("axis", default: -1)
        largest = try node.int("largest", default: 1) != 0
        self.node = node
    }

    func geometry(_ shape: [Int], k kTensor: Tensor?) throws -> (rows: AxisRows, k: Int, out: [Int]) {
        let a = try AxisRows.axis(axis, rank: shape.count, node)
        guard let kTensor, kTensor.count == 1, !kTensor.dtype.isFloat else {
            throw GPUInferError.shapeMismatch(node: node.label, op: "TopK", reason: "K must be a constant int64 tensor with one element")
        }
        let k = Int(kTensor.ints[0])
        guard k >= 0, k <= shape[a] else {
            throw GPUInferError.shapeMismatch(node: node.label, op: "TopK", reason: "k = \(k) is outside 0...\(shape[a]) (axis \(axis) of \(shape))")
        }
        var out = shape
        out[a] = k
        return (AxisRows(shape, axis: a), k, out)
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, "TopK")
        let g = try geometry(x.shape, k: constants.optional(1))
        return [TensorType(x.dtype, g.out), TensorType(.int64, g.out)]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, "TopK")
        let (g, k, out) = try geometry(x.shape, k: inputs.optional(1))
        let o = AxisRows(outer: g.outer, length: k, inner: g.inner)
        var indices = [Int64](repeating: 0, count: out.reduce(1, *))
        func select<T: Comparable>(_ v: [T]) -> [T] {
            var values = v.isEmpty ? [] : [T](repeating: v[0], count: indices.count)
            func before(_ a: T, _ b: T) -> Bool { largest ? ArgOrder.better(a, than: b, max: true) : (a == a && (b != b || a < b)) }
            for r in 0..<g.rows {
                let src = g.indices(r)
                // Equal values keep index order; NaN sorts above every number.
                let order = (0..<src.count).sorted { i, j in
                    let a = v[src[i]], b = v[src[j]]
                    return before(a, b) || (!before(b, a) && i < j)
                }
                for (j, dst) in o.indices(r).enumerated() {
                    values[dst] = v[src[order[j]]]
                    indices[dst] = Int64(order[j])
                }
            }
            return values
        }
        let values = x.dtype.isFloat ? Tensor(shape: out, floats: select(x.floats)) : Tensor(shape: out, ints: select(x.ints), dtype: x.dtype)
        return [values, Tensor(shape: out, ints: indices)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, "TopK")
        let (g, k, _) = try geometry(x.type.shape, k: constants.optional(1))
        guard k > 0 else { return }
        let kernel = try ctx.kernel("topk_\(clType(x.type.dtype))", file: "argmax")
        try ctx.launch1D(kernel, [.value(x), .value(outputs[0]), .value(outputs[1])] + g.args + [.int(k), .int(largest ? 1 : 0)], count: g.rows)
    }
}
