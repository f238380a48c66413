// ai.gpuinfer::NetVLAD: the NetVLAD head (preL2, soft-assignment, VLAD aggregation, intra and
// global L2, WPCA, final L2) as one fused node; Models/netvlad.py defines the same function in
// standard ONNX ops, which runs when fused kernels are disabled.
import Foundation

/// The fused NetVLAD head (MODELS.md §1, netvlad_tf_open `layers.py`/`nets.py`).
///
/// Inputs: features `[N,D,H,W]` (or `[N,D,P]`), assignment weight `[K,D,1,1]` or `[K,D]`, the
/// stored **negated** centroids `[D,K]`, WPCA weight `[O,D·K]` (row o = output o; columns in
/// D-major, K-fastest order, index `d·K + k`) and WPCA bias `[O]`. Output: `[N,O]`.
///
/// Per image, with P = H·W descriptors x_i ∈ R^D:
/// 1. `x̂_i = x_i / sqrt(max(Σ_d x_id², pre_eps))` (TF `l2_normalize`),
/// 2. `a_ik = softmax_k(Σ_d W_kd x̂_id)`,
/// 3. `V_dk = Σ_i a_ik x̂_id + C_dk Σ_i a_ik`,
/// 4. intra: `V_dk / sqrt(Σ_d V_dk² + intra_eps)`, 5. global over all D·K: `v / sqrt(Σ v² + global_eps)`,
/// 6. `y_o = Σ_j Wp_oj v_j + b_o`, 7. `y / sqrt(max(Σ y², out_eps))`.
/// Every sum accumulates in fp32.
struct NetVLAD: Operator {
    static let domain = "ai.gpuinfer"
    static let opTypes = ["NetVLAD"]
    let preEps: Float, intraEps: Float, globalEps: Float, outEps: Float
    let label: String

    init(node: Node, opset: Int) throws {
        func eps(_ name: String) throws -> Float {
            let v = try node.float(name, default: 1e-12)
            guard v >= 0, v.isFinite else { throw node.attributeError(name, "must be a finite value ≥ 0, got \(v)") }
            return v
        }
        preEps = try eps("pre_eps")
        intraEps = try eps("intra_eps")
        globalEps = try eps("global_eps")
        outEps = try eps("out_eps")
        label = node.label
    }

    /// Sizes of one application: batch, descriptor dim, clusters, descriptors per image, outputs.
    struct Dims {
        var n: Int, d: Int, k: Int, p: Int, o: Int
        var j: Int { d * k }
    }

    func dims(_ s: [[Int]]) throws -> Dims {
        func fail(_ reason: String) -> GPUInferError { .shapeMismatch(node: label, op: "NetVLAD", reason: reason) }
        let (x, wa, c, wp, bp) = (s[0], s[1], s[2], s[3], s[4])
        guard x.count == 3 || x.count == 4 else { throw fail("features \(x) must be [N, D, H, W] or [N, D, P]") }
        let n = x[0], d = x[1], p = x.dropFirst(2).reduce(1, *)
        guard (wa.count == 2 || (wa.count == 4 && wa[2] == 1 && wa[3] == 1)), wa[1] == d else {
            throw fail("assignment weight \(wa) must be [K, \(d), 1, 1] or [K, \(d)]")
        }
        let k = wa[0]
        guard c == [d, k] else { throw fail("centroids \(c) must be [D, K] = [\(d), \(k)]") }
        guard wp.count == 2, wp[1] == d * k else { throw fail("WPCA weight \(wp) must be [O, D·K] = [O, \(d * k)]") }
        guard bp == [wp[0]] else { throw fail("WPCA bias \(bp) must be [\(wp[0])]") }
        guard d > 0, k > 0, p > 0, wp[0] > 0 else { throw fail("empty dimension in features \(x), assignment \(wa) or WPCA \(wp)") }
        return Dims(n: n, d: d, k: k, p: p, o: wp[0])
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let types: [TensorType] = try (0..<5).map { try inputs.required($0, "NetVLAD") }
        try requireFloat(types, label)
        let dm = try dims(types.map(\.shape))
        return [TensorType(.float32, [dm.n, dm.o])]
    }

    /// Soft-assignment and aggregation (2·P·D·K each) and WPCA (2·O·D·K), per image.
    func flops(_ inputs: [TensorType?], outputs: [TensorType]) -> Double {
        guard inputs.count == 5, let dm = try? dims(inputs.map { $0?.shape ?? [] }) else { return 0 }
        return Double(dm.n) * (4 * Double(dm.p * dm.j) + 2 * Double(dm.o * dm.j))
    }

    /// The oracle: the recipe above in plain loops, fp32 accumulation in index order.
    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let t: [Tensor] = try (0..<5).map { try inputs.required($0, "NetVLAD") }
        let dm = try dims(t.map(\.shape))
        let (n, d, k, p, o, j) = (dm.n, dm.d, dm.k, dm.p, dm.o, dm.j)
        var y = [Float](repeating: 0, count: n * o)
        var xn = [Float](repeating: 0, count: d * p), a = [Float](repeating: 0, count: p * k), v = [Float](repeating: 0, count: j)
        t[0].floats.withUnsafeBufferPointer { x in
        t[1].floats.withUnsafeBufferPointer { wa in
        t[2].floats.withUnsafeBufferPointer { c in
        t[3].floats.withUnsafeBufferPointer { wp in
            for b in 0..<n {
                let xb = b * d * p
                // 1. preL2 of each descriptor (xn is [D, P] like the input).
                for i in 0..<p {
                    var ss: Float = 0
                    for dd in 0..<d { ss += x[xb + dd * p + i] * x[xb + dd * p + i] }
                    let r = max(ss, preEps).squareRoot()
                    for dd in 0..<d { xn[dd * p + i] = x[xb + dd * p + i] / r }
                }
                // 2. soft-assignment (a is [P, K]).
                for i in 0..<p {
                    var m = -Float.infinity
                    for kk in 0..<k {
                        var s: Float = 0
                        for dd in 0..<d { s += wa[kk * d + dd] * xn[dd * p + i] }
                        a[i * k + kk] = s
                        m = max(m, s)
                    }
                    var sum: Float = 0
                    for kk in 0..<k {
                        a[i * k + kk] = exp(a[i * k + kk] - m)
                        sum += a[i * k + kk]
                    }
                    for kk in 0..<k { a[i * k + kk] /= sum }
                }
                // 3. aggregation (v is [D, K], flattened d·K + k).
                for dd in 0..<d {
                    for kk in 0..<k {
                        var acc: Float = 0, mass: Float = 0
                        for i in 0..<p {
                            acc += a[i * k + kk] * xn[dd * p + i]
                            mass += a[i * k + kk]
                        }
                        v[dd * k + kk] = acc + c[dd * k + kk] * mass
                    }
                }
                // 4. intra-normalization over D; 5. global L2.
                for kk in 0..<k {
                    var ss: Float = 0
                    for dd in 0..<d { ss += v[dd * k + kk] * v[dd * k + kk] }
                    let r = (ss + intraEps).squareRoot()
                    for dd in 0..<d { v[dd * k + kk] /= r }
                }
                var ss: Float = 0
                for q in 0..<j { ss += v[q] * v[q] }
                let r = (ss + globalEps).squareRoot()
                for q in 0..<j { v[q] /= r }
                // 6. WPCA; 7. final L2.
                var ys: Float = 0
                for oo in 0..<o {
                    var acc: Float = 0
                    for q in 0..<j { acc += wp[oo * j + q] * v[q] }
                    y[b * o + oo] = acc + t[4].floats[oo]
                    ys += y[b * o + oo] * y[b * o + oo]
                }
                let ry = max(ys, outEps).squareRoot()
                for oo in 0..<o { y[b * o + oo] /= ry }
            }
        }}}}
        return [Tensor(shape: [n, o], floats: y)]
    }

    /// How the WPCA product runs. Both read the weight once per tile of `tile(batch:).batch` images
    /// (one tile for N = 1: a GEMV that streams the 537 MB weight once).
    enum WPCAVariant: String, Sendable, CustomStringConvertible {
        /// GPU style (`netvlad_wpca`): a work-group per ROWS rows, work-items stride over the
        /// columns (coalesced) and reduce in local memory.
        case workGroup = "workgroup"
        /// CPU style (`netvlad_wpca_rows`): a work-item per ROWS rows, contiguous float8 loads,
        /// no barriers; on PoCL 3–4× faster than `workGroup` (batch 1: 14 vs 82 ms for 4096×32768).
        case rows

        var description: String { rawValue }

        /// Rows and images per tile, measured on PoCL (rows) and chosen for coalescing (workGroup).
        func tile(batch: Int) -> (rows: Int, batch: Int) {
            switch self {
            case .workGroup: (4, batch <= 2 ? max(batch, 1) : batch <= 4 ? 4 : 8)
            case .rows: batch <= 2 ? (4, 1) : batch <= 4 ? (2, 4) : (2, 8)
            }
        }
    }

    /// `rows` in CPU style, `workGroup` in GPU style; `options.netvladWPCA` ($GPUINFER_NETVLAD_WPCA)
    /// overrides the choice (the tests run both variants on PoCL).
    static func wpcaVariant(_ options: ExecutionOptions, family: KernelFamily) -> WPCAVariant {
        switch options.netvladWPCA {
        case .workgroup: .workGroup
        case .rows: .rows
        case .auto: family == .gpu ? .workGroup : .rows
        }
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let v: [DeviceValue] = try (0..<5).map { try inputs.required($0, "NetVLAD") }
        let dm = try dims(v.map(\.type.shape))
        let (n, d, k, p, o, j) = (dm.n, dm.d, dm.k, dm.p, dm.o, dm.j)
        guard n > 0 else { return }
        for count in [n * d * p, n * p * k, n * j, o * j] where count > Int(Int32.max) {
            throw ctx.error("\(count) elements exceed the 32-bit index range of the NetVLAD kernels")
        }
        // Work-group size: a power of two (the reductions halve it).
        var wg = 1
        while wg * 2 <= ctx.workGroup { wg *= 2 }
        let xn = try ctx.scratch(bytes: n * d * p * 4), a = try ctx.scratch(bytes: n * p * k * 4)
        let vlad = try ctx.scratch(bytes: n * j * 4)
        let y = outputs[0].buffer

        /// Normalizes `groups` strided groups of `len` values (see netvlad_l2_groups).
        func l2(_ src: CLBuffer, _ dst: CLBuffer, groups: Int, inner: Int, outerStride: Int, innerStride: Int,
                elemStride: Int, len: Int, epsMax: Float, epsAdd: Float) throws {
            try ctx.launch(try ctx.kernel("netvlad_l2_groups", file: "netvlad"),
                           [.buffer(src), .buffer(dst), .int(inner), .int(outerStride), .int(innerStride), .int(elemStride),
                            .int(len), .float(epsMax), .float(epsAdd), .local(wg * 4)],
                           global: [groups * wg], local: [wg])
        }
        // 1. preL2 over D for each of the N·P descriptors ([N, D, P] → [N, D, P]).
        try l2(v[0].buffer, xn, groups: n * p, inner: p, outerStride: d * p, innerStride: 1, elemStride: p, len: d,
               epsMax: preEps, epsAdd: 0)
        // 2. soft-assignment; 3. aggregation.
        if ctx.family == .cpu {
            // CPU style: register-blocked float16 kernels (on PoCL 10–20× faster than the
            // work-item-per-output ones, which read Xn and A with a stride of P or K).
            try ctx.launch(try ctx.kernel("netvlad_logits_rows", file: "netvlad"),
                           [.buffer(xn), .value(v[1]), .buffer(a), .int(n), .int(d), .int(k), .int(p)],
                           global: [(p + 15) / 16, (k + 7) / 8, n], local: nil)
            try ctx.launch1D(try ctx.kernel("netvlad_softmax_rows", file: "netvlad"), [.buffer(a), .int(n * p), .int(k)], count: n * p)
            try ctx.launch(try ctx.kernel("netvlad_aggregate_rows", file: "netvlad"),
                           [.buffer(xn), .buffer(a), .value(v[2]), .buffer(vlad), .int(n), .int(d), .int(k), .int(p)],
                           global: [(k + 15) / 16, (d + 7) / 8, n], local: nil)
        } else {
            try ctx.launch1D(try ctx.kernel("netvlad_assign", file: "netvlad"),
                             [.buffer(xn), .value(v[1]), .buffer(a), .int(n * p), .int(d), .int(k), .int(p)], count: n * p)
            try ctx.launch1D(try ctx.kernel("netvlad_aggregate", file: "netvlad"),
                             [.buffer(xn), .buffer(a), .value(v[2]), .buffer(vlad), .int(n * j), .int(d), .int(k), .int(p)], count: n * j)
        }
        // 4. intra-normalization over D per (image, cluster); 5. global L2 per image.
        try l2(vlad, vlad, groups: n * k, inner: k, outerStride: j, innerStride: 1, elemStride: k, len: d, epsMax: 0, epsAdd: intraEps)
        try l2(vlad, vlad, groups: n, inner: 1, outerStride: j, innerStride: 0, elemStride: 1, len: j, epsMax: 0, epsAdd: globalEps)
        // 6. WPCA (GEMV for one image, batch-tiled GEMM otherwise); 7. final L2.
        let variant = Self.wpcaVariant(ctx.options, family: ctx.family)
        let tile = variant.tile(batch: n)
        let options = "-DROWS=\(tile.rows) -DNB=\(tile.batch)"
        let groups = [(o + tile.rows - 1) / tile.rows, (n + tile.batch - 1) / tile.batch]
        switch variant {
        case .workGroup:
            try ctx.launch(try ctx.kernel("netvlad_wpca", file: "netvlad", options: options),
                           [.buffer(vlad), .value(v[3]), .value(v[4]), .buffer(y), .int(n), .int(o), .int(j),
                            .local(tile.rows * tile.batch * wg * 4)],
                           global: [groups[0] * wg, groups[1]], local: [wg, 1])
        case .rows:
            // The weight in the options' storage precision where it is a constant (a GEMV at batch 1
            // streams all of it: bf16/fp16 halve the bytes).
            let reduced = try ctx.reducedConstant(constants, input: 3)
            try ctx.launch(try ctx.kernel("netvlad_wpca_rows", file: "netvlad", options: options + (reduced?.define ?? "")),
                           [.buffer(vlad), .buffer(reduced?.buffer ?? v[3].buffer), .value(v[4]), .buffer(y), .int(n), .int(o), .int(j)], global: groups)
        }
        try l2(y, y, groups: n, inner: 1, outerStride: o, innerStride: 0, elemStride: 1, len: o, epsMax: outEps, epsAdd: 0)
    }
}
