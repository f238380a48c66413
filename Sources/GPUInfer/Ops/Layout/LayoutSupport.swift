// Shared machinery of the Layout family: node identity for errors, constant-input readers, host
// element picking (used by the references) and the strided-copy descriptor that copy.cl runs.
import Foundation

/// Identity of a layout node, for error messages and attribute checks.
struct LayoutContext: Sendable {
    let label: String
    let op: String
    let opset: Int

    init(_ node: Node, _ opset: Int) {
        label = node.label
        op = node.opType
        self.opset = opset
    }

    func shapeError(_ reason: String) -> GPUInferError { .shapeMismatch(node: label, op: op, reason: reason) }
    func unsupported(_ reason: String) -> GPUInferError {
        .unsupportedOp(op: op, domain: "", node: label, opset: opset, reason: reason)
    }
    func invalid(_ reason: String) -> GPUInferError { .invalidModel(location: "node '\(label)' (\(op))", reason: reason) }

    /// The type of required input `i`.
    func type(_ inputs: [TensorType?], _ i: Int) throws -> TensorType {
        guard let t = inputs.optional(i) else { throw invalid("required input \(i) is missing") }
        return t
    }

    /// The integer values of input `i` when it is present; throws if present but unknown.
    func ints(_ constants: [Tensor?], _ types: [TensorType?], _ i: Int) throws -> [Int]? {
        guard types.optional(i) != nil else { return nil }
        guard let c = constants.optional(i) else { throw unsupported("input \(i) must be a constant or computable from shapes") }
        return c.int64Values.map { Int($0) }
    }

    /// The float values of input `i` when it is present; throws if present but unknown.
    func floats(_ constants: [Tensor?], _ types: [TensorType?], _ i: Int) throws -> [Float]? {
        guard types.optional(i) != nil else { return nil }
        guard let c = constants.optional(i) else { throw unsupported("input \(i) must be a constant or computable from shapes") }
        return c.floatValues
    }

    /// The integer values of input `i` of host tensors (reference path), nil when omitted.
    func ints(_ inputs: [Tensor?], _ i: Int) -> [Int]? { inputs.optional(i).map { $0.int64Values.map { Int($0) } } }

    /// Normalizes a possibly negative axis against `rank`.
    func axis(_ a: Int, rank: Int) throws -> Int {
        guard rank > 0, let v = Shape.axis(a, rank: rank) else {
            throw shapeError("axis \(a) is out of range for rank \(rank)")
        }
        return v
    }

    /// Normalizes a list of distinct axes against `rank`.
    func axes(_ list: [Int], rank: Int) throws -> [Int] {
        let v = try list.map { a -> Int in
            guard let n = Shape.axis(a, rank: rank), rank > 0 else { throw shapeError("axis \(a) is out of range for rank \(rank)") }
            return n
        }
        guard Set(v).count == v.count else { throw shapeError("repeated axis in \(list)") }
        return v
    }
}

extension TensorType {
    /// Input types of host tensors.
    static func of(_ inputs: [Tensor?]) -> [TensorType?] { inputs.map { $0.map { TensorType($0.dtype, $0.shape) } } }
}

extension Tensor {
    /// A tensor of `shape` (same dtype) whose element k is element `source[k]` of self.
    func picking(_ shape: [Int], _ source: [Int]) -> Tensor {
        dtype.isFloat ? Tensor(shape: shape, floats: source.map { floats[$0] })
            : Tensor(shape: shape, ints: source.map { ints[$0] }, dtype: dtype)
    }

    /// A tensor of `shape` whose element at each multi-index is self's element at flat `map(index)`.
    func mapped(_ shape: [Int], _ map: ([Int]) -> Int) -> Tensor {
        var source: [Int] = []
        source.reserveCapacity(shape.reduce(1, *))
        forEachIndex(shape) { _, idx in source.append(map(idx)) }
        return picking(shape, source)
    }

    /// Concatenation of the elements of several tensors of this dtype (in order) as `shape`.
    static func joined(_ parts: [Tensor], dtype: DType, shape: [Int]) -> Tensor {
        dtype.isFloat ? Tensor(shape: shape, floats: parts.flatMap(\.floats))
            : Tensor(shape: shape, ints: parts.flatMap(\.ints), dtype: dtype)
    }
}

/// One launch of `strided_copy` in copy.cl, over the index space `dims`:
/// dst[dstBase + Σ idx_k·dst_k] = src[srcBase + Σ (idx_k mod mod_k)·src_k].
/// Transpose, Slice, Expand, Tile, Concat, Split, DepthToSpace and SpaceToDepth are all this.
struct StridedCopy {
    var dims: [Int]
    var src: [Int]
    var dst: [Int]
    var mod: [Int]
    var srcBase = 0
    var dstBase = 0

    /// `dst` defaults to the C-order strides of `dims`, `mod` to `dims` (no wrap-around).
    init(dims: [Int], src: [Int], dst: [Int]? = nil, mod: [Int]? = nil, srcBase: Int = 0, dstBase: Int = 0) {
        self.dims = dims
        self.src = src
        self.dst = dst ?? Shape.strides(dims)
        self.mod = mod ?? dims
        self.srcBase = srcBase
        self.dstBase = dstBase
    }

    var count: Int { dims.reduce(1, *) }

    /// The same copy with unit dims dropped and neighbours that are contiguous in both source
    /// and destination merged, so the kernel decomposes as few indices as possible.
    func simplified() -> StridedCopy {
        var r = StridedCopy(dims: [], src: [], dst: [], mod: [], srcBase: srcBase, dstBase: dstBase)
        for k in dims.indices where dims[k] != 1 {
            if let last = r.dims.indices.last, r.mod[last] >= r.dims[last], mod[k] >= dims[k],
               r.src[last] == src[k] * dims[k], r.dst[last] == dst[k] * dims[k] {
                r.dims[last] *= dims[k]
                r.mod[last] = r.dims[last]
                r.src[last] = src[k]
                r.dst[last] = dst[k]
            } else {
                r.dims.append(dims[k])
                r.src.append(src[k])
                r.dst.append(dst[k])
                r.mod.append(mod[k])
            }
        }
        return r
    }

    /// For a simplified copy that is dst[b][p][q] = src[b][q][p] (source [B][Q][P] and destination
    /// [B][P][Q], both dense, no wrap-around): P, Q and B (1 when there is no batch dim).
    var batchedTranspose: (p: Int, q: Int, batch: Int)? {
        let r = dims.count
        guard r == 2 || r == 3, mod == dims else { return nil }
        let p = dims[r - 2], q = dims[r - 1]
        guard src[r - 2] == 1, src[r - 1] == p, dst[r - 2] == q, dst[r - 1] == 1 else { return nil }
        if r == 3 { guard src[0] == p * q, dst[0] == p * q else { return nil } }
        return (p, q, r == 3 ? dims[0] : 1)
    }

    /// Appends the launch copying from `source` into `target`.
    func encode(_ ctx: EncodeContext, from source: DeviceValue, to target: DeviceValue) throws {
        let n = count
        guard n > 0 else { return }
        let s = simplified()
        // CPU style, contiguous innermost runs of at least 16 elements: copied run by run with vector loads
        // and stores (strided_copy_runs), instead of decomposing every element's index.
        if !ctx.gpuStyle, let inner = s.dims.indices.last, s.src[inner] == 1, s.dst[inner] == 1, s.mod[inner] >= s.dims[inner], s.dims[inner] >= 16 {
            let run = 512, outer = s.dims.count - 1
            let rows = n / s.dims[inner]
            let meta = outer == 0 ? [0] : Array(s.dims.prefix(outer) + s.src.prefix(outer) + s.mod.prefix(outer) + s.dst.prefix(outer))
            let kernel = try ctx.kernel("strided_copy_runs", file: "copy", options: "-DT=\(clType(target.type.dtype)) -DRUN=\(run)")
            try ctx.launch(kernel, [.int(s.dims[inner]), .int(rows), .int(outer), .buffer(try ctx.constants(meta)), .value(source),
                                    .int(s.srcBase), .value(target), .int(s.dstBase)],
                           global: [(s.dims[inner] + run - 1) / run, rows], local: nil)
            return
        }
        // CPU style, a (batched) 2-D transpose into a C-order destination (NCHW → NHWC and
        // the like): 8×8 tiles with vector loads and stores (transpose_tiles).
        if !ctx.gpuStyle, let t = s.batchedTranspose, ctx.options.transposeTiles {
            let kernel = try ctx.kernel("transpose_tiles", file: "copy", options: "-DT=\(clType(target.type.dtype))")
            try ctx.launch(kernel, [.int(t.p), .int(t.q), .int(t.batch), .value(source), .int(s.srcBase), .value(target), .int(s.dstBase)],
                           global: [(t.p + 7) / 8, (t.q + 7) / 8, t.batch], local: nil)
            return
        }
        let kernel = try ctx.kernel("strided_copy", file: "copy", options: "-DT=\(clType(target.type.dtype))")
        let meta = try ctx.constants(s.dims + s.src + s.mod + s.dst)
        try ctx.launch1D(kernel, [.int(n), .int(s.dims.count), .buffer(meta), .value(source), .int(s.srcBase),
                                  .value(target), .int(s.dstBase)], count: n)
    }
}
