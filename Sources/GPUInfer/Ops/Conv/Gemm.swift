// Gemm and MatMul, both lowered to one batched strided GEMM (also used by 1×1 Conv), with the
// activation after them fused at load (FusedActivation).

import Foundation

/// One batched GEMM: Y[b] = alpha·A[b]·B[b] + beta·C[b] for b over `batchDims`, with every
/// operand addressed by strides (element (m,k) of A[b] is at aBatch·b + m·aStride.m + k·aStride.k).
/// Y is dense [batch, M, N]. The host version is the reference; `encode` runs Kernels/gemm.cl.
struct StridedGemm {
    var m: Int, n: Int, k: Int
    var aStride: (m: Int, k: Int)
    var bStride: (k: Int, n: Int)
    var cStride: (m: Int, n: Int) = (0, 0)
    var batchDims: [Int] = []
    var aBatch: [Int] = [], bBatch: [Int] = [], cBatch: [Int] = []
    var alpha: Float = 1, beta: Float = 1
    /// An activation applied to every result (fused into a 1×1 Conv, a Gemm or a MatMul), or nil.
    var activation: FusedActivation?
    /// B as a constant weight in reduced-precision storage (`ExecutionOptions.weightPrecision`):
    /// the buffer and its kernel define, made when gemm_dot runs (the other kernels read fp32 B).
    var reducedB: (() throws -> (buffer: CLBuffer, define: String)?)?

    var batches: Int { batchDims.reduce(1, *) }

    /// Offsets of batch b in A, B and C.
    func offsets(_ b: Int) -> (Int, Int, Int) {
        var rest = b, oa = 0, ob = 0, oc = 0
        for d in stride(from: batchDims.count - 1, through: 0, by: -1) {
            let i = rest % batchDims[d]
            rest /= batchDims[d]
            oa += i * aBatch[d]
            ob += i * bBatch[d]
            oc += i * (cBatch.isEmpty ? 0 : cBatch[d])
        }
        return (oa, ob, oc)
    }

    /// Host GEMM (fp32, sums over k in order, like the kernel).
    func reference(a: [Float], b: [Float], c: [Float]?) -> [Float] {
        var y = [Float](repeating: 0, count: batches * m * n)
        var acc = [Float](repeating: 0, count: n)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                for bi in 0..<batches {
                    let (oa, ob, oc) = offsets(bi)
                    for i in 0..<m {
                        for j in 0..<n { acc[j] = 0 }
                        for kk in 0..<k {
                            let av = a[oa + i * aStride.m + kk * aStride.k]
                            let row = ob + kk * bStride.k
                            for j in 0..<n { acc[j] += av * b[row + j * bStride.n] }
                        }
                        let out = (bi * m + i) * n
                        for j in 0..<n {
                            var v = alpha * acc[j]
                            if let c { v += beta * c[oc + i * cStride.m + j * cStride.n] }
                            y[out + j] = activation?.apply(v) ?? v
                        }
                    }
                }
            }
        }
        return y
    }

    /// Appends the GEMM kernel; `c` nil means no C term.
    func encode(_ ctx: EncodeContext, a: CLBuffer, b: CLBuffer, c: CLBuffer?, y: CLBuffer) throws {
        let rank = batchDims.count
        let meta = try ctx.constants([m, n, k, aStride.m, aStride.k, bStride.k, bStride.n, cStride.m, cStride.n, rank]
            + batchDims + aBatch + bBatch + (cBatch.isEmpty ? [Int](repeating: 0, count: rank) : cBatch))
        let args: [KernelArg] = [.buffer(a), .buffer(b), .buffer(c ?? a), .buffer(y), .buffer(meta), .float(alpha), .float(beta),
                                 .int(c == nil ? 0 : 1), .int(batches)]
        let act = activation.map { " " + $0.options } ?? ""
        switch try variant(ctx) {
        case .clblast(let layout):
            try encodeCLBlast(ctx, layout: layout, a: a, b: b, c: c, y: y, meta: meta)
        case .local(let tile):
            let layout = (aStride.k == 1 ? " -DA_KMAJOR" : "") + (bStride.n == 1 ? " -DB_NMAJOR" : "")
            let kernel = try ctx.kernel("gemm_local", file: "conv_gemm", options: tile.defines + layout + act)
            let local = tile.local
            try ctx.launch(kernel, args + [.ints([m, n, k, aStride.m, aStride.k, bStride.k, bStride.n, cStride.m, cStride.n, rank])], global: [(n + tile.tsn - 1) / tile.tsn * local[0], (m + tile.tsm - 1) / tile.tsm * local[1], batches],
                           local: local)
        case .tile:
            let kernel = try ctx.kernel("gemm_tile", file: "gemm", options: act)
            let tilesN = (n + 3) / 4, tilesM = (m + 3) / 4
            let ln = min(16, max(1, tilesN)), lm = min(max(1, ctx.workGroup / ln), 4)
            try ctx.launch(kernel, args, global: [tilesN, tilesM, batches], local: [ln, lm, 1])
        case .dot(let rows, let cols):
            let reduced = try reducedB?()
            let kernel = try ctx.kernel("gemm_dot", file: "gemm", options: "-DDOT_M=\(rows) -DDOT_N=\(cols)" + act + (reduced?.define ?? ""))
            var dotArgs = args
            if let reduced { dotArgs[1] = .buffer(reduced.buffer) }
            try ctx.launch(kernel, dotArgs, global: [(n + cols - 1) / cols, (m + rows - 1) / rows, batches], local: nil)
        case .rows(let rows, let vectors):
            let kernel = try ctx.kernel("gemm_rows", file: "gemm", options: "-DROW_M=\(rows) -DROW_V=\(vectors)" + act)
            let cols = 16 * vectors
            try ctx.launch(kernel, args, global: [(n + cols - 1) / cols, (m + rows - 1) / rows, batches], local: nil)
        }
    }

    /// Which kernel runs this GEMM (see Kernels/gemm.cl).
    enum Variant: Equatable {
        /// CLBlast's GEMM (CLBlastGemm.swift), then gemm_epilogue for C and the activation.
        case clblast(CLBlastGemmLayout)
        /// gemm_local (Kernels/conv_gemm.cl): work-group tiles staged in local memory, any strides; GPU style.
        case local(LocalGemmTile)
        /// gemm_tile: 4×4 tiles per work-item from global memory, any strides.
        case tile
        /// gemm_dot: float8 dot products, `rows` rows × `cols` columns of Y per work-item; needs
        /// A and B contiguous along K.
        case dot(rows: Int, cols: Int)
        /// gemm_rows: `rows` rows × 16·`vectors` columns of Y per work-item in float16 registers;
        /// needs B contiguous along N.
        case rows(rows: Int, vectors: Int)
    }

    /// The GEMM kernels of Kernels/gemm.cl.
    enum Kernel: String, Equatable, Sendable { case clblast, local, tile, dot, rows }

    /// The kernel for a GEMM whose A and B are (`dotOK`) both contiguous along K, or whose B is
    /// (`rowsOK`) contiguous along N, which CLBlast can express (`clblastOK`: plain matrices, see
    /// CLBlastGemmLayout) on a device it has tuned parameters for (`clblastTuned`): GPU style runs
    /// CLBlast there, else gemm_local (work-group tiles staged in local memory); CPU style the
    /// register-blocked gemm_dot when A and B are contiguous along K (fully connected layers with
    /// transB = 1), else gemm_rows when B is contiguous along N, else gemm_tile. `options.gemm`
    /// ($GPUINFER_GEMM=clblast|local|tile|dot|rows) forces a kernel where its layout condition
    /// holds (for A/B measurements). A pure function: ExecutionOptionsTests pins it.
    static func selectKernel(dotOK: Bool, rowsOK: Bool, clblastOK: Bool = false, clblastTuned: Bool = false,
                             options: ExecutionOptions, family: KernelFamily) -> Kernel {
        switch options.gemm {
        case .clblast where clblastOK: return .clblast
        case .local: return .local
        case .tile: return .tile
        case .auto where family == .gpu, .clblast where family == .gpu:
            return options.gemm == .auto && clblastOK && clblastTuned ? .clblast : .local
        case .dot where dotOK: return .dot
        case .rows where rowsOK: return .rows
        default: return dotOK && options.gemm != .rows ? .dot : rowsOK && options.gemm != .dot ? .rows : .tile
        }
    }

    /// The kernel (`selectKernel`) with its register tile: the tuning database's entry, else the
    /// default; `options.gemmTile` ($GPUINFER_GEMM_TILE) beats both.
    func variant(_ ctx: EncodeContext) throws -> Variant {
        let dotOK = aStride.k == 1 && bStride.k == 1, rowsOK = bStride.n == 1
        let layout = ctx.runtime.device.runsCLBlast ? clblastLayout : nil
        let kernel = Self.selectKernel(dotOK: dotOK, rowsOK: rowsOK, clblastOK: layout != nil, clblastTuned: ctx.runtime.device.clblastTuned,
                                       options: ctx.options, family: ctx.family)
        if kernel == .clblast, let layout { return .clblast(layout) }
        if kernel == .tile { return .tile }
        if kernel == .local { return .local(try ctx.localGemmTile(tuningKey("gemm_local"), m: m, n: n)) }
        let environment = ctx.options.gemmTile.map { ["R": $0.a, "C": $0.b] }
        let space = TuningSpace(axes: [("R", [1, 2, 4, 8]), ("C", [1, 2, 4, 8])]) { p in
            guard let r = p["R"], let c = p["C"] else { return false }
            return (1...8).contains(r) && (1...8).contains(c)
        }
        let rowsDefault = m >= 4 ? 4 : m >= 2 ? 2 : 1
        if kernel == .dot {
            // Rows of A per work-item: each B row loaded is reused by every one of them. At most
            // 8 float8 accumulators + operands: they stay in the 16 AVX2 registers.
            let p = ctx.tunedParameters(tuningKey("gemm_dot"), defaults: ["R": rowsDefault, "C": m >= 4 ? 2 : 4], space: space, environment: environment)
            return .dot(rows: p["R"] ?? rowsDefault, cols: p["C"] ?? 4)
        }
        if kernel == .rows {
            // rows × 16 columns: rows·2 + 2 AVX2 registers (more spill, measured on PoCL).
            let p = ctx.tunedParameters(tuningKey("gemm_rows"), defaults: ["R": rowsDefault, "C": 1], space: space, environment: environment)
            return .rows(rows: p["R"] ?? rowsDefault, vectors: p["C"] ?? 1)
        }
        return .tile
    }

    /// The tuning database key of this GEMM for a kernel family (sizes, strides, batches).
    func tuningKey(_ family: String) -> TuningKey {
        TuningKey(family: family, kernel: "gemm",
                  signature: "m\(m) n\(n) k\(k) a\(aStride.m),\(aStride.k) b\(bStride.k),\(bStride.n) c\(cStride.m),\(cStride.n) batch\(batchDims)"
                      + (activation == nil ? "" : " act"))
    }
}

/// ONNX Gemm: Y = alpha·op(A)·op(B) + beta·C, C broadcast unidirectionally to [M, N].
struct Gemm: Operator {
    static let opTypes = ["Gemm"]
    let transA: Bool, transB: Bool, alpha: Float, beta: Float
    let label: String
    /// An activation folded into this Gemm at load time (FusedActivation), applied at the store.
    let activation: FusedActivation?

    init(node: Node, opset: Int) throws {
        activation = try FusedActivation(node: node)
        transA = try node.int("transA", default: 0) != 0
        transB = try node.int("transB", default: 0) != 0
        alpha = try node.float("alpha", default: 1)
        beta = try node.float("beta", default: 1)
        label = node.label
    }

    private func plan(_ a: [Int], _ b: [Int], _ c: [Int]?) throws -> StridedGemm {
        guard a.count == 2, b.count == 2 else { throw GPUInferError.shapeMismatch(node: label, op: "Gemm", reason: "A \(a) and B \(b) must be 2-D") }
        let (m, k) = transA ? (a[1], a[0]) : (a[0], a[1])
        let (kb, n) = transB ? (b[1], b[0]) : (b[0], b[1])
        guard k == kb else { throw GPUInferError.shapeMismatch(node: label, op: "Gemm", reason: "inner dimensions differ: A \(a)\(transA ? "ᵀ" : ""), B \(b)\(transB ? "ᵀ" : "")") }
        var g = StridedGemm(m: m, n: n, k: k, aStride: transA ? (1, m) : (k, 1), bStride: transB ? (1, k) : (n, 1), alpha: alpha, beta: beta)
        g.activation = activation
        if let c {
            guard c.count <= 2, Shape.broadcast([c, [m, n]]) == [m, n] else {
                throw GPUInferError.shapeMismatch(node: label, op: "Gemm", reason: "C \(c) does not broadcast to [\(m), \(n)]")
            }
            let s = Shape.broadcastStrides(c, to: [m, n])
            g.cStride = (s[0], s[1])
        }
        return g
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let a: TensorType = try inputs.required(0, "Gemm"), b: TensorType = try inputs.required(1, "Gemm")
        try requireFloat([a, b, inputs.optional(2)].compactMap { $0 }, label)
        let g = try plan(a.shape, b.shape, inputs.optional(2)?.shape)
        return [TensorType(.float32, [g.m, g.n])]
    }

    func flops(_ inputs: [TensorType?], outputs: [TensorType]) -> Double {
        guard let a = inputs.first ?? nil, a.shape.count == 2, let y = outputs.first else { return 0 }
        return 2 * Double(y.count) * Double(transA ? a.shape[0] : a.shape[1])
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let a: Tensor = try inputs.required(0, "Gemm"), b: Tensor = try inputs.required(1, "Gemm")
        let c: Tensor? = inputs.optional(2)
        let g = try plan(a.shape, b.shape, c?.shape)
        return [Tensor(shape: [g.m, g.n], floats: g.reference(a: a.floats, b: b.floats, c: c?.floats))]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let a: DeviceValue = try inputs.required(0, "Gemm"), b: DeviceValue = try inputs.required(1, "Gemm")
        let c: DeviceValue? = inputs.optional(2)
        var g = try plan(a.type.shape, b.type.shape, c?.type.shape)
        try ctx.require32BitIndexing([a, b, c, outputs[0]])
        // A constant B (a fully connected layer's weight) in the options' storage precision.
        g.reducedB = { try ctx.reducedConstant(constants, input: 1) }
        try g.encode(ctx, a: a.buffer, b: b.buffer, c: c?.buffer, y: outputs[0].buffer)
    }
}

/// ONNX MatMul (NumPy matmul): 1-D operands are promoted and the added axis removed, batch
/// dimensions broadcast.
struct MatMul: Operator {
    static let opTypes = ["MatMul"]
    let label: String
    /// An activation folded into this MatMul at load time (FusedActivation), applied at the store.
    let activation: FusedActivation?
    init(node: Node, opset: Int) throws {
        label = node.label
        activation = try FusedActivation(node: node)
    }

    /// The GEMM and the output shape for operand shapes `a`, `b`.
    private func plan(_ a: [Int], _ b: [Int]) throws -> (StridedGemm, [Int]) {
        guard !a.isEmpty, !b.isEmpty else { throw GPUInferError.shapeMismatch(node: label, op: "MatMul", reason: "scalar operands \(a), \(b)") }
        let pa = a.count == 1 ? [1, a[0]] : a, pb = b.count == 1 ? [b[0], 1] : b
        let m = pa[pa.count - 2], k = pa[pa.count - 1], n = pb[pb.count - 1]
        guard pb[pb.count - 2] == k else { throw GPUInferError.shapeMismatch(node: label, op: "MatMul", reason: "inner dimensions differ: \(a) × \(b)") }
        let ba = Array(pa.dropLast(2)), bb = Array(pb.dropLast(2))
        guard let batch = Shape.broadcast([ba, bb]) else {
            throw GPUInferError.shapeMismatch(node: label, op: "MatMul", reason: "batch dimensions of \(a) and \(b) do not broadcast")
        }
        var out = batch
        if a.count > 1 { out.append(m) }
        if b.count > 1 { out.append(n) }
        var g = StridedGemm(m: m, n: n, k: k, aStride: (k, 1), bStride: (n, 1))
        g.activation = activation
        if bb.reduce(1, *) == 1 {
            // B is one matrix: fold A's batch into its rows (one larger GEMM).
            g.m = batch.reduce(1, *) * m
        } else {
            g.batchDims = batch
            g.aBatch = Shape.broadcastStrides(ba, to: batch).map { $0 * m * k }
            g.bBatch = Shape.broadcastStrides(bb, to: batch).map { $0 * k * n }
        }
        return (g, out)
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let a: TensorType = try inputs.required(0, "MatMul"), b: TensorType = try inputs.required(1, "MatMul")
        try requireFloat([a, b], label)
        return [TensorType(.float32, try plan(a.shape, b.shape).1)]
    }

    func flops(_ inputs: [TensorType?], outputs: [TensorType]) -> Double {
        guard let a = inputs.first ?? nil, let k = a.shape.last, let y = outputs.first else { return 0 }
        return 2 * Double(y.count) * Double(k)
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let a: Tensor = try inputs.required(0, "MatMul"), b: Tensor = try inputs.required(1, "MatMul")
        let (g, out) = try plan(a.shape, b.shape)
        return [Tensor(shape: out, floats: g.reference(a: a.floats, b: b.floats, c: nil))]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let a: DeviceValue = try inputs.required(0, "MatMul"), b: DeviceValue = try inputs.required(1, "MatMul")
        let (g, _) = try plan(a.type.shape, b.type.shape)
        try ctx.require32BitIndexing([a, b, outputs[0]])
        try g.encode(ctx, a: a.buffer, b: b.buffer, c: nil, y: outputs[0].buffer)
    }
}

/// Throws `unsupportedDType` unless every type is float32.
func requireFloat(_ types: [TensorType], _ label: String) throws {
    if let t = types.first(where: { !$0.dtype.isFloat }) {
        throw GPUInferError.unsupportedDType("\(t.dtype)", location: "node '\(label)': only float32 is implemented")
    }
}
