// TopK: the k largest (or smallest) elements along an axis and their int64 indices. Kernels/argmax.cl
// (one work-item per row) for short rows, Kernels/topk.cl (work-group chunk sort and merges) for long ones.

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
        guard !shape.isEmpty else {
            throw GPUInferError.shapeMismatch(node: node.label, op: "TopK", reason: "expects an input of rank ≥ 1, got a scalar")
        }
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

    /// The device kernels: `rows` (argmax.cl's topk_*) runs one work-item per row inserting into
    /// the k output slots, O(length·k) per row; `workGroup` (topk.cl) sorts chunks of a row in
    /// local memory and merges the sorted chunks pairwise keeping the best k, O(length·log²) spread
    /// over work-groups, for long rows.
    enum Variant: Equatable { case rows, workGroup }

    /// The kernel for `rows` rows of `length` with `k` kept. Short rows (≤ 256), and a tiny k
    /// (≤ 8) over enough rows (≥ 256) to fill the device, take the per-row insertion. Otherwise
    /// the GPU style takes the work-group kernel (a long serial loop in one work-item is what a
    /// GPU runs worst), and the CPU style keeps the insertion while its worst case length·k stays
    /// ≤ 2²³: on PoCL (2 cores) a 20011-score row with k = 300 takes 0.3 ms by insertion on random
    /// scores and 4.7 ms on ascending ones (the worst case), against 2.5–4.4 ms for the work-group
    /// kernel, whose cost does not depend on the data.
    static func variant(rows: Int, length: Int, k: Int, gpuStyle: Bool) -> Variant {
        if length <= 256 { return .rows }
        if k <= 8 && rows >= 256 { return .rows }
        if !gpuStyle && length * k <= 1 << 23 { return .rows }
        return .workGroup
    }

    /// Elements per work-group of the chunk sort: twice the work-group size, which is the largest
    /// power of two ≤ min(256, the device's limit).
    static func chunk(maxWorkGroupSize: Int) -> Int {
        var wg = 1
        while wg * 2 <= min(256, maxWorkGroupSize) { wg *= 2 }
        return 2 * wg
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, "TopK")
        let (g, k, _) = try geometry(x.type.shape, k: constants.optional(1))
        try encode(ctx, x: x, outputs: outputs, rows: g, k: k, variant: Self.variant(rows: g.rows, length: g.length, k: k, gpuStyle: ctx.gpuStyle))
    }

    /// Encodes TopK with a given kernel variant (tests force each one).
    func encode(_ ctx: EncodeContext, x: DeviceValue, outputs: [DeviceValue], rows g: AxisRows, k: Int, variant: Variant) throws {
        guard k > 0, g.rows > 0 else { return }
        let t = clType(x.type.dtype)
        switch variant {
        case .rows:
            let kernel = try ctx.kernel("topk_\(t)", file: "argmax")
            try ctx.launch1D(kernel, [.value(x), .value(outputs[0]), .value(outputs[1])] + g.args + [.int(k), .int(largest ? 1 : 0)], count: g.rows)
        case .workGroup:
            let chunk = Self.chunk(maxWorkGroupSize: ctx.runtime.device.maxWorkGroupSize)
            let chunks = (g.length + chunk - 1) / chunk, s0 = min(k, chunk)
            let options = "-DT=\(t) -DCHUNK=\(chunk)"
            let slots = g.rows * chunks * s0, size = x.type.dtype.deviceByteSize
            // Ping-pong lists (values, indices) for the merge levels; none for one-chunk rows.
            let lists: [(CLBuffer, CLBuffer)] = chunks == 1 ? [(outputs[0].buffer, outputs[1].buffer)] : try (0..<2).map { i in
                (try ctx.workspace(2 * i, bytes: slots * size), try ctx.workspace(2 * i + 1, bytes: slots * 4))
            }
            let common: [KernelArg] = g.args + [.int(k), .int(largest ? 1 : 0), .int(chunks)]
            try ctx.launch(try ctx.kernel("topk_chunks", file: "topk", options: options),
                           [.value(x), .buffer(lists[0].0), .buffer(lists[0].1), .value(outputs[0]), .value(outputs[1])] + common,
                           global: [g.rows * chunks * chunk / 2], local: [chunk / 2])
            var levels = 0
            while 1 << levels < chunks { levels += 1 }
            for level in 0..<levels {
                let src = lists[level % 2], dst = lists[(level + 1) % 2]
                try ctx.launch1D(try ctx.kernel("topk_merge", file: "topk", options: options),
                                 [.buffer(src.0), .buffer(src.1), .buffer(dst.0), .buffer(dst.1), .value(outputs[0]), .value(outputs[1])]
                                    + common + [.int(level), .int(level == levels - 1 ? 1 : 0)], count: slots)
            }
        }
    }
}
