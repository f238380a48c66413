// ArgMax and ArgMin along one axis (int64 output), with keepdims and select_last_index.

/// The order ArgMax, ArgMin, Hardmax and TopK agree on: NaN beats every number (NumPy's
/// argmax/argmin return the first NaN); among equal values the first index wins.
enum ArgOrder {
    /// Whether `v` beats `b` (strictly) when looking for the maximum (`max`) or minimum.
    static func better<T: Comparable>(_ v: T, than b: T, max: Bool) -> Bool {
        if v != v { return b == b }
        if b != b { return false }
        return max ? v > b : v < b
    }
    /// Whether `v` and `b` tie (both NaN counts as a tie).
    static func tie<T: Comparable>(_ v: T, _ b: T) -> Bool { v == b || (v != v && b != b) }
}

/// ArgMax / ArgMin: the index of the first (or with `select_last_index` the last) extreme
/// element along `axis`, as int64, for float and integer inputs.
struct ArgMax: Operator {
    static let opTypes = ["ArgMax", "ArgMin"]
    let isMax: Bool
    let axis: Int
    let keepDims: Bool
    let selectLast: Bool
    let node: Node

    init(node: Node, opset: Int) throws {
        isMax = node.opType == "ArgMax"
        axis = try node.int("axis", default: 0)
        keepDims = try node.int("keepdims", default: 1) != 0
        selectLast = try node.int("select_last_index", default: 0) != 0
        self.node = node
    }

    func rows(_ shape: [Int]) throws -> (AxisRows, [Int]) {
        guard !shape.isEmpty else {
            throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "expects an input of rank ≥ 1, got a scalar")
        }
        let a = try AxisRows.axis(axis, rank: shape.count, node)
        let g = AxisRows(shape, axis: a)
        guard g.length > 0 || g.rows == 0 else {
            throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "cannot take \(node.opType) over the empty axis \(axis) of \(shape)")
        }
        var out = shape
        if keepDims { out[a] = 1 } else { out.remove(at: a) }
        return (g, out)
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, node.opType)
        return [TensorType(.int64, try rows(x.shape).1)]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, node.opType)
        let (g, out) = try rows(x.shape)
        func pick<T: Comparable>(_ v: [T]) -> [Int64] {
            (0..<g.rows).map { r in
                let idx = g.indices(r)
                var best = 0
                for i in 1..<max(idx.count, 1) {
                    let a = v[idx[i]], b = v[idx[best]]
                    if ArgOrder.better(a, than: b, max: isMax) || (selectLast && ArgOrder.tie(a, b)) { best = i }
                }
                return Int64(best)
            }
        }
        return [Tensor(shape: out, ints: x.dtype.isFloat ? pick(x.floats) : pick(x.ints))]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, node.opType)
        let g = try rows(x.type.shape).0
        let kernel = try ctx.kernel("\(isMax ? "argmax" : "argmin")_\(clType(x.type.dtype))", file: "argmax")
        try ctx.launch1D(kernel, [.value(x), .value(outputs[0])] + g.args + [.int(selectLast ? 1 : 0)], count: g.rows)
    }
}
