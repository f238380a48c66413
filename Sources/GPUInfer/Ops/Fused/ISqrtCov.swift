// ai.gpuinfer::ISqrtCov: iSQRT-COV (fast MPN-COV) global covariance pooling as one fused node —
// covariance, trace pre-normalization, Newton–Schulz iterations, post-compensation and the
// upper-triangle vectorization. Models/mpncov.py defines the same function in standard ONNX ops,
// which runs when fused kernels are disabled (and in onnxruntime).
import Foundation

/// The fused iSQRT-COV head (MODELS.md §3; fast-MPN-COV `MPNCOV.py` `Covpool`, `Sqrtm`, `Triuvec`).
///
/// Input: features `[N,C,H,W]` (or `[N,C,M]`), M = H·W positions. Attribute `iterN` (default 5,
/// ≥ 2: the published `Sqrtm` returns its first iterate un-multiplied for iterN = 1, which no
/// released network uses). Output: `[N, C(C+1)/2]`. Per image:
/// 1. `Σ = X·Ī·Xᵀ`, `Ī = (1/M)I − (1/M²)11ᵀ`, computed as `(1/M)·Xc·Xcᵀ` with `Xc = X − rowmean(X)`
///    (biased, ÷M; centering first keeps fp32 accurate when the mean is large);
/// 2. `tr = trace(Σ)`, `A = Σ / tr`;
/// 3. Newton–Schulz with Y₀ = A, Z₀ = I: `T₁ = ½(3I − A)`, `Y₁ = A·T₁`, `Z₁ = T₁`; for k = 2 … iterN−1
///    `T = ½(3I − Z·Y)`, `Y ← Y·T`, `Z ← T·Z`; finally `Y = Y·½(3I − Z·Y)`;
/// 4. `Y·√tr`, then the upper triangle with the diagonal, row-major (`Y[i][j]`, j ≥ i).
/// All in fp32. Constant features (M = 1, or a zero map) give tr = 0 and NaN, as the published
/// forward does (0/0).
///
/// The stages are separate functions (host reference and device encoder each) so that every
/// kernel is tested on its own against its reference.
struct ISqrtCov: Operator {
    static let domain = "ai.gpuinfer"
    static let opTypes = ["ISqrtCov"]
    let iterN: Int
    let label: String

    init(node: Node, opset: Int) throws {
        iterN = try node.int("iterN", default: 5)
        guard (2...64).contains(iterN) else { throw node.attributeError("iterN", "must be in 2…64, got \(iterN)") }
        label = node.label
    }

    /// Sizes of one application: batch, channels, positions.
    struct Dims: Equatable {
        var n: Int, c: Int, m: Int
        /// Output length per image: C(C+1)/2.
        var k: Int { c * (c + 1) / 2 }
    }

    static func dims(_ x: [Int], label: String) throws -> Dims {
        guard x.count == 3 || x.count == 4 else {
            throw GPUInferError.shapeMismatch(node: label, op: "ISqrtCov", reason: "features \(x) must be [N, C, H, W] or [N, C, M]")
        }
        let d = Dims(n: x[0], c: x[1], m: x.dropFirst(2).reduce(1, *))
        guard d.c > 0, d.m > 0 else {
            throw GPUInferError.shapeMismatch(node: label, op: "ISqrtCov", reason: "features \(x) have no channels or no positions")
        }
        return d
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, "ISqrtCov")
        try requireFloat([x], label)
        let d = try Self.dims(x.shape, label: label)
        return [TensorType(.float32, [d.n, d.k])]
    }

    // MARK: - Host reference, stage by stage (the oracle of each kernel)

    /// Stage 1a: `Xc = X − rowmean(X)` over the M positions of each of the N·C rows
    /// (mean = Σ/M, summed in order).
    static func center(_ x: [Float], _ d: Dims) -> [Float] {
        var out = x
        for r in 0..<(d.n * d.c) {
            var s: Float = 0
            for i in 0..<d.m { s += x[r * d.m + i] }
            let mean = s / Float(d.m)
            for i in 0..<d.m { out[r * d.m + i] = x[r * d.m + i] - mean }
        }
        return out
    }

    /// Stage 1b as a GEMM: `Σ[n] = (1/M)·Xc[n]·Xc[n]ᵀ`, [N,C,C] (B = Xcᵀ read by strides).
    static func covarianceGemm(_ d: Dims) -> StridedGemm {
        StridedGemm(m: d.c, n: d.c, k: d.m, aStride: (d.m, 1), bStride: (1, d.m), batchDims: [d.n],
                    aBatch: [d.c * d.m], bBatch: [d.c * d.m], alpha: 1 / Float(d.m), beta: 0)
    }

    /// Stage 1: the covariance matrices [N,C,C].
    static func covariance(_ x: [Float], _ d: Dims) -> [Float] {
        let xc = center(x, d)
        return covarianceGemm(d).reference(a: xc, b: xc, c: nil)
    }

    /// Stage 2a: the traces [N], diagonal summed in order.
    static func traces(_ sigma: [Float], _ d: Dims) -> [Float] {
        (0..<d.n).map { b in
            var t: Float = 0
            for i in 0..<d.c { t += sigma[(b * d.c + i) * d.c + i] }
            return t
        }
    }

    /// Stage 2b: `A = Σ/tr` and `T₁ = ½(3I − A)`, each [N,C,C].
    static func prepare(_ sigma: [Float], traces: [Float], _ d: Dims) -> (a: [Float], t: [Float]) {
        var a = sigma, t = sigma
        for b in 0..<d.n {
            for i in 0..<d.c {
                for j in 0..<d.c {
                    let p = (b * d.c + i) * d.c + j
                    a[p] = sigma[p] / traces[b]
                    t[p] = 0.5 * ((i == j ? 3 : 0) - a[p])
                }
            }
        }
        return (a, t)
    }

    /// One batched C×C product Y[b] = alpha·P[b]·Q[b] (+ beta·3I when `plus3I`).
    static func product(_ d: Dims, alpha: Float = 1, plus3I: Bool = false) -> StridedGemm {
        StridedGemm(m: d.c, n: d.c, k: d.c, aStride: (d.c, 1), bStride: (d.c, 1), cStride: plus3I ? (d.c, 1) : (0, 0),
                    batchDims: [d.n], aBatch: [d.c * d.c], bBatch: [d.c * d.c], cBatch: plus3I ? [0] : [],
                    alpha: alpha, beta: plus3I ? 0.5 : 0)
    }

    /// 3I as a [C,C] matrix (the C term of `½(3I − Z·Y)` = −½·Z·Y + ½·3I).
    static func threeI(_ c: Int) -> [Float] {
        var e = [Float](repeating: 0, count: c * c)
        for i in 0..<c { e[i * c + i] = 3 }
        return e
    }

    /// Stage 3: the Newton–Schulz iterations from A and T₁, [N,C,C] (before post-compensation).
    /// `½(3I − P)` is evaluated as −½·P + ½·3I, which rounds identically (×½ is exact).
    static func newtonSchulz(a: [Float], t1: [Float], _ d: Dims, iterN: Int) -> [Float] {
        let mul = product(d), half = product(d, alpha: -0.5, plus3I: true), i3 = threeI(d.c)
        var y = mul.reference(a: a, b: t1, c: nil), z = t1
        for _ in 1..<(iterN - 1) {
            let t = half.reference(a: z, b: y, c: i3)
            let yNext = mul.reference(a: y, b: t, c: nil)
            z = mul.reference(a: t, b: z, c: nil)
            y = yNext
        }
        return mul.reference(a: y, b: half.reference(a: z, b: y, c: i3), c: nil)
    }

    /// Row-major positions i·C + j of the upper triangle (j ≥ i), the output order.
    static func triuIndices(_ c: Int) -> [Int] {
        var idx: [Int] = []
        idx.reserveCapacity(c * (c + 1) / 2)
        for i in 0..<c { for j in i..<c { idx.append(i * c + j) } }
        return idx
    }

    /// Stage 4: `out[n,p] = Y[n][triu p]·√tr[n]`, [N, C(C+1)/2].
    static func triu(_ y: [Float], traces: [Float], _ d: Dims) -> [Float] {
        let idx = triuIndices(d.c)
        var out = [Float](repeating: 0, count: d.n * d.k)
        for b in 0..<d.n {
            let s = traces[b].squareRoot()
            for (p, q) in idx.enumerated() { out[b * d.k + p] = y[b * d.c * d.c + q] * s }
        }
        return out
    }

    /// The whole forward on the host.
    static func forward(_ x: [Float], _ d: Dims, iterN: Int) -> [Float] {
        guard d.n > 0 else { return [] }
        let sigma = covariance(x, d), tr = traces(sigma, d)
        let (a, t1) = prepare(sigma, traces: tr, d)
        return triu(newtonSchulz(a: a, t1: t1, d, iterN: iterN), traces: tr, d)
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, "ISqrtCov")
        let d = try Self.dims(x.shape, label: label)
        return [Tensor(shape: [d.n, d.k], floats: Self.forward(x.floats, d, iterN: iterN))]
    }

    // MARK: - Device encoders, stage by stage (Kernels/isqrtcov.cl and Kernels/gemm.cl)

    /// Stage 1: `sigma` ← covariances of `x` (`xc`: scratch of N·C·M floats).
    static func encodeCovariance(_ ctx: EncodeContext, x: CLBuffer, xc: CLBuffer, sigma: CLBuffer, _ d: Dims) throws {
        try ctx.launch1D(try ctx.kernel("isqrtcov_center", file: "isqrtcov"),
                         [.buffer(x), .buffer(xc), .int(d.n * d.c), .int(d.m)], count: d.n * d.c)
        try covarianceGemm(d).encode(ctx, a: xc, b: xc, c: nil, y: sigma)
    }

    /// Stage 2: `traces` ← trace(Σ) per image; `a` ← Σ/tr; `t` ← ½(3I − A).
    static func encodePrepare(_ ctx: EncodeContext, sigma: CLBuffer, traces: CLBuffer, a: CLBuffer, t: CLBuffer, _ d: Dims) throws {
        try ctx.launch1D(try ctx.kernel("isqrtcov_trace", file: "isqrtcov"),
                         [.buffer(sigma), .buffer(traces), .int(d.n), .int(d.c)], count: d.n)
        try ctx.launch1D(try ctx.kernel("isqrtcov_prepare", file: "isqrtcov"),
                         [.buffer(sigma), .buffer(traces), .buffer(a), .buffer(t), .int(d.n * d.c * d.c), .int(d.c)],
                         count: d.n * d.c * d.c)
    }

    /// How the Newton–Schulz C×C products run; both sum over k in order, like the reference.
    enum ProductVariant: String, Sendable, CaseIterable, CustomStringConvertible {
        /// GPU style: the shared batched strided GEMM (`gemm_tile` in gemm.cl, 4×4 register tiles).
        case tile
        /// CPU style (`isqrtcov_matmul`): 4×16 blocks accumulated in float16 vectors, no barriers;
        /// on PoCL ≈ 10× faster than `tile` for C = 256.
        case blocked

        var description: String { rawValue }
    }

    /// `blocked` in CPU style, `tile` in GPU style; `options.isqrtcovProduct`
    /// ($GPUINFER_ISQRTCOV_PRODUCT) overrides the choice (the tests run both on PoCL).
    static func productVariant(_ options: ExecutionOptions, family: KernelFamily) -> ProductVariant {
        switch options.isqrtcovProduct {
        case .tile: .tile
        case .blocked: .blocked
        case .auto: family == .gpu ? .tile : .blocked
        }
    }

    /// Appends y ← alpha·p·q (+ ½·3I when `plus3I`) for the batch of C×C matrices.
    static func encodeProduct(_ ctx: EncodeContext, _ variant: ProductVariant, p: CLBuffer, q: CLBuffer, y: CLBuffer,
                              alpha: Float = 1, threeI: CLBuffer? = nil, _ d: Dims) throws {
        switch variant {
        case .tile:
            try product(d, alpha: alpha, plus3I: threeI != nil).encode(ctx, a: p, b: q, c: threeI, y: y)
        case .blocked:
            try ctx.launch(try ctx.kernel("isqrtcov_matmul", file: "isqrtcov"),
                           [.buffer(p), .buffer(q), .buffer(threeI ?? p), .buffer(y), .int(d.c), .float(alpha),
                            .float(threeI == nil ? 0 : 0.5), .int(threeI == nil ? 0 : 1), .int(d.n)],
                           global: [(d.c + 15) / 16, (d.c + 3) / 4, d.n])
        }
    }

    /// Stage 3: the Newton–Schulz iterations from `a` and `t1` (both overwritten as scratch);
    /// returns the buffer holding the result. `work` holds three more [N,C,C] buffers.
    static func encodeNewtonSchulz(_ ctx: EncodeContext, a: CLBuffer, t1: CLBuffer, work: [CLBuffer], threeI: CLBuffer,
                                   _ d: Dims, iterN: Int) throws -> CLBuffer {
        let v = Self.productVariant(ctx.options, family: ctx.family)
        // Buffers rotate: y, z, t and two spares; nothing is read and written by one product.
        var y = work[0], z = t1, t = work[1], spare = [a, work[2]]
        try encodeProduct(ctx, v, p: a, q: t1, y: y, d)
        for _ in 1..<(iterN - 1) {
            try encodeProduct(ctx, v, p: z, q: y, y: t, alpha: -0.5, threeI: threeI, d)
            try encodeProduct(ctx, v, p: y, q: t, y: spare[0], d)
            try encodeProduct(ctx, v, p: t, q: z, y: spare[1], d)
            (spare, y, z) = ([y, z], spare[0], spare[1])
        }
        try encodeProduct(ctx, v, p: z, q: y, y: t, alpha: -0.5, threeI: threeI, d)
        try encodeProduct(ctx, v, p: y, q: t, y: spare[0], d)
        return spare[0]
    }

    /// Stage 4: `out` ← upper triangles of `y` scaled by √tr.
    static func encodeTriu(_ ctx: EncodeContext, y: CLBuffer, traces: CLBuffer, out: CLBuffer, _ d: Dims) throws {
        let index = try ctx.constants(triuIndices(d.c))
        try ctx.launch1D(try ctx.kernel("isqrtcov_triu", file: "isqrtcov"),
                         [.buffer(y), .buffer(traces), .buffer(index), .buffer(out), .int(d.n * d.k), .int(d.k), .int(d.c * d.c)],
                         count: d.n * d.k)
    }

    /// Scratch for the whole forward: Xc, then five [N,C,C] matrices and the traces.
    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, "ISqrtCov")
        let d = try Self.dims(x.type.shape, label: label)
        guard d.n > 0 else { return }
        for count in [d.n * d.c * d.m, d.n * d.c * d.c, d.n * d.k] where count > Int(Int32.max) {
            throw ctx.error("\(count) elements exceed the 32-bit index range of the ISqrtCov kernels")
        }
        let mat = d.n * d.c * d.c * 4
        let xc = try ctx.scratch(bytes: d.n * d.c * d.m * 4)
        let m = try (0..<5).map { _ in try ctx.scratch(bytes: mat) }
        let traces = try ctx.scratch(bytes: d.n * 4)
        let threeI = try ctx.constants(floats: Self.threeI(d.c))
        try Self.encodeCovariance(ctx, x: x.buffer, xc: xc, sigma: m[0], d)
        try Self.encodePrepare(ctx, sigma: m[0], traces: traces, a: m[1], t: m[2], d)
        let y = try Self.encodeNewtonSchulz(ctx, a: m[1], t1: m[2], work: [m[0], m[3], m[4]], threeI: threeI, d, iterN: iterN)
        try Self.encodeTriu(ctx, y: y, traces: traces, out: outputs[0].buffer, d)
    }
}
