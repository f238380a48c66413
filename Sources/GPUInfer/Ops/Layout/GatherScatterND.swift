// GatherND (with batch_dims) and ScatterND (reduction "none"): index tuples of int64 addressing
// the leading dims of data (after the batch dims); negative indices wrap. Kernels/gather_nd.cl.

/// The index-tuple geometry shared by GatherND and ScatterND.
struct NDIndexing {
    /// Batch count (product of the first batch_dims dims), tuples per batch, tuple length,
    /// elements per addressed slice, and the addressed dims.
    var batches: Int, tuples: Int, k: Int, inner: Int
    var dims: [Int]
    /// Elements of data per batch.
    var slab: Int { dims.reduce(1, *) * inner }

    /// Flat slice offset (in slices) of tuple `t` (global tuple number) from `ix`, wrapping
    /// negative values; throws naming an out-of-range index.
    func offset(_ ix: [Int64], tuple t: Int, _ context: LayoutContext) throws -> Int {
        var off = 0
        for j in 0..<k {
            off = off * dims[j] + (try context.wrapIndex(ix[t * k + j], dims[j]))
        }
        return off
    }
}

/// GatherND: out[b, m, r] = data[b, indices[b, m, :], r] (ONNX opset 11/12/13).
struct GatherND: Operator {
    static let opTypes = ["GatherND"]
    /// Row-local (`Operator.isRowLocal`): runs on row-bounded inputs without a plan cut.
    static let isRowLocal = true
    let context: LayoutContext
    let batchDims: Int

    init(node: Node, opset: Int) throws {
        context = LayoutContext(node, opset)
        batchDims = try node.int("batch_dims", default: 0)
        guard batchDims >= 0 else { throw node.attributeError("batch_dims", "must be ≥ 0, got \(batchDims)") }
    }

    func resolve(_ inputs: [TensorType?]) throws -> (TensorType, NDIndexing) {
        let data = try context.type(inputs, 0), indices = try context.type(inputs, 1)
        guard !indices.dtype.isFloat else { throw context.shapeError("indices must be integers") }
        let (d, q, b) = (data.shape, indices.shape, batchDims)
        guard let k = q.last, q.count >= 1, b < min(d.count, q.count), k >= 1, k <= d.count - b,
              Array(d[..<b]) == Array(q[..<b]) else {
            throw context.shapeError("indices \(q) do not fit data \(d) with batch_dims \(b) (need 1 ≤ indices[-1] ≤ rank − batch_dims and equal batch dims)")
        }
        let out = Array(q.dropLast()) + d[(b + k)...]
        let nd = NDIndexing(batches: d[..<b].reduce(1, *), tuples: q[b..<(q.count - 1)].reduce(1, *), k: k,
                            inner: d[(b + k)...].reduce(1, *), dims: Array(d[b..<(b + k)]))
        return (TensorType(data.dtype, out), nd)
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] { [try resolve(inputs).0] }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let data = try inputs.required(0, "GatherND"), indices = try inputs.required(1, "GatherND")
        let (t, nd) = try resolve(TensorType.of(inputs))
        let ix = indices.int64Values
        var source: [Int] = []
        source.reserveCapacity(t.count)
        for bb in 0..<nd.batches {
            for m in 0..<nd.tuples {
                let base = bb * nd.slab + (try nd.offset(ix, tuple: bb * nd.tuples + m, context)) * nd.inner
                source += base..<(base + nd.inner)
            }
        }
        return [data.picking(t.shape, source)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let data = try inputs.required(0, "GatherND"), indices = try inputs.required(1, "GatherND")
        let (t, nd) = try resolve(inputs.map { $0?.type })
        if let c = constants.optional(1) {
            let ix = c.int64Values
            for tuple in 0..<(nd.batches * nd.tuples) { _ = try nd.offset(ix, tuple: tuple, context) }
        }
        guard t.count > 0 else { return }
        guard nd.dims.allSatisfy({ $0 > 0 }) else { throw ctx.error("gathering from an empty dimension") }
        let kernel = try ctx.kernel("gather_nd", file: "gather_nd", options: "-DT=\(clType(t.dtype))")
        try ctx.launch1D(kernel, [.int(t.count), .value(data), .value(indices), .value(outputs[0]), .int(nd.k), .int(nd.tuples),
                                  .int(nd.inner), .int(nd.slab), .buffer(try ctx.constants(nd.dims))], count: t.count)
    }
}

/// ScatterND with reduction "none": out = data, then out[indices[m, :], r] = updates[m, r].
/// Duplicate index tuples leave an unspecified one of their updates (as ONNX says).
struct ScatterND: Operator {
    static let opTypes = ["ScatterND"]
    let context: LayoutContext

    init(node: Node, opset: Int) throws {
        context = LayoutContext(node, opset)
        let reduction = try node.string("reduction", default: "none")
        guard reduction == "none" else { throw context.unsupported("reduction '\(reduction)' is not implemented (only 'none')") }
    }

    func resolve(_ inputs: [TensorType?]) throws -> (TensorType, NDIndexing) {
        let data = try context.type(inputs, 0), indices = try context.type(inputs, 1), updates = try context.type(inputs, 2)
        guard !indices.dtype.isFloat else { throw context.shapeError("indices must be integers") }
        guard updates.dtype == data.dtype else { throw context.shapeError("updates \(updates.dtype) differ from data \(data.dtype)") }
        let (d, q) = (data.shape, indices.shape)
        guard let k = q.last, k >= 1, k <= d.count else { throw context.shapeError("indices \(q) do not fit data \(d)") }
        let expected = Array(q.dropLast()) + d[k...]
        guard updates.shape == expected else { throw context.shapeError("updates \(updates.shape) must be \(expected)") }
        let nd = NDIndexing(batches: 1, tuples: q.dropLast().reduce(1, *), k: k, inner: d[k...].reduce(1, *), dims: Array(d[..<k]))
        return (data, nd)
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] { [try resolve(inputs).0] }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let data = try inputs.required(0, "ScatterND"), indices = try inputs.required(1, "ScatterND")
        let updates = try inputs.required(2, "ScatterND")
        let (t, nd) = try resolve(TensorType.of(inputs))
        let ix = indices.int64Values
        var source = Array(0..<t.count)  // < count: from data; ≥ count: updates[i − count]
        for m in 0..<nd.tuples {
            let base = try nd.offset(ix, tuple: m, context) * nd.inner
            for r in 0..<nd.inner { source[base + r] = t.count + m * nd.inner + r }
        }
        if t.dtype.isFloat {
            return [Tensor(shape: t.shape, floats: source.map { $0 < t.count ? data.floats[$0] : updates.floats[$0 - t.count] })]
        }
        return [Tensor(shape: t.shape, ints: source.map { $0 < t.count ? data.ints[$0] : updates.ints[$0 - t.count] }, dtype: t.dtype)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let data = try inputs.required(0, "ScatterND"), indices = try inputs.required(1, "ScatterND")
        let updates = try inputs.required(2, "ScatterND")
        let (t, nd) = try resolve(inputs.map { $0?.type })
        if let c = constants.optional(1) { for m in 0..<nd.tuples { _ = try nd.offset(c.int64Values, tuple: m, context) } }
        guard t.count > 0 else { return }
        let options = "-DT=\(clType(t.dtype))"
        try ctx.launch1D(try ctx.kernel("scatter_nd_copy", file: "gather_nd", options: options),
                         [.int(t.count), .value(data), .value(outputs[0])], count: t.count)
        guard nd.tuples * nd.inner > 0 else { return }
        try ctx.launch1D(try ctx.kernel("scatter_nd", file: "gather_nd", options: options),
                         [.int(nd.tuples * nd.inner), .value(indices), .value(updates), .value(outputs[0]), .int(nd.k), .int(nd.inner),
                          .buffer(try ctx.constants(nd.dims))], count: nd.tuples * nd.inner)
    }
}
