// Winograd F(m×m, 3×3) convolution for 3×3, stride-1, dilation-1, single-group 2-D convolutions
// with constant weights on CPU-style devices (Kernels/conv_winograd.cl).
import Foundation

/// The Winograd transform matrices of F(m×m, 3×3) (Lavin & Gray 2016), m = 2 or 4: the output
/// tile is Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A for the (m+2)×(m+2) input tile d. The kernels hard-code
/// Bᵀ and Aᵀ; the host uses G (weight transform) and all three in tests.
enum Winograd {
    static let g2: [[Double]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
    static let g4: [[Double]] = [[0.25, 0, 0], [-1 / 6.0, -1 / 6.0, -1 / 6.0], [-1 / 6.0, 1 / 6.0, -1 / 6.0],
                                 [1 / 24.0, 1 / 12.0, 1 / 6.0], [1 / 24.0, -1 / 12.0, 1 / 6.0], [0, 0, 1]]
    static let bt2: [[Double]] = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    static let bt4: [[Double]] = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                                  [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
    static let at2: [[Double]] = [[1, 1, 1, 0], [0, 1, -1, -1]]
    static let at4: [[Double]] = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]

    static func g(_ m: Int) -> [[Double]] { m == 2 ? g2 : g4 }
    static func bt(_ m: Int) -> [[Double]] { m == 2 ? bt2 : bt4 }
    static func at(_ m: Int) -> [[Double]] { m == 2 ? at2 : at4 }

    /// U = G g Gᵀ for every (output channel k, input channel c) of a [Cout, C, 3, 3] weight, in
    /// double precision, packed as [ξ][ceil(Cout/r)][C][r] (ξ = i·(m+2) + j; zero channel tail).
    static func packedWeights(_ w: [Float], cout: Int, c: Int, m: Int, r: Int) -> [Float] {
        let a = m + 2, g = Self.g(m), kBlocks = (cout + r - 1) / r
        var out = [Float](repeating: 0, count: a * a * kBlocks * c * r)
        var tmp = [Double](repeating: 0, count: a * 3)
        for k in 0..<cout {
            for ci in 0..<c {
                let base = (k * c + ci) * 9
                // tmp = G g (a×3), then U = tmp Gᵀ (a×a).
                for i in 0..<a {
                    for col in 0..<3 {
                        var s = 0.0
                        for q in 0..<3 { s += g[i][q] * Double(w[base + q * 3 + col]) }
                        tmp[i * 3 + col] = s
                    }
                }
                for i in 0..<a {
                    for j in 0..<a {
                        var s = 0.0
                        for q in 0..<3 { s += tmp[i * 3 + q] * g[j][q] }
                        out[(((i * a + j) * kBlocks + k / r) * c + ci) * r + k % r] = Float(s)
                    }
                }
            }
        }
        return out
    }
}

extension Conv {
    /// Input transform, GEMM over the (m+2)² transform points and output transform (with bias and
    /// the fused activation), per chunk of tiles so that the two workspace buffers (V and M) stay
    /// below about 1 MB together (so they stay in L2 between the kernels: 1.5–3× faster than 16 MB
    /// chunks on 200×300 and 25×37 maps; `options.winogradChunkKiB`, $GPUINFER_CONV_WINOGRAD_KB, overrides it); the
    /// transformed weight is built once per session.
    /// The Winograd GEMM's register block (output channels R × panels V of 16 tiles):
    /// `options.winogradTile`, else the tuning database's, else the CPU profile's default.
    func winogradBlock(_ ctx: EncodeContext, _ geo: Geometry, m: Int) -> (rows: Int, panels: Int) {
        let profile = ctx.cpuProfile
        let forced = ctx.options.winogradTile.map { ["R": $0.a, "V": $0.b] }
        let space = TuningSpace(axes: [("R", [4, 6, 8, 10, 12, 16, 24]), ("V", [1, 2, 3])]) { p in
            guard let r = p["R"], let v = p["V"] else { return false }
            return profile.winogradBlockFits(r: r, v: v)
        }
        let d = profile.winogradBlock
        let p = ctx.tunedParameters(tuningKey(geo, family: "conv_winograd_f\(m)", kernel: "conv_winograd"), defaults: ["R": d.a, "V": d.b],
                                    space: space, environment: forced)
        return (p["R"] ?? d.a, p["V"] ?? d.b)
    }

    func encodeWinograd(_ ctx: EncodeContext, _ geo: Geometry, m: Int, weight: Tensor, x: DeviceValue, bias: DeviceValue?,
                        y: DeviceValue, activation: FusedActivation?) throws {
        let win = geo.window
        let (H, W, OH, OW) = (win.input[0], win.input[1], win.output[0], win.output[1])
        let a = m + 2, xi = a * a
        let (r, panels) = winogradBlock(ctx, geo, m: m)
        let tilesH = (OH + m - 1) / m, tilesW = (OW + m - 1) / m
        let total = geo.n * tilesH * tilesW
        let budget = ctx.options.winogradChunkKiB << 10
        // Chunks hold whole GEMM blocks of `panels` panels of 16 tiles.
        let unit = 16 * panels
        let fit = max(unit, budget / (4 * xi * (geo.c + geo.cout)) / unit * unit)
        let chunk = min((total + unit - 1) / unit * unit, ctx.options.winogradChunkTiles.map { max(unit, $0 / unit * unit) } ?? fit)
        guard xi * chunk * max(geo.c, geo.cout) < Int(Int32.max) else { throw ctx.error("Winograd workspace exceeds the 32-bit index range") }
        let weightName = node.inputs.count > 1 ? node.inputs[1] : ""
        let packed = try ctx.sharedConstants(key: "conv_winograd|\(weightName)|\(weight.shape)|\(m)|\(r)") {
            Winograd.packedWeights(weight.floats, cout: geo.cout, c: geo.c, m: m, r: r)
        }
        let v = try ctx.workspace(0, bytes: xi * chunk * geo.c * 4)
        let mm = try ctx.workspace(1, bytes: xi * chunk * geo.cout * 4)
        let options = "-DWINO_M=\(m) -DGEMM_R=\(r) -DGEMM_V=\(panels)" + (activation.map { " " + $0.options } ?? "")
        let input = try ctx.kernel("winograd_input", file: "conv_winograd", options: options)
        let gemm = try ctx.kernel("winograd_gemm", file: "conv_winograd", options: options)
        let output = try ctx.kernel("winograd_output", file: "conv_winograd", options: options)
        let meta = try ctx.constants([geo.c, H, W, geo.cout, OH, OW, win.padBegin[0], win.padBegin[1], tilesW, tilesH * tilesW])
        for t0 in stride(from: 0, to: total, by: chunk) {
            // Kernel objects hold their arguments: every chunk needs its own.
            let (ki, kg, ko) = t0 == 0 ? (input, gemm, output)
                : (try ctx.kernel("winograd_input", file: "conv_winograd", options: options),
                   try ctx.kernel("winograd_gemm", file: "conv_winograd", options: options),
                   try ctx.kernel("winograd_output", file: "conv_winograd", options: options))
            // On PoCL one work-group shape per kernel (`fixedLocal`: the kernels skip ids past their
            // ranges): PoCL compiles a kernel once per shape, and its own choice follows each layer's
            // sizes (NetVLAD: 14 compilations of these three kernels, ~0.1 s each, against 3). The
            // transforms take one panel × 16 channels, the GEMM (much work per item) one item.
            let (inputGlobal, gemmGlobal, outputGlobal) = ([chunk / 16, geo.c], [(geo.cout + r - 1) / r, chunk / unit, xi], [chunk / 16, geo.cout])
            try ctx.launch(ki, [.value(x), .buffer(v), .buffer(meta), .int(t0), .int(chunk), .int(total)],
                           global: inputGlobal, local: ctx.fixedLocal(inputGlobal, shape: [1, 16]))
            try ctx.launch(kg, [.buffer(packed), .buffer(v), .buffer(mm), .int(geo.c), .int(geo.cout), .int(chunk)],
                           global: gemmGlobal, local: ctx.fixedLocal(gemmGlobal, shape: [1, 1, 1]))
            try ctx.launch(ko, [.buffer(mm), .buffer(bias?.buffer ?? x.buffer), .value(y), .buffer(meta), .int(t0), .int(chunk),
                                .int(total), .int(bias == nil ? 0 : 1)],
                           global: outputGlobal, local: ctx.fixedLocal(outputGlobal, shape: [1, 16]))
        }
    }

    /// The channel-blocked Winograd GEMM's register block (blocks of 16 output channels × tiles):
    /// `options.winogradBlockedTile`, else the tuning database's, else the CPU profile's.
    func winogradBlockedTile(_ ctx: EncodeContext, _ geo: Geometry, m: Int, layout: (input: Bool, output: Bool, residual: Bool)) -> (k: Int, px: Int) {
        let profile = ctx.cpuProfile, d = profile.winogradBlockedTile
        let space = TuningSpace(axes: [("K", [1, 2, 3]), ("PX", [2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 20, 24])]) { p in
            guard let k = p["K"], let px = p["PX"] else { return false }
            return profile.winogradBlockedTileFits(k: k, px: px)
        }
        let key = tuningKey(geo, family: "conv_winograd_c16_f\(m)", kernel: "conv_winograd",
                            layout: "l\(layout.input ? 1 : 0)\(layout.output ? 1 : 0)\(layout.residual ? 1 : 0)")
        let p = ctx.tunedParameters(key, defaults: ["K": d.a, "PX": d.b], space: space,
                                    environment: ctx.options.winogradBlockedTile.map { ["K": $0.a, "PX": $0.b] })
        return (p["K"] ?? d.a, p["PX"] ?? d.b)
    }

    /// Winograd F(m×m, 3×3) with channels in the vector lanes (BlockedConv): the input read NCHW or
    /// channel-blocked, the output and the fused residual written / read in either layout
    /// (`layout`), bias, residual and activation applied in the output transform. Tiles run in
    /// chunks whose V and M fit `winogradChunkKiB` (each a multiple of the GEMM's tiles), but never
    /// in more chunks than the transformed weight U is smaller than V and M of all tiles: each chunk
    /// reads all of U, which for 256–512 channels on 14×14 or 7×7 maps is larger than V and M
    /// (ResNet-50's last stage: 16.8 MB of U against 3.2 MB), so those layers run in one chunk.
    func encodeWinogradBlocked(_ ctx: EncodeContext, _ geo: Geometry, m: Int, weight: Tensor, x: DeviceValue, bias: DeviceValue?,
                               residual: DeviceValue?, y: DeviceValue, activation: FusedActivation?,
                               layout: (input: Bool, output: Bool, residual: Bool)) throws {
        let win = geo.window
        guard geo.group == 1, win.input.count == 2 else { throw ctx.error("channel-blocked Winograd runs 2-D convolutions of one group") }
        let (H, W, OH, OW) = (win.input[0], win.input[1], win.output[0], win.output[1])
        let a = m + 2, xi = a * a, lanes = BlockedConv.lanes
        let cp = (geo.c + lanes - 1) / lanes * lanes, kp = (geo.cout + lanes - 1) / lanes * lanes
        let (kBlock, px) = winogradBlockedTile(ctx, geo, m: m, layout: layout)
        let tilesH = (OH + m - 1) / m, tilesW = (OW + m - 1) / m
        let total = geo.n * tilesH * tilesW, padded = (total + px - 1) / px * px
        let budget = ctx.options.winogradChunkKiB << 10
        let fit = max(px, budget / (4 * xi * (cp + kp)) / px * px)
        let maxChunks = max(1, total * (cp + kp) / (geo.c * kp))  // V and M of all tiles over U, per transform point
        let chunk = min(padded, ctx.options.winogradChunkTiles.map { max(px, $0 / px * px) }
                        ?? max(fit, (total + maxChunks - 1) / maxChunks + px - 1) / px * px)
        guard xi * chunk * max(cp, kp) < Int(Int32.max) else { throw ctx.error("Winograd workspace exceeds the 32-bit index range") }
        let weightName = node.inputs.count > 1 ? node.inputs[1] : ""
        let packed = try ctx.sharedConstants(key: "conv_winograd|\(weightName)|\(weight.shape)|\(m)|\(lanes)") {
            Winograd.packedWeights(weight.floats, cout: geo.cout, c: geo.c, m: m, r: lanes)
        }
        let v = try ctx.workspace(0, bytes: xi * chunk * cp * 4)
        let mm = try ctx.workspace(1, bytes: xi * chunk * kp * 4)
        let options = "-DWINO_M=\(m) -DWINO_PX=\(px) -DWINO_KB=\(kBlock)" + (activation.map { " " + $0.options } ?? "")
            + (layout.input ? " -DIN_C16" : "") + (layout.output ? " -DOUT_C16" : "")
            + (residual == nil ? "" : " -DRESIDUAL") + (residual != nil && layout.residual ? " -DRES_C16" : "")
        let meta = try ctx.constants([geo.c, H, W, geo.cout, OH, OW, win.padBegin[0], win.padBegin[1], tilesW, tilesH * tilesW])
        // Tile-block groups per GEMM work-item column: enough work-items (64) for the device's threads.
        let kGroups = (kp / lanes + kBlock - 1) / kBlock
        let groups = min(chunk / px, max(1, (64 + kGroups * xi - 1) / (kGroups * xi)))
        for t0 in stride(from: 0, to: total, by: chunk) {
            // Kernel objects hold their arguments: every chunk needs its own.
            let ki = try ctx.kernel("winograd_input_c16", file: "conv_winograd", options: options)
            let kg = try ctx.kernel("winograd_gemm_c16", file: "conv_winograd", options: options)
            let ko = try ctx.kernel("winograd_output_c16", file: "conv_winograd", options: options)
            // One work-group shape per kernel on PoCL (see encodeWinograd).
            let (inputGlobal, gemmGlobal, outputGlobal) = ([chunk, cp / lanes], [groups, kGroups, xi], [chunk, kp / lanes])
            try ctx.launch(ki, [.value(x), .buffer(v), .buffer(meta), .int(t0), .int(chunk), .int(total)],
                           global: inputGlobal, local: ctx.fixedLocal(inputGlobal, shape: [4, 1]))
            try ctx.launch(kg, [.buffer(packed), .buffer(v), .buffer(mm), .int(geo.c), .int(geo.cout), .int(chunk), .int(groups)],
                           global: gemmGlobal, local: ctx.fixedLocal(gemmGlobal, shape: [1, 1, 1]))
            try ctx.launch(ko, [.buffer(mm), .buffer(bias?.buffer ?? x.buffer), .buffer(residual?.buffer ?? x.buffer), .value(y), .buffer(meta),
                                .int(t0), .int(chunk), .int(total), .int(bias == nil ? 0 : 1)],
                           global: outputGlobal, local: ctx.fixedLocal(outputGlobal, shape: [4, 1]))
        }
    }
}
