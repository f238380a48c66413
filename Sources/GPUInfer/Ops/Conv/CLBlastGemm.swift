// StridedGemm through CLBlast (Debian libclblast-dev), the GEMM library with tuned parameters for
// NVIDIA, AMD, Intel and Arm GPUs. CLBlast enqueues its kernels on the plan's in-order queue, in
// order with ours (no event, no extra synchronisation); alpha goes to CLBlast, which writes
// Y = alpha·A·B (beta 0: Y is not read), and the C term and the fused activation follow in one
// gemm_epilogue pass (Kernels/gemm.cl). Chosen by StridedGemm.selectKernel.
import CCLBlast
import COpenCL

/// How a StridedGemm maps onto CLBlast's row-major GEMM: the transposes and leading dimensions of
/// A and B, and the batches as one stride per operand or, where the batch dimensions do not
/// flatten to one stride, as offsets per batch.
struct CLBlastGemmLayout: Equatable, Sendable {
    var transA: Bool, lda: Int
    var transB: Bool, ldb: Int
    enum Batches: Equatable, Sendable {
        case single
        case strided(a: Int, b: Int)
        case offsets(a: [Int], b: [Int])
    }
    var batches: Batches

    /// Transpose flag and leading dimension of a `rows`×`cols` matrix whose element (r, c) is at
    /// r·rowStride + c·colStride: row-major (contiguous rows that do not overlap) or its
    /// transpose; nil for anything else (a broadcast row or column, both strides > 1).
    static func matrix(rows: Int, cols: Int, rowStride: Int, colStride: Int) -> (transposed: Bool, ld: Int)? {
        if colStride == 1 || cols == 1 {
            if rows == 1 { return (false, cols) }
            if rowStride >= cols { return (false, rowStride) }
        }
        if rowStride == 1 || rows == 1 {
            if cols == 1 { return (true, rows) }
            if colStride >= rows { return (true, colStride) }
        }
        return nil
    }
}

extension StridedGemm {
    /// The CLBlast form of this GEMM, or nil where CLBlast cannot express it (see
    /// `CLBlastGemmLayout.matrix`; empty sizes).
    var clblastLayout: CLBlastGemmLayout? {
        guard m > 0, n > 0, k > 0,
              let a = CLBlastGemmLayout.matrix(rows: m, cols: k, rowStride: aStride.m, colStride: aStride.k),
              let b = CLBlastGemmLayout.matrix(rows: k, cols: n, rowStride: bStride.k, colStride: bStride.n) else { return nil }
        var layout = CLBlastGemmLayout(transA: a.transposed, lda: a.ld, transB: b.transposed, ldb: b.ld, batches: .single)
        let count = batches
        if count > 1 {
            let offsets = (0..<count).map { self.offsets($0) }
            let sa = offsets[1].0, sb = offsets[1].1
            if offsets.indices.allSatisfy({ offsets[$0].0 == $0 * sa && offsets[$0].1 == $0 * sb }) {
                layout.batches = .strided(a: sa, b: sb)
            } else {
                layout.batches = .offsets(a: offsets.map(\.0), b: offsets.map(\.1))
            }
        }
        return layout
    }

    /// Appends the CLBlast call, then gemm_epilogue where there is a C term or an activation
    /// (`meta`: the GEMM's shape and strides, as `encode` uploads them for every GEMM kernel).
    func encodeCLBlast(_ ctx: EncodeContext, layout: CLBlastGemmLayout, a: CLBuffer, b: CLBuffer, c: CLBuffer?, y: CLBuffer,
                       meta: CLBuffer) throws {
        let (m, n, k, alpha, count) = (m, n, k, alpha, batches)
        let label = ctx.node.label
        let routine: String
        switch layout.batches {
        case .single: routine = "CLBlastSgemm"
        case .strided: routine = "CLBlastSgemmStridedBatched"
        case .offsets: routine = "CLBlastSgemmBatched"
        }
        ctx.custom(routine) { runtime in
            var queue: cl_command_queue? = runtime.queue
            let ta = layout.transA ? CLBlastTransposeYes : CLBlastTransposeNo
            let tb = layout.transB ? CLBlastTransposeYes : CLBlastTransposeNo
            let status: CLBlastStatusCode
            switch layout.batches {
            case .single:
                status = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, m, n, k, alpha, a.mem, 0, layout.lda, b.mem, 0, layout.ldb,
                                      0, y.mem, 0, n, &queue, nil)
            case let .strided(sa, sb):
                status = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, m, n, k, alpha, a.mem, 0, layout.lda, sa,
                                                    b.mem, 0, layout.ldb, sb, 0, y.mem, 0, n, m * n, count, &queue, nil)
            case let .offsets(oa, ob):
                let alphas = [Float](repeating: alpha, count: count), betas = [Float](repeating: 0, count: count)
                let oc = (0..<count).map { $0 * m * n }
                status = CLBlastSgemmBatched(CLBlastLayoutRowMajor, ta, tb, m, n, k, alphas, a.mem, oa, layout.lda, b.mem, ob, layout.ldb,
                                             betas, y.mem, oc, n, count, &queue, nil)
            }
            guard status == CLBlastSuccess else {
                throw GPUInferError.openCL(status: Int32(truncatingIfNeeded: status.rawValue),
                                           call: "\(routine) (node '\(label)', \(m)×\(n)×\(k), \(count) batch\(count == 1 ? "" : "es"))",
                                           kernel: nil)
            }
        }
        guard c != nil || activation != nil else { return }
        let total = count * m * n
        try ctx.launch1D(try ctx.kernel("gemm_epilogue", file: "gemm", options: activation?.options ?? ""),
                         [.buffer(y), .buffer(c ?? y), .buffer(meta), .float(beta), .int(c == nil ? 0 : 1), .int(total)], count: total)
    }
}
