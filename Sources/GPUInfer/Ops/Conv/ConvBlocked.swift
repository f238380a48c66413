// conv2d_blocked and conv1x1_px (Kernels/conv_blocked.cl): the CPU-style register-blocked
// convolutions, weights repacked once per session into output-channel blocks.
import Foundation

extension Conv {
    /// The (output channels, columns) tile of conv2d_blocked. The channel block is 16, or the
    /// smallest of 4 and 8 that holds a group's output channels when they are fewer (grouped
    /// convolutions such as ResNeXt's 64 groups of 4–32); the columns follow the CPU profile
    /// (`CPUProfile.blockedColumns`: 5 on AVX2, where 10 float16 accumulators + the weight vector
    /// fit 16 registers; for a model whose spatial input size is fixed, the count near it that
    /// suits the row width, `blockedColumns(width:)`). For a model whose images vary in size the
    /// tile does not depend on the input size, so a second input size builds no new program. A tuning database entry (`gpuinfer tune`, which searches up
    /// to the profile's `blockedColumnsMax`) replaces the default; `options.convTile`
    /// ($GPUINFER_CONV_TILE) beats both.
    ///
    /// `layout` (BlockedConv's input/output/residual flags) keys the channel-blocked variants apart
    /// (family conv_blocked_c16, the flags in the signature); a blocked output fixes CO at 16 and
    /// tunes the columns only.
    func blockedTile(_ ctx: EncodeContext, _ geo: Geometry, layout: (input: Bool, output: Bool, residual: Bool)? = nil) -> (co: Int, px: Int) {
        let mg = geo.mg, profile = ctx.cpuProfile
        let columns = Array(2...8) + (profile.blockedColumnsMax > 8 ? [10, 12, 14, 16, 20, 24].filter { $0 <= profile.blockedColumnsMax } : [])
        let fixedCO = layout?.output == true
        let space = TuningSpace(axes: [("PX", columns)] + (fixedCO ? [] : [("CO", [4, 8, 16])])) { p in
            // A channel block at least twice the group's output channels would compute mostly padding.
            guard let px = p["PX"], (1...profile.blockedColumnsMax).contains(px) else { return false }
            if fixedCO { return p["CO"] == nil }
            guard let co = p["CO"] else { return false }
            return [4, 8, 16].contains(co) && (co == 4 || co < 2 * mg)
        }
        let width = ctx.fixedSpatialSize ? blockedWindow(geo).output[1] : nil
        let px = geo.window.strides.contains(where: { $0 > 1 }) ? profile.stridedBlockedColumns(width: width)
            : width.map(profile.blockedColumns(width:)) ?? profile.blockedColumns
        let co = fixedCO ? 16 : mg <= 4 ? 4 : mg <= 8 ? 8 : 16
        let forced = ctx.options.convTile.map { fixedCO ? ["PX": $0.b] : ["CO": $0.a, "PX": $0.b] }
        let key = layout.map { l in
            tuningKey(geo, family: "conv_blocked_c16", kernel: "conv_blocked", layout: "l\(l.input ? 1 : 0)\(l.output ? 1 : 0)\(l.residual ? 1 : 0)")
        } ?? tuningKey(geo, family: "conv_blocked", kernel: "conv_blocked")
        let p = ctx.tunedParameters(key, defaults: fixedCO ? ["PX": px] : ["CO": co, "PX": px], space: space, environment: forced)
        return (fixedCO ? 16 : p["CO"] ?? co, p["PX"] ?? px)
    }

    /// conv1x1_px's tile (output channels × float8 pixel vectors): `forced` (the options'), else the
    /// tuning database's, else the CPU profile's (`CPUProfile.pixelTile`).
    func pixelTile(_ ctx: EncodeContext, _ geo: Geometry, forced: ExecutionOptions.Tile?) -> (co: Int, px: Int) {
        let profile = ctx.cpuProfile, d = profile.pixelTile
        let space = TuningSpace(axes: [("PX", [1, 2, 3, 4]), ("CO", [2, 3, 4, 6, 8])]) { p in
            guard let co = p["CO"], let px = p["PX"] else { return false }
            return (1...8).contains(co) && (1...4).contains(px) && profile.pixelTileFits(co: co, px: px)
        }
        let p = ctx.tunedParameters(tuningKey(geo, family: "conv1x1_px", kernel: "conv_blocked"), defaults: ["CO": d.a, "PX": d.b], space: space,
                                    environment: forced.map { ["CO": $0.a, "PX": $0.b] })
        return (p["CO"] ?? d.a, p["PX"] ?? d.b)
    }

    /// The tuning database key of this convolution for a kernel family: everything its best
    /// parameters depend on (channels, groups, window, padding, output size, batch).
    func tuningKey(_ geo: Geometry, family: String, kernel: String, layout: String? = nil) -> TuningKey {
        let win = geo.window.as2D
        let pads = (win.padBegin + win.padEnd).map(String.init).joined(separator: ",")
        return TuningKey(family: family, kernel: kernel,
                         signature: "c\(geo.c) co\(geo.cout) g\(geo.group) k\(win.kernel[0])x\(win.kernel[1]) s\(win.strides[0])x\(win.strides[1])"
                             + " d\(win.dilations[0])x\(win.dilations[1]) p\(pads) i\(win.input[0])x\(win.input[1]) o\(win.output[0])x\(win.output[1]) n\(geo.n)"
                             + (layout.map { " " + $0 } ?? ""))
    }

    /// The 2-D window conv2d_blocked runs: a pointwise convolution's H×W plane is one row of H·W
    /// columns (the same memory), so column blocks run on across rows with no per-row tail.
    func blockedWindow(_ geo: Geometry) -> Window {
        let win = geo.window.as2D
        guard geo.isPointwise else { return win }
        let hw = win.input.reduce(1, *)
        return Window(input: [1, hw], kernel: [1, 1], strides: [1, 1], dilations: [1, 1], padBegin: [0, 0], padEnd: [0, 0], output: [1, hw])
    }

    /// The weight repacked as [group][ceil(Mg/co)][Cg·taps][co] (zero channel tail), for
    /// conv2d_blocked and conv1x1_px. It depends on the weight and the channel block only: one
    /// upload per session, shared by the plans of every input size and by both kernels.
    func blockedWeight(_ ctx: EncodeContext, _ geo: Geometry, co: Int, taps: Int, weight: Tensor) throws -> CLBuffer {
        let k = geo.cg * taps, groupBlocks = (geo.mg + co - 1) / co
        let weightName = node.inputs.count > 1 ? node.inputs[1] : ""
        return try ctx.sharedConstants(key: "conv_blocked|\(weightName)|\(weight.shape)|\(geo.group)|\(co)") {
            var packed = [Float](repeating: 0, count: geo.group * groupBlocks * k * co)
            weight.floats.withUnsafeBufferPointer { w in
                packed.withUnsafeMutableBufferPointer { p in
                    for oc in 0..<geo.cout {
                        let g = oc / geo.mg, m = oc % geo.mg
                        let base = (g * groupBlocks + m / co) * k * co + m % co
                        for i in 0..<k { p[base + i * co] = w[oc * k + i] }
                    }
                }
            }
            return packed
        }
    }

    /// Columns per run in a row's partial last block of conv2d_blocked (-DPX_TAIL): the block's
    /// valid columns in runs of 4 instead of all PX columns. The rows of
    /// 224-input networks' last stages leave short tails (7×7 = 49 columns: 4 blocks of 12 and 1);
    /// fitting PX to the row would avoid them too, but for models whose images vary in size that
    /// would build programs per size.
    static let blockedTailColumns = 4

    /// conv2d_blocked's tail runs (-DPX_TAIL), or nil: blocks wider than the runs, except where the
    /// output is NCHW and the activation transcendental. There the store (16 × PX activations,
    /// unrolled) is already most of the kernel's code, and a second copy for the runs made the
    /// compiler spill accumulators out of the multiply-add loop (YOLOv8n's SiLU layers, PX 10:
    /// 1.4–1.6× slower on a Zen 4 without a single partial block).
    static func blockedTail(columns px: Int, output blocked: Bool, activation: FusedActivation?) -> Int? {
        guard px > Self.blockedTailColumns, blocked || !(activation?.isTranscendental ?? false) else { return nil }
        return Self.blockedTailColumns
    }

    /// Repacks the weight as [ceil(Cout/co)][C·KH·KW][co] (zero channel tail) and launches
    /// conv2d_blocked with the window geometry compiled in.
    /// `layout`: whether the input, the output and the residual are channel-blocked (BlockedConv;
    /// one group, and a blocked output needs the 16-channel block).
    func encodeBlocked(_ ctx: EncodeContext, _ geo: Geometry, tile: (co: Int, px: Int), weight: Tensor,
                       x: DeviceValue, bias: DeviceValue?, y: DeviceValue, activation: FusedActivation?, residual: DeviceValue?,
                       layout: (input: Bool, output: Bool, residual: Bool) = (false, false, false)) throws {
        guard !(layout.input || layout.output || layout.residual) || geo.group == 1, !layout.output || tile.co == BlockedConv.lanes else {
            throw ctx.error("conv2d_blocked runs the channel-blocked layout for one group, with 16-channel blocks for a blocked output")
        }
        let win = blockedWindow(geo)
        // Per group: ceil(Mg/CO) blocks of CO output channels over Cg·KH·KW taps.
        let packed = try blockedWeight(ctx, geo, co: tile.co, taps: win.kernel[0] * win.kernel[1], weight: weight)
        let blocks = geo.group * ((geo.mg + tile.co - 1) / tile.co)
        let options = "-DCO_BLOCK=\(tile.co) -DPX_BLOCK=\(tile.px) -DKH=\(win.kernel[0]) -DKW=\(win.kernel[1])"
            + " -DSH=\(win.strides[0]) -DSW=\(win.strides[1]) -DDH=\(win.dilations[0]) -DDW=\(win.dilations[1])"
            + (activation.map { " " + $0.options } ?? "") + (residual == nil ? "" : " -DRESIDUAL")
            + (layout.input ? " -DIN_C16" : "") + (layout.output ? " -DOUT_C16" : "") + (residual != nil && layout.residual ? " -DRES_C16" : "")
            + (Self.blockedTail(columns: tile.px, output: layout.output, activation: activation).map { " -DPX_TAIL=\($0)" } ?? "")
        let meta = [geo.c] + win.input + [geo.cout] + win.output + win.padBegin + [geo.cg, geo.mg]
        let pixels = win.output[0] * ((win.output[1] + tile.px - 1) / tile.px)
        try ctx.launch(try ctx.kernel("conv2d_blocked", file: "conv_blocked", options: options),
                       [.value(x), .buffer(packed), .buffer(bias?.buffer ?? x.buffer), .buffer(residual?.buffer ?? x.buffer), .value(y),
                        .buffer(try ctx.constants(meta)), .int(bias == nil ? 0 : 1), .int(geo.n)],
                       global: [pixels, blocks, geo.n], local: nil)
    }

    /// Repacks the weight as [ceil(Cout/co)][C][co] (the blocked packing with this channel block)
    /// and launches conv1x1_px.
    func encodePixelBlocked(_ ctx: EncodeContext, _ geo: Geometry, tile: (co: Int, px: Int), weight: Tensor,
                            x: DeviceValue, bias: DeviceValue?, y: DeviceValue, activation: FusedActivation?) throws {
        let packed = try blockedWeight(ctx, geo, co: tile.co, taps: 1, weight: weight)
        let blocks = (geo.cout + tile.co - 1) / tile.co
        let hw = geo.window.input.reduce(1, *)
        let options = "-DPW_CO=\(tile.co) -DPW_PX=\(tile.px)" + (activation.map { " " + $0.options } ?? "")
        try ctx.launch(try ctx.kernel("conv1x1_px", file: "conv_blocked", options: options),
                       [.value(x), .buffer(packed), .buffer(bias?.buffer ?? x.buffer), .value(y),
                        .buffer(try ctx.constants([geo.c, hw, geo.cout])), .int(bias == nil ? 0 : 1), .int(geo.n)],
                       global: [(hw + 8 * tile.px - 1) / (8 * tile.px), blocks, geo.n], local: nil)
    }

    /// conv2d_dw_c16: a depthwise convolution with input and output channel-blocked (BlockedConv),
    /// weights packed [ceil(C/16)][KH·KW][16] and the bias [ceil(C/16)·16], zero past C. Output
    /// columns per work-item: 8 on AVX-512 (8 accumulators + 9 weights of its 32 registers), else 4,
    /// or the tuning database's (`conv_dw_c16`: PX).
    func encodeDepthwiseBlocked(_ ctx: EncodeContext, _ geo: Geometry, weight: Tensor, bias: Tensor?, x: DeviceValue, y: DeviceValue) throws {
        let win = geo.window.as2D, lanes = BlockedConv.lanes
        let blocks = (geo.c + lanes - 1) / lanes, taps = win.kernel[0] * win.kernel[1]
        if node.inputs.count > 2, !node.inputs[2].isEmpty, bias == nil { throw ctx.error("a blocked depthwise convolution needs a constant bias") }
        let weightName = node.inputs[1], biasName = node.inputs.count > 2 ? node.inputs[2] : ""
        let packed = try ctx.sharedConstants(key: "conv_dw_c16|\(weightName)|\(weight.shape)") {
            var p = [Float](repeating: 0, count: blocks * taps * lanes)
            let w = weight.floats
            for ch in 0..<geo.c { for t in 0..<taps { p[((ch / lanes) * taps + t) * lanes + ch % lanes] = w[ch * taps + t] } }
            return p
        }
        let packedBias = try ctx.sharedConstants(key: "conv_dw_c16_bias|\(biasName)|\(geo.c)") {
            var p = [Float](repeating: 0, count: blocks * lanes)
            if let bias { for ch in 0..<geo.c { p[ch] = bias.floats[ch] } }
            return p
        }
        let d = ctx.cpuProfile.wide ? 8 : 4
        let space = TuningSpace(axes: [("PX", [2, 4, 6, 8, 12, 16])]) { p in p["PX"].map { (1...16).contains($0) } ?? false }
        let px = ctx.tunedParameters(tuningKey(geo, family: "conv_dw_c16", kernel: "conv_depthwise"), defaults: ["PX": d], space: space)["PX"] ?? d
        let options = "-DDWC_PX=\(px) -DDWC_KH=\(win.kernel[0]) -DDWC_KW=\(win.kernel[1]) -DDWC_SH=\(win.strides[0]) -DDWC_SW=\(win.strides[1])"
            + (activation.map { " " + $0.options } ?? "")
        try ctx.launch(try ctx.kernel("conv2d_dw_c16", file: "conv_depthwise", options: options),
                       [.value(x), .buffer(packed), .buffer(packedBias), .value(y), .buffer(try ctx.constants([geo.c] + win.input + win.output + win.padBegin)),
                        .int(geo.n)],
                       global: [win.output[0] * ((win.output[1] + px - 1) / px), blocks, geo.n], local: nil)
    }
}
