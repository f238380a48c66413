// The one place a convolution's algorithm is chosen: a pure function of the geometry, whether the
// weight is known when the plan is built, the execution options and the kernel family. Each
// algorithm's encoder lives in its own file (ConvDirect, ConvDepthwise, ConvBlocked, ConvWinograd).
import Foundation

/// How one Conv node runs.
enum ConvAlgorithm: Equatable, Sendable, CustomStringConvertible {
    /// Pointwise (1×1, stride 1, no pads) as a strided GEMM per (batch, group) (ConvDirect.swift).
    case pointwiseGemm
    /// Depthwise 3×3, stride 1 or 2, the 9 weights in registers (ConvDepthwise.swift).
    case depthwise(DepthwiseKernel, stride: Int)
    /// conv2d_dw_local: depthwise up to 7×7, strides 1 or 2 in each direction; a work-group per
    /// block of one plane, its input window, weights and bias staged in local memory
    /// (ConvDepthwise.swift). GPU style.
    case depthwiseLocal
    /// Winograd F(m×m, 3×3), m = 2 or 4 (ConvWinograd.swift). CPU style, constant weight.
    case winograd(m: Int)
    /// conv1x1_px: ungrouped pointwise on large maps, float8 pixel runs (ConvBlocked.swift). CPU
    /// style. The tile forced by the options, or nil: the tuning database's, else the CPU profile's.
    case pixelBlocked(ExecutionOptions.Tile?)
    /// conv2d_blocked: output-channel blocks × pixel columns in registers, the tile from the tuning
    /// database or the default (ConvBlocked.swift). CPU style, constant weight.
    case blocked
    /// conv2d_gemm: implicit GEMM with work-group tiles in local memory, bias, residual and
    /// activation fused (ConvGemm.swift). GPU style.
    case implicitGemm
    /// The direct kernels conv2d_c4p2 (≥ 4 output channels per group) / conv2d_c1p4 (ConvDirect.swift).
    case direct

    /// The depthwise kernels of Kernels/conv_depthwise.cl.
    enum DepthwiseKernel: String, Sendable {
        /// conv2d_dw3x3: a work-item per 4 consecutive output columns of one plane, from global memory.
        case gpu
        /// conv2d_dw3x3_cpu: a work-item per rows × 8 columns as float8 vectors.
        case rows
        /// conv2d_dw3x3_flat: stride 1, SAME output, the plane as one row of runs of 8.
        case flat
    }

    var description: String {
        switch self {
        case .pointwiseGemm: "pointwise-gemm"
        case let .depthwise(k, s): "depthwise-\(k.rawValue)-s\(s)"
        case .depthwiseLocal: "depthwise-local"
        case let .winograd(m): "winograd-f\(m)"
        case let .pixelBlocked(t): "pixel-\(t?.description ?? "auto")"
        case .blocked: "blocked"
        case .implicitGemm: "implicit-gemm"
        case .direct: "direct"
        }
    }

    /// The algorithm for a convolution of geometry `geo`. The order matters and is all here:
    /// 1. CPU style with a constant weight and ≥ 4 output channels per group (or one group) takes
    ///    the register-blocked family: Winograd where `winogradTile` says so, conv1x1_px where
    ///    `pixelTile` says so, else conv2d_blocked (pointwise ones too: on PoCL 7–10× faster than
    ///    the GEMM). `convPointwise = .gemm` keeps pointwise ones on the GEMM.
    /// 2. GPU style (or `conv = .gemm`): depthwise 3×3 stride 1/2 the depthwise kernels (the
    ///    local-memory tile), other depthwise ones up to 7×7 the local-memory tile too, grouped
    ///    ones with fewer than 4 output channels per group the direct kernels, every other
    ///    convolution the local-memory implicit GEMM — pointwise ones too, whose residual it fuses
    ///    (the strided GEMM cannot); `convPointwise = .gemm` keeps pointwise ones on the strided GEMM.
    /// 3. Otherwise pointwise convolutions run the GEMM, depthwise 3×3 stride 1/2 the depthwise
    ///    kernels, the rest the direct kernels. `conv = .generic` allows only the GEMM and direct.
    static func select(_ geo: ConvShapes, weightKnown: Bool, options: ExecutionOptions, family: KernelFamily, profile: CPUProfile) -> ConvAlgorithm {
        let generic = options.conv == .generic
        let pointwiseGemm = geo.isPointwise && options.convPointwise == .gemm
        let tiledFamily = !generic && (options.conv == .gemm || family == .gpu)
        let blockedFamily = !generic && !tiledFamily && family == .cpu && weightKnown && (geo.group == 1 || geo.mg >= 4) && !pointwiseGemm
        if geo.isPointwise && (pointwiseGemm || !(blockedFamily || tiledFamily)) { return .pointwiseGemm }
        if !generic, let stride = depthwiseStride(geo) { return depthwise3x3(geo, stride: stride, options: options, family: family) }
        if tiledFamily {
            if isLocalDepthwise(geo) { return .depthwiseLocal }
            // A grouped convolution with 1–3 output channels per group would leave most rows of the
            // smallest tile (4) idle: the direct kernel.
            return geo.group == 1 || geo.mg >= 4 ? .implicitGemm : .direct
        }
        guard blockedFamily else { return .direct }
        if let m = winogradTile(geo, options.winograd, profile: profile) { return .winograd(m: m) }
        if let tile = pixelTile(geo, options.convPixelTile) { return .pixelBlocked(tile) }
        return .blocked
    }

    /// The stride (1 or 2) of a 2-D depthwise 3×3 convolution (one input and one output channel
    /// per group, equal strides, no dilation), nil for any other convolution.
    static func depthwiseStride(_ geo: ConvShapes) -> Int? {
        let win = geo.window
        guard win.input.count == 2, geo.group == geo.c, geo.cout == geo.c, geo.cg == 1, win.kernel == [3, 3], win.dilations == [1, 1],
              win.strides[0] == win.strides[1], [1, 2].contains(win.strides[0]) else { return nil }
        return win.strides[0]
    }

    /// Whether conv2d_dw_local runs this 2-D convolution: one input and one output channel per
    /// group, a kernel of up to 7×7, no dilation, strides 1 or 2 (PaddleOCR's (2, 1) too).
    static func isLocalDepthwise(_ geo: ConvShapes) -> Bool {
        let win = geo.window
        return win.input.count == 2 && geo.group == geo.c && geo.cout == geo.c && geo.cg == 1 && win.kernel.allSatisfy { (1...7).contains($0) }
            && win.dilations == [1, 1] && win.strides.allSatisfy { (1...2).contains($0) }
    }

    /// The algorithm of a depthwise 3×3 convolution with this stride. GPU style runs
    /// conv2d_dw_local; CPU style conv2d_dw3x3_cpu (on PoCL 3–8× faster, least on
    /// small planes such as 19×19), or for stride 1 with the output the input's size (SAME)
    /// conv2d_dw3x3_flat (on PoCL 2–2.5× faster than conv2d_dw3x3_cpu on 38×38 … 5×5 planes, ~1.1×
    /// on 75×75 and 150×150). `convDepthwise`: `.local` / `.gpu` those GPU kernels in any style,
    /// `.rows` conv2d_dw3x3_cpu for every stride.
    static func depthwise3x3(_ geo: ConvShapes, stride: Int, options: ExecutionOptions, family: KernelFamily) -> ConvAlgorithm {
        switch options.convDepthwise {
        case .local: return .depthwiseLocal
        case .gpu: return .depthwise(.gpu, stride: stride)
        case .rows: return .depthwise(.rows, stride: stride)
        case .auto: if family == .gpu { return .depthwiseLocal }
        }
        let win = geo.window
        if stride == 1, win.output == win.input, (0...2).contains(win.padBegin[1]) { return .depthwise(.flat, stride: 1) }
        return .depthwise(.rows, stride: stride)
    }

    /// The Winograd output tile m (2 or 4), or nil: 2-D 3×3 convolutions with stride 1, dilation
    /// 1 and one group whose transformed weight (36·Cout·C values) fits 32-bit indices. `.auto`
    /// applies `winogradRule`, `.everywhere` the rule's tile without its tests, `.f2`/`.f4` that tile.
    /// `blocked`: for the channel-blocked kernels (BlockedConv).
    static func winogradTile(_ geo: ConvShapes, _ mode: ExecutionOptions.WinogradMode, profile: CPUProfile, blocked: Bool = false) -> Int? {
        let win = geo.window
        guard win.input.count == 2, win.kernel == [3, 3], win.strides == [1, 1], win.dilations == [1, 1], geo.group == 1,
              36 * (geo.cout + 16) * geo.c < Int(Int32.max) else { return nil }
        switch mode {
        case .auto: return winogradRule(geo, profile: profile, blocked: blocked)
        case .off: return nil
        case .everywhere: return winogradRule(geo, profile: profile, blocked: blocked, forced: true)
        case .f2: return 2
        case .f4: return 4
        }
    }

    /// Where Winograd wins on PoCL (measured per layer, see Benchmarks/README.md): channel counts
    /// for which the profile says it pays (`CPUProfile.winogradPays`).
    /// The NCHW kernels use F(2×2, 3×3): whole-model runs with every layer on F(2×2) against the
    /// per-layer choice of the tile with less GEMM work (mostly F(4×4)) were as fast or faster
    /// (NetVLAD 1.1–1.2×, fast-MPN-COV ResNet-50 even; 3 interleaved rounds), while F(2×2) stores
    /// 16/9 of each weight instead of 36/9 (NetVLAD peak RSS 809 instead of 941 MB, against 596 MB of
    /// file) and rounds less.
    /// The channel-blocked kernels (`blocked`), whose transforms are whole-vector loads and stores,
    /// use F(4×4) — 36 multiplies per 16 outputs against F(2×2)'s 64 — when the batch has at least 32
    /// F(4×4) tiles, else F(2×2). Every tile reads all of the transformed weight (36·C·Cout floats for
    /// F(4×4)), so on small maps with many channels F(4×4) is bound by reading it: on a Zen 4,
    /// F(4×4) against F(2×2) 1.3× faster at 56×56 64 → 64, 1.5× at 28×28 128 → 128, 1.6× at 80×80
    /// 64 → 64, even at 14×14 256 → 256 (16 tiles), 0.77× at 14×14 512 → 512.
    /// Tiny maps (up to 5×5 at batch 1) stay direct: a panel of 16 tiles would then multiply more
    /// than the direct kernel's 9 per output pixel and channel pair. `forced` skips both tests.
    static func winogradRule(_ geo: ConvShapes, profile: CPUProfile, blocked: Bool = false, forced: Bool = false) -> Int? {
        guard forced || profile.winogradPays(c: geo.c, cout: geo.cout, blocked: blocked) else { return nil }
        func tiles(_ m: Int) -> Int { geo.n * ((geo.window.output[0] + m - 1) / m) * ((geo.window.output[1] + m - 1) / m) }
        if blocked && tiles(4) >= 32 { return 4 }
        let work = 16 * ((tiles(2) + 15) / 16 * 16)
        return forced || work < 9 * geo.n * geo.window.output.reduce(1, *) ? 2 : nil
    }

    /// Whether conv1x1_px runs this convolution (`.pixelBlocked` with the forced tile, nil for the
    /// profile's or the tuning database's), or nil for conv2d_blocked: ungrouped pointwise
    /// convolutions with at most 160 input channels on planes of at least 2048 pixels (1024 with at
    /// most 64 input channels), where storing whole float8 runs of output rows beats
    /// conv2d_blocked's scalar per-channel stores (on PoCL SSDLite's 150×150 and 75×75 pointwise
    /// layers run 1.5–2.5× faster, 38×38 32→192 ~1.4×, ResNet's 56×56 64→64 and 64→256 1.2–1.5×);
    /// with more input channels (ResNet's 56×56 256→64, 512→128) or on 10×10 planes conv2d_blocked
    /// is as fast or faster (more weight reuse).
    static func pixelTile(_ geo: ConvShapes, _ mode: ExecutionOptions.PixelTile) -> ExecutionOptions.Tile?? {
        let hw = geo.window.input.reduce(1, *)
        guard geo.isPointwise, geo.group == 1, mode != .off, geo.c <= 160, hw >= 2048 || (hw >= 1024 && geo.c <= 64) else { return nil }
        if case let .tile(t) = mode { return .some(t) }
        return .some(nil)
    }
}
