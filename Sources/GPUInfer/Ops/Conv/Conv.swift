// Conv (1-D and 2-D, NCHW): groups, strides, dilations, pads/auto_pad, optional bias.

import Foundation

/// ONNX Conv. On non-GPU devices every convolution the CPU-style vector-blocked kernel in
/// Kernels/conv_blocked.cl takes (constant weight, any group count with ≥ 4 output channels per
/// group, see `blockedTile`) runs there — pointwise ones too: on PoCL it is 7–10× faster than the
/// GEMM (fast-MPN-COV ResNet-50: 2.7 → 0.63 s per image; SSDLite's pointwise layers ~7×).
/// Otherwise pointwise convolutions (1×1, stride 1, no pads) run as a GEMM per (batch, group),
/// depthwise 3×3 stride 1/2 runs Kernels/conv_depthwise.cl, and the rest the register-tiled
/// kernel in Kernels/conv.cl ($GPUINFER_CONV=generic selects these on any device). A fused
/// Relu/Clip (`activation`) is applied at every kernel's store. 3×3 stride-1 convolutions that
/// would run the blocked kernel run Winograd F(4×4, 3×3) where it wins (ConvWinograd.swift).
struct Conv: ConvolutionOperator {
    static let opTypes = ["Conv"]
    let window: WindowAttributes
    let group: Int
    let node: Node
    let opset: Int
    /// A Relu/Clip folded into this Conv at load time (FusedActivation), applied to every output.
    let activation: FusedActivation?

    init(node: Node, opset: Int) throws {
        window = try WindowAttributes(node: node, opset: opset)
        activation = try FusedActivation(node: node)
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

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
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
        return [Tensor(shape: geo.output, floats: y)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, "Conv"), w: DeviceValue = try inputs.required(1, "Conv")
        let bias: DeviceValue? = inputs.optional(2)
        let geo = try geometry(x.type.shape, w.type.shape, bias?.type.shape)
        try ctx.require32BitIndexing([x, w, outputs[0]])
        let tile = try blockedTile(ctx, geo, weight: constants.count > 1 ? constants[1] : nil)
        if geo.isPointwise, tile == nil || ProcessInfo.processInfo.environment["GPUINFER_CONV_POINTWISE"] == "gemm" {
            // Y[n, g·Mg + m, p] = Σ_c W[g·Mg + m, c] · X[n, g·Cg + c, p] + bias[g·Mg + m]: batch (n, g).
            let hw = geo.window.input.reduce(1, *)
            var gemm = StridedGemm(m: geo.mg, n: hw, k: geo.cg, aStride: (geo.cg, 1), bStride: (hw, 1), cStride: (1, 0))
            gemm.batchDims = [geo.n, geo.group]
            gemm.aBatch = [0, geo.mg * geo.cg]
            gemm.bBatch = [geo.c * hw, geo.cg * hw]
            gemm.cBatch = [0, geo.mg]
            gemm.activation = activation
            try gemm.encode(ctx, a: w.buffer, b: x.buffer, c: bias?.buffer, y: outputs[0].buffer)
            return
        }
        if let stride = depthwiseStride(geo) {
            try encodeDepthwise(ctx, geo, stride: stride, x: x, w: w, bias: bias, y: outputs[0])
            return
        }
        if tile != nil, let m = try winogradTile(ctx, geo) {
            try encodeWinograd(ctx, geo, m: m, weight: constants[1]!, x: x, bias: bias, y: outputs[0])
            return
        }
        if let tile {
            try encodeBlocked(ctx, geo, tile: tile, weight: constants[1]!, x: x, bias: bias, y: outputs[0])
            return
        }
        let wide = geo.mg >= 4
        let (ocb, pxb) = wide ? (4, 2) : (1, 4)
        let win = geo.window.as2D
        let pixels = win.output[0] * ((win.output[1] + pxb - 1) / pxb)
        let kernel = try ctx.kernel(wide ? "conv2d_c4p2" : "conv2d_c1p4", file: "conv", options: activation?.options ?? "")
        try ctx.launch(kernel, [.value(x), .value(w), .buffer(bias?.buffer ?? x.buffer), .value(outputs[0]),
                                .buffer(try ctx.constants(geo.meta)), .int(bias == nil ? 0 : 1), .int(geo.n)],
                       global: [pixels, geo.group * ((geo.mg + ocb - 1) / ocb), geo.n], local: pixelLocalSize(pixels, ctx.workGroup))
    }

    /// The (output channels, columns) tile of the blocked kernel, or nil for the generic kernels
    /// (and the GEMM path of pointwise convolutions): those run on GPUs and for weights that are not
    /// known at plan time. The channel block is 16, or the smallest of 4 and 8 that holds a group's
    /// output channels when they are fewer (grouped convolutions such as ResNeXt's 64 groups of 4–32;
    /// groups of fewer than 4 output channels, e.g. depthwise, stay on the generic kernels).
    /// $GPUINFER_CONV=generic forces the generic kernels; $GPUINFER_CONV_TILE=COxPX (CO 4, 8 or 16)
    /// overrides the tile, for tuning; $GPUINFER_CONV_POINTWISE=gemm keeps pointwise convolutions on
    /// the GEMM path.
    func blockedTile(_ ctx: EncodeContext, _ geo: Geometry, weight: Tensor?) throws -> (co: Int, px: Int)? {
        let env = ProcessInfo.processInfo.environment
        // Depthwise-like convolutions (fewer than 4 output channels per group) keep the generic
        // kernels: a 4-wide channel block would leave most vector lanes idle.
        guard env["GPUINFER_CONV"] != "generic", !ctx.runtime.device.isGPU, weight != nil, geo.group == 1 || geo.mg >= 4 else { return nil }
        // 5 columns: 10 float16 accumulators + the weight vector fit AVX2's 16 registers (7 spill,
        // measured). The tile does not depend on the input size, so a second input size of a
        // session builds no new program.
        guard let forced = env["GPUINFER_CONV_TILE"], !forced.isEmpty else { return (geo.mg <= 4 ? 4 : geo.mg <= 8 ? 8 : 16, 5) }
        let parts = forced.split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, [4, 8, 16].contains(parts[0]), (1...16).contains(parts[1]) else {
            throw ctx.error("GPUINFER_CONV_TILE must be COxPX with CO in 4, 8, 16 and PX in 1...16, got '\(forced)'")
        }
        return (parts[0], parts[1])
    }

    /// The 2-D window conv2d_blocked runs: a pointwise convolution's H×W plane is one row of H·W
    /// columns (the same memory), so column blocks run on across rows with no per-row tail.
    func blockedWindow(_ geo: Geometry) -> Window {
        let win = geo.window.as2D
        guard geo.isPointwise else { return win }
        let hw = win.input.reduce(1, *)
        return Window(input: [1, hw], kernel: [1, 1], strides: [1, 1], dilations: [1, 1], padBegin: [0, 0], padEnd: [0, 0], output: [1, hw])
    }

    /// Repacks the weight as [ceil(Cout/co)][C·KH·KW][co] (zero channel tail) and launches
    /// conv2d_blocked with the window geometry compiled in.
    func encodeBlocked(_ ctx: EncodeContext, _ geo: Geometry, tile: (co: Int, px: Int), weight: Tensor,
                       x: DeviceValue, bias: DeviceValue?, y: DeviceValue) throws {
        let win = blockedWindow(geo)
        // Per group: ceil(Mg/CO) blocks of CO output channels over Cg·KH·KW taps.
        let k = geo.cg * win.kernel[0] * win.kernel[1], groupBlocks = (geo.mg + tile.co - 1) / tile.co
        let blocks = geo.group * groupBlocks
        // The repacked weight depends on the weight and the tile only: one upload per session,
        // shared by the plans of every input size.
        let weightName = node.inputs.count > 1 ? node.inputs[1] : ""
        let packed = try ctx.sharedConstants(key: "conv_blocked|\(weightName)|\(weight.shape)|\(geo.group)|\(tile.co)") {
            var packed = [Float](repeating: 0, count: blocks * k * tile.co)
            weight.floats.withUnsafeBufferPointer { w in
                packed.withUnsafeMutableBufferPointer { p in
                    for oc in 0..<geo.cout {
                        let g = oc / geo.mg, m = oc % geo.mg
                        let base = (g * groupBlocks + m / tile.co) * k * tile.co + m % tile.co
                        for i in 0..<k { p[base + i * tile.co] = w[oc * k + i] }
                    }
                }
            }
            return packed
        }
        let options = "-DCO_BLOCK=\(tile.co) -DPX_BLOCK=\(tile.px) -DKH=\(win.kernel[0]) -DKW=\(win.kernel[1])"
            + " -DSH=\(win.strides[0]) -DSW=\(win.strides[1]) -DDH=\(win.dilations[0]) -DDW=\(win.dilations[1])"
            + (activation.map { " " + $0.options } ?? "")
        let meta = [geo.c] + win.input + [geo.cout] + win.output + win.padBegin + [geo.cg, geo.mg]
        let pixels = win.output[0] * ((win.output[1] + tile.px - 1) / tile.px)
        try ctx.launch(try ctx.kernel("conv2d_blocked", file: "conv_blocked", options: options),
                       [.value(x), .buffer(packed), .buffer(bias?.buffer ?? x.buffer), .value(y),
                        .buffer(try ctx.constants(meta)), .int(bias == nil ? 0 : 1), .int(geo.n)],
                       global: [pixels, blocks, geo.n], local: nil)
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

    /// Kernels/conv_depthwise.cl, the 9 weights in registers and the stride compiled in. GPUs run
    /// conv2d_dw3x3 (a work-item per 4 consecutive output columns of one channel plane); other
    /// devices conv2d_dw3x3_cpu, a work-item per 4 rows × 8 columns as float8 vectors (on PoCL
    /// 3–8× faster, least on small planes such as 19×19). $GPUINFER_CONV_DW=gpu selects the GPU kernel on any device.
    func encodeDepthwise(_ ctx: EncodeContext, _ geo: Geometry, stride: Int, x: DeviceValue, w: DeviceValue, bias: DeviceValue?,
                         y: DeviceValue) throws {
        let win = geo.window.as2D
        let meta = [geo.c] + win.input + win.output + win.padBegin
        let cpu = !ctx.runtime.device.isGPU && ProcessInfo.processInfo.environment["GPUINFER_CONV_DW"] != "gpu"
        let rows = 4
        let pixels = cpu ? ((win.output[0] + rows - 1) / rows) * ((win.output[1] + 7) / 8) : win.output[0] * ((win.output[1] + 3) / 4)
        let options = "-DSTRIDE=\(stride)" + (cpu ? " -DDW_ROWS=\(rows)" : "") + (activation.map { " " + $0.options } ?? "")
        try ctx.launch(try ctx.kernel(cpu ? "conv2d_dw3x3_cpu" : "conv2d_dw3x3", file: "conv_depthwise", options: options),
                       [.value(x), .value(w), .buffer(bias?.buffer ?? x.buffer), .value(y), .buffer(try ctx.constants(meta)),
                        .int(bias == nil ? 0 : 1), .int(geo.n)],
                       global: [pixels, geo.c, geo.n], local: nil)
    }
}
