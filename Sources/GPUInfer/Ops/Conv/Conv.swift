// Conv (1-D and 2-D, NCHW): groups, strides, dilations, pads/auto_pad, optional bias.

import Foundation

/// ONNX Conv. On non-GPU devices every convolution the CPU-style vector-blocked kernel in
/// Kernels/conv_blocked.cl takes (constant weight, any group count with ≥ 4 output channels per
/// group, see `blockedTile`) runs there — pointwise ones too: on PoCL it is 7–10× faster than the
/// GEMM (fast-MPN-COV ResNet-50: 2.7 → 0.63 s per image; SSDLite's pointwise layers ~7×).
/// Otherwise pointwise convolutions (1×1, stride 1, no pads) run as a GEMM per (batch, group),
/// depthwise 3×3 stride 1/2 runs Kernels/conv_depthwise.cl, and the rest the register-tiled
/// kernel in Kernels/conv.cl ($GPUINFER_CONV=generic selects these on any device). A fused
/// Relu/Clip (`activation`) is applied at every kernel's store. A residual Add fused at load
/// (`gpuinfer.residual`, input 3) is added before the activation: in conv2d_blocked's store, on the
/// other paths by the conv_epilogue kernel after the convolution. 3×3 stride-1 convolutions that
/// would run the blocked kernel run Winograd F(2×2, 3×3) where it wins (ConvWinograd.swift).
struct Conv: ConvolutionOperator {
    static let opTypes = ["Conv"]
    /// Set (to 1) by Passes/Optimize.swift `fuseConvResidual`: input 3 is a residual added to the output.
    static let residualAttribute = "gpuinfer.residual"
    let window: WindowAttributes
    let group: Int
    let node: Node
    let opset: Int
    /// A Relu/Clip folded into this Conv at load time (FusedActivation), applied to every output.
    let activation: FusedActivation?
    /// Input 3 is a residual added before the activation (a fused Add, see `residualAttribute`).
    let hasResidual: Bool

    init(node: Node, opset: Int) throws {
        window = try WindowAttributes(node: node, opset: opset)
        activation = try FusedActivation(node: node)
        hasResidual = try node.int(Self.residualAttribute, default: 0) != 0
        guard hasResidual ? node.inputs.count == 4 && !node.inputs[3].isEmpty : node.inputs.count <= 3 else {
            throw GPUInferError.invalidModel(location: "node '\(node.label)' (Conv)",
                                             reason: hasResidual ? "a fused residual needs exactly 4 inputs" : "has \(node.inputs.count) inputs, at most 3 allowed")
        }
        group = try node.int("group", default: 1)
        guard group >= 1 else { throw node.attributeError("group", "must be ≥ 1, got \(group)") }
        self.node = node
        self.opset = opset
    }

    /// Resolved shapes of one Conv application.
    typealias Geometry = ConvShapes

    func geometry(_ x: [Int], _ w: [Int], _ b: [Int]?) throws -> Geometry {
        guard x.count == 3 || x.count == 4 else {
            if x.count == 5 {
                throw GPUInferError.unsupportedOp(op: "Conv", domain: "", node: node.label, opset: opset, reason: "3-D convolution is not implemented")
            }
            throw GPUInferError.shapeMismatch(node: node.label, op: "Conv", reason: "input \(x) must be [N, C, W] or [N, C, H, W]")
        }
        guard w.count == x.count else { throw GPUInferError.shapeMismatch(node: node.label, op: "Conv", reason: "weight \(w) must have the rank of input \(x)") }
        let kernel = Array(w.dropFirst(2))
        if let ks = window.kernelShape, ks != kernel {
            throw GPUInferError.shapeMismatch(node: node.label, op: "Conv", reason: "kernel_shape \(ks) differs from weight \(w)")
        }
        guard x[1] % group == 0, w[0] % group == 0, w[1] * group == x[1] else {
            throw GPUInferError.shapeMismatch(node: node.label, op: "Conv", reason: "input \(x), weight \(w) and group \(group) do not fit (need C = W[1]·group, W[0] divisible by group)")
        }
        if let b, b != [w[0]] { throw GPUInferError.shapeMismatch(node: node.label, op: "Conv", reason: "bias \(b) must be [\(w[0])]") }
        let win = try window.resolve(input: Array(x.dropFirst(2)), kernel: kernel, node: node)
        return Geometry(n: x[0], c: x[1], cout: w[0], group: group, window: win)
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, node.opType), w: TensorType = try inputs.required(1, node.opType)
        try requireFloat([x, w] + [inputs.optional(2)].compactMap { $0 }, node.label)
        let shape = try geometry(x.shape, w.shape, inputs.optional(2)?.shape).output
        guard hasResidual else { return [TensorType(.float32, shape)] }
        let r: TensorType = try inputs.required(3, "Conv")
        try requireFloat([r], node.label)
        return [TensorType(.float32, try Elementwise.broadcast([shape, r.shape], "Conv (fused residual Add)"))]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let convolution = try convolve(inputs)
        guard hasResidual else { return [convolution] }
        // The fused Add and activation, as the unfused Add (broadcasting) and Relu/Clip compute them.
        let r: Tensor = try inputs.required(3, "Conv")
        let shape = try Elementwise.broadcast([convolution.shape, r.shape], "Conv (fused residual Add)")
        var y = try BinaryKind.add.apply(convolution, r, shape: shape, op: "Add")
        if let activation { y.floats = y.floats.map(activation.apply) }
        return [y]
    }

    /// Σ w·x + b, with the fused activation applied unless a residual is added first.
    private func convolve(_ inputs: [Tensor?]) throws -> Tensor {
        let activation = hasResidual ? nil : self.activation
        let x: Tensor = try inputs.required(0, "Conv"), w: Tensor = try inputs.required(1, "Conv")
        let bias: Tensor? = inputs.optional(2)
        let geo = try geometry(x.shape, w.shape, bias?.shape)
        let win = geo.window.as2D
        let (H, W, OH, OW, KH, KW) = (win.input[0], win.input[1], win.output[0], win.output[1], win.kernel[0], win.kernel[1])
        let (sh, sw, dh, dw, ph, pw) = (win.strides[0], win.strides[1], win.dilations[0], win.dilations[1], win.padBegin[0], win.padBegin[1])
        var y = [Float](repeating: 0, count: geo.output.reduce(1, *))
        // For each output plane, add w·x over (c, kh, kw) in order: the same summation order as the kernel.
        x.floats.withUnsafeBufferPointer { xp in
            w.floats.withUnsafeBufferPointer { wp in
                y.withUnsafeMutableBufferPointer { yp in
                    for n in 0..<geo.n {
                        for oc in 0..<geo.cout {
                            let g = oc / geo.mg
                            let plane = (n * geo.cout + oc) * OH * OW
                            for c in 0..<geo.cg {
                                let xc = (n * geo.c + g * geo.cg + c) * H * W
                                for kh in 0..<KH {
                                    for kw in 0..<KW {
                                        let wv = wp[((oc * geo.cg + c) * KH + kh) * KW + kw]
                                        // Output columns whose input column is inside [0, W).
                                        let off = kw * dw - pw
                                        let lo = off >= 0 ? 0 : (-off + sw - 1) / sw
                                        let hi = W - 1 - off >= 0 ? min(OW - 1, (W - 1 - off) / sw) : -1
                                        if lo > hi { continue }
                                        for oh in 0..<OH {
                                            let ih = oh * sh - ph + kh * dh
                                            if ih < 0 || ih >= H { continue }
                                            let xr = xc + ih * W + off, yr = plane + oh * OW
                                            for ow in lo...hi { yp[yr + ow] += wv * xp[xr + ow * sw] }
                                        }
                                    }
                                }
                            }
                            if let bias {
                                let b = bias.floats[oc]
                                for i in plane..<(plane + OH * OW) { yp[i] += b }
                            }
                            if let activation {
                                for i in plane..<(plane + OH * OW) { yp[i] = activation.apply(yp[i]) }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: geo.output, floats: y)
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, "Conv"), w: DeviceValue = try inputs.required(1, "Conv")
        let bias: DeviceValue? = inputs.optional(2)
        let geo = try geometry(x.type.shape, w.type.shape, bias?.type.shape)
        try ctx.require32BitIndexing([x, w, outputs[0]])
        let weight = constants.count > 1 ? constants[1] : nil
        let tile = try blockedTile(ctx, geo, weight: weight)
        let residual: DeviceValue? = hasResidual ? try inputs.required(3, "Conv") : nil
        let y = outputs[0]
        guard let residual else {
            try encodeConvolution(ctx, geo, tile: tile, x: x, w: w, weight: weight, bias: bias, y: y, activation: activation)
            return
        }
        // (y's shape broadcasts the convolution's and the residual's: equal to both when they are equal.)
        if residual.type.shape == geo.output {
            // Same shape: conv2d_blocked adds it at its store; the other paths store Σ w·x + b and
            // conv_epilogue adds it and applies the activation in place.
            if try encodeConvolution(ctx, geo, tile: tile, x: x, w: w, weight: weight, bias: bias, y: y, activation: activation,
                                     residual: residual) { return }
            try encodeEpilogue(ctx, y: y, residual: residual)
            return
        }
        // A residual that broadcasts: the convolution into scratch, the Add kernel, then the activation.
        let convolution = DeviceValue(buffer: try ctx.scratch(bytes: geo.output.reduce(1, *) * 4), type: TensorType(.float32, geo.output))
        try encodeConvolution(ctx, geo, tile: tile, x: x, w: w, weight: weight, bias: bias, y: convolution, activation: nil)
        guard let stem = BinaryKind.add.resolve(.float32, .float32)?.stem else { throw ctx.error("no float Add kernel") }
        try Elementwise.launch(ctx, stem, inputs: [convolution.buffer, residual.buffer], shapes: [geo.output, residual.type.shape], output: y)
        if activation != nil { try encodeEpilogue(ctx, y: y, residual: nil) }
    }

    /// Launches conv_epilogue on `y`: act(y + residual), or act(y) when `residual` is nil.
    private func encodeEpilogue(_ ctx: EncodeContext, y: DeviceValue, residual: DeviceValue?) throws {
        try ctx.launch1D(try ctx.kernel("conv_epilogue", file: "conv", options: activation?.options ?? ""),
                         [.int(y.count), .value(y), .buffer(residual?.buffer ?? y.buffer), .int(residual == nil ? 0 : 1)], count: y.count)
    }

    /// Encodes Σ w·x + b into `y` with `activation` at the store. With a `residual` (shaped like
    /// `y`) only conv2d_blocked adds it, before the activation, and returns true; the other paths
    /// then store Σ w·x + b without the activation and return false.
    @discardableResult
    private func encodeConvolution(_ ctx: EncodeContext, _ geo: Geometry, tile: (co: Int, px: Int)?, x: DeviceValue, w: DeviceValue,
                                   weight: Tensor?, bias: DeviceValue?, y: DeviceValue, activation: FusedActivation?,
                                   residual: DeviceValue? = nil) throws -> Bool {
        // Kernels other than conv2d_blocked store Σ w·x + b when there is a residual; conv_epilogue then finishes.
        let storeActivation = residual == nil ? activation : nil
        if geo.isPointwise, tile == nil || ProcessInfo.processInfo.environment["GPUINFER_CONV_POINTWISE"] == "gemm" {
            // Y[n, g·Mg + m, p] = Σ_c W[g·Mg + m, c] · X[n, g·Cg + c, p] + bias[g·Mg + m]: batch (n, g).
            let hw = geo.window.input.reduce(1, *)
            var gemm = StridedGemm(m: geo.mg, n: hw, k: geo.cg, aStride: (geo.cg, 1), bStride: (hw, 1), cStride: (1, 0))
            gemm.batchDims = [geo.n, geo.group]
            gemm.aBatch = [0, geo.mg * geo.cg]
            gemm.bBatch = [geo.c * hw, geo.cg * hw]
            gemm.cBatch = [0, geo.mg]
            gemm.activation = storeActivation
            try gemm.encode(ctx, a: w.buffer, b: x.buffer, c: bias?.buffer, y: y.buffer)
            return false
        }
        if let stride = depthwiseStride(geo) {
            try encodeDepthwise(ctx, geo, stride: stride, x: x, w: w, bias: bias, y: y, activation: storeActivation)
            return false
        }
        // A blocked tile implies a constant weight (blockedTile).
        if tile != nil, let weight, let m = try winogradTile(ctx, geo) {
            try encodeWinograd(ctx, geo, m: m, weight: weight, x: x, bias: bias, y: y, activation: storeActivation)
            return false
        }
        if tile != nil, let weight, let px = try pixelTile(ctx, geo) {
            try encodePixelBlocked(ctx, geo, tile: px, weight: weight, x: x, bias: bias, y: y, activation: storeActivation)
            return false
        }
        if let tile, let weight {
            try encodeBlocked(ctx, geo, tile: tile, weight: weight, x: x, bias: bias, y: y, activation: activation, residual: residual)
            return true
        }
        let wide = geo.mg >= 4
        let (ocb, pxb) = wide ? (4, 2) : (1, 4)
        let win = geo.window.as2D
        let pixels = win.output[0] * ((win.output[1] + pxb - 1) / pxb)
        let kernel = try ctx.kernel(wide ? "conv2d_c4p2" : "conv2d_c1p4", file: "conv", options: storeActivation?.options ?? "")
        try ctx.launch(kernel, [.value(x), .value(w), .buffer(bias?.buffer ?? x.buffer), .value(y),
                                .buffer(try ctx.constants(geo.meta)), .int(bias == nil ? 0 : 1), .int(geo.n)],
                       global: [pixels, geo.group * ((geo.mg + ocb - 1) / ocb), geo.n], local: pixelLocalSize(pixels, ctx.workGroup))
        return false
    }

    /// The (output channels, columns) tile of the blocked kernel, or nil for the generic kernels
    /// (and the GEMM path of pointwise convolutions): those run on GPUs and for weights that are not
    /// known at plan time. The channel block is 16, or the smallest of 4 and 8 that holds a group's
    /// output channels when they are fewer (grouped convolutions such as ResNeXt's 64 groups of 4–32;
    /// groups of fewer than 4 output channels, e.g. depthwise, stay on the generic kernels).
    /// $GPUINFER_CONV=generic forces the generic kernels; $GPUINFER_CONV_TILE=COxPX (CO 4, 8 or 16)
    /// overrides the tile and the tuning database's entry (`gpuinfer tune`);
    /// $GPUINFER_CONV_POINTWISE=gemm keeps pointwise convolutions on the GEMM path.
    func blockedTile(_ ctx: EncodeContext, _ geo: Geometry, weight: Tensor?) throws -> (co: Int, px: Int)? {
        let env = ProcessInfo.processInfo.environment
        // Depthwise-like convolutions (fewer than 4 output channels per group) keep the generic
        // kernels: a 4-wide channel block would leave most vector lanes idle.
        guard env["GPUINFER_CONV"] != "generic", !ctx.runtime.device.isGPU, weight != nil, geo.group == 1 || geo.mg >= 4,
              !(geo.isPointwise && env["GPUINFER_CONV_POINTWISE"] == "gemm") else { return nil }
        // 5 columns: 10 float16 accumulators + the weight vector fit AVX2's 16 registers (7 spill,
        // measured). The tile does not depend on the input size, so a second input size of a
        // session builds no new program.
        // A tuning database entry (`gpuinfer tune`) replaces the default; the variable beats both.
        var forced: [String: Int]?
        if let text = env["GPUINFER_CONV_TILE"], !text.isEmpty {
            let parts = text.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, [4, 8, 16].contains(parts[0]), (1...16).contains(parts[1]) else {
                throw ctx.error("GPUINFER_CONV_TILE must be COxPX with CO in 4, 8, 16 and PX in 1...16, got '\(text)'")
            }
            forced = ["CO": parts[0], "PX": parts[1]]
        }
        let mg = geo.mg
        let space = TuningSpace(axes: [("PX", [2, 3, 4, 5, 6, 7, 8]), ("CO", [4, 8, 16])]) { p in
            // A channel block at least twice the group's output channels would compute mostly padding.
            guard let co = p["CO"], let px = p["PX"] else { return false }
            return [4, 8, 16].contains(co) && (co == 4 || co < 2 * mg) && (1...16).contains(px)
        }
        let p = ctx.tunedParameters(tuningKey(geo, family: "conv_blocked", kernel: "conv_blocked"),
                                    defaults: ["CO": mg <= 4 ? 4 : mg <= 8 ? 8 : 16, "PX": 5], space: space, environment: forced)
        return (p["CO"] ?? 16, p["PX"] ?? 5)
    }

    /// The tuning database key of this convolution for a kernel family: everything its best
    /// parameters depend on (channels, groups, window, padding, output size, batch).
    func tuningKey(_ geo: Geometry, family: String, kernel: String) -> TuningKey {
        let win = geo.window.as2D
        let pads = (win.padBegin + win.padEnd).map(String.init).joined(separator: ",")
        return TuningKey(family: family, kernel: kernel,
                         signature: "c\(geo.c) co\(geo.cout) g\(geo.group) k\(win.kernel[0])x\(win.kernel[1]) s\(win.strides[0])x\(win.strides[1])"
                             + " d\(win.dilations[0])x\(win.dilations[1]) p\(pads) i\(win.input[0])x\(win.input[1]) o\(win.output[0])x\(win.output[1]) n\(geo.n)")
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

    /// Repacks the weight as [ceil(Cout/co)][C·KH·KW][co] (zero channel tail) and launches
    /// conv2d_blocked with the window geometry compiled in.
    func encodeBlocked(_ ctx: EncodeContext, _ geo: Geometry, tile: (co: Int, px: Int), weight: Tensor,
                       x: DeviceValue, bias: DeviceValue?, y: DeviceValue, activation: FusedActivation?, residual: DeviceValue?) throws {
        let win = blockedWindow(geo)
        // Per group: ceil(Mg/CO) blocks of CO output channels over Cg·KH·KW taps.
        let packed = try blockedWeight(ctx, geo, co: tile.co, taps: win.kernel[0] * win.kernel[1], weight: weight)
        let blocks = geo.group * ((geo.mg + tile.co - 1) / tile.co)
        let options = "-DCO_BLOCK=\(tile.co) -DPX_BLOCK=\(tile.px) -DKH=\(win.kernel[0]) -DKW=\(win.kernel[1])"
            + " -DSH=\(win.strides[0]) -DSW=\(win.strides[1]) -DDH=\(win.dilations[0]) -DDW=\(win.dilations[1])"
            + (activation.map { " " + $0.options } ?? "") + (residual == nil ? "" : " -DRESIDUAL")
        let meta = [geo.c] + win.input + [geo.cout] + win.output + win.padBegin + [geo.cg, geo.mg]
        let pixels = win.output[0] * ((win.output[1] + tile.px - 1) / tile.px)
        try ctx.launch(try ctx.kernel("conv2d_blocked", file: "conv_blocked", options: options),
                       [.value(x), .buffer(packed), .buffer(bias?.buffer ?? x.buffer), .buffer(residual?.buffer ?? x.buffer), .value(y),
                        .buffer(try ctx.constants(meta)), .int(bias == nil ? 0 : 1), .int(geo.n)],
                       global: [pixels, blocks, geo.n], local: nil)
    }

    /// The (output channels, float8 pixel vectors) tile of conv1x1_px (Kernels/conv_blocked.cl),
    /// or nil for conv2d_blocked: used for ungrouped pointwise convolutions with at most 160 input
    /// channels on planes of at least 2048 pixels (1024 with at most 64 input channels), where
    /// storing whole float8 runs of output rows beats conv2d_blocked's scalar per-channel stores
    /// (on PoCL SSDLite's 150×150 and 75×75 pointwise layers run 1.5–2.5× faster, 38×38 32→192
    /// ~1.4×, ResNet's 56×56 64→64 and 64→256 1.2–1.5×); with more input channels (ResNet's
    /// 56×56 256→64, 512→128) or on 10×10 planes conv2d_blocked is as fast or faster (more
    /// weight reuse). 6 channels × 2 vectors: 12 float8 accumulators + 2 loads + a broadcast fit
    /// AVX2's 16 registers; best or tied on SSDLite's layers (4 × 3 was faster on 16→96 only).
    /// $GPUINFER_CONV_PX=off keeps conv2d_blocked, =COxPX (CO 1–8, PX 1–4) overrides the tile.
    func pixelTile(_ ctx: EncodeContext, _ geo: Geometry) throws -> (co: Int, px: Int)? {
        let env = ProcessInfo.processInfo.environment["GPUINFER_CONV_PX"]
        let hw = geo.window.input.reduce(1, *)
        guard geo.isPointwise, geo.group == 1, env != "off", geo.c <= 160, hw >= 2048 || (hw >= 1024 && geo.c <= 64) else { return nil }
        guard let env, !env.isEmpty else { return (6, 2) }
        let parts = env.split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, (1...8).contains(parts[0]), (1...4).contains(parts[1]) else {
            throw ctx.error("GPUINFER_CONV_PX must be off or COxPX with CO in 1...8 and PX in 1...4, got '\(env)'")
        }
        return (parts[0], parts[1])
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

    /// The stride (1 or 2) when this is a 2-D depthwise 3×3 convolution (one input channel per
    /// group and one output per group, equal strides, no dilation) with the specialised kernel;
    /// nil otherwise. $GPUINFER_CONV=generic disables it.
    func depthwiseStride(_ geo: Geometry) -> Int? {
        let win = geo.window
        guard ProcessInfo.processInfo.environment["GPUINFER_CONV"] != "generic", win.input.count == 2,
              geo.group == geo.c, geo.cout == geo.c, geo.cg == 1, win.kernel == [3, 3], win.dilations == [1, 1],
              win.strides[0] == win.strides[1], [1, 2].contains(win.strides[0]) else { return nil }
        return win.strides[0]
    }

    /// Output rows per work-item of conv2d_dw3x3_cpu: 4, or the tuning database's (`gpuinfer tune`).
    func depthwiseRows(_ ctx: EncodeContext, _ geo: Geometry) -> Int {
        let space = TuningSpace(axes: [("ROWS", [1, 2, 3, 4, 6, 8])]) { p in p["ROWS"].map { (1...8).contains($0) } ?? false }
        return ctx.tunedParameters(tuningKey(geo, family: "conv_dw3x3_cpu", kernel: "conv_depthwise"), defaults: ["ROWS": 4], space: space)["ROWS"] ?? 4
    }

    /// Kernels/conv_depthwise.cl, the 9 weights in registers and the stride compiled in. GPUs run
    /// conv2d_dw3x3 (a work-item per 4 consecutive output columns of one channel plane); other
    /// devices conv2d_dw3x3_cpu, a work-item per 4 rows × 8 columns as float8 vectors (on PoCL
    /// 3–8× faster, least on small planes such as 19×19), or, for stride 1 with the output the
    /// input's size (SAME), conv2d_dw3x3_flat: the plane as one row of runs of 8 with no per-row
    /// tails (on PoCL 2–2.5× faster than conv2d_dw3x3_cpu on 38×38 … 5×5 planes, ~1.1× on 75×75
    /// and 150×150). $GPUINFER_CONV_DW=gpu selects the GPU kernel on any device, =rows keeps
    /// conv2d_dw3x3_cpu for every stride.
    func encodeDepthwise(_ ctx: EncodeContext, _ geo: Geometry, stride: Int, x: DeviceValue, w: DeviceValue, bias: DeviceValue?,
                         y: DeviceValue, activation: FusedActivation?) throws {
        let win = geo.window.as2D
        let meta = [geo.c] + win.input + win.output + win.padBegin
        let mode = ProcessInfo.processInfo.environment["GPUINFER_CONV_DW"]
        let cpu = !ctx.runtime.device.isGPU && mode != "gpu"
        if cpu, mode != "rows", stride == 1, win.output == win.input, (0...2).contains(win.padBegin[1]) {
            let hw = win.input[0] * win.input[1], chunks = 8
            let options = "-DPW=\(win.padBegin[1]) -DDWF_CHUNKS=\(chunks)" + (activation.map { " " + $0.options } ?? "")
            try ctx.launch(try ctx.kernel("conv2d_dw3x3_flat", file: "conv_depthwise", options: options),
                           [.value(x), .value(w), .buffer(bias?.buffer ?? x.buffer), .value(y),
                            .buffer(try ctx.constants([geo.c] + win.input + [win.padBegin[0]])), .int(bias == nil ? 0 : 1), .int(geo.n)],
                           global: [(hw + 8 * chunks - 1) / (8 * chunks), geo.c, geo.n], local: nil)
            return
        }
        let rows = cpu ? depthwiseRows(ctx, geo) : 4
        let pixels = cpu ? ((win.output[0] + rows - 1) / rows) * ((win.output[1] + 7) / 8) : win.output[0] * ((win.output[1] + 3) / 4)
        let options = "-DSTRIDE=\(stride)" + (cpu ? " -DDW_ROWS=\(rows)" : "") + (activation.map { " " + $0.options } ?? "")
        try ctx.launch(try ctx.kernel(cpu ? "conv2d_dw3x3_cpu" : "conv2d_dw3x3", file: "conv_depthwise", options: options),
                       [.value(x), .value(w), .buffer(bias?.buffer ?? x.buffer), .value(y), .buffer(try ctx.constants(meta)),
                        .int(bias == nil ? 0 : 1), .int(geo.n)],
                       global: [pixels, geo.c, geo.n], local: nil)
    }
}
