// Conv (1-D and 2-D, NCHW): groups, strides, dilations, pads/auto_pad, optional bias.

import Foundation

/// ONNX Conv. The algorithm (direct, pointwise GEMM, depthwise, register-blocked, pixel-blocked,
/// Winograd) is `ConvAlgorithm.select`'s choice from the geometry, whether the weight is a
/// constant, the execution options and the kernel family; each has its encoder file. A fused
/// activation (`activation`, FusedActivation) is applied at every kernel's store. A residual Add
/// fused at load (`gpuinfer.residual`, input 3) is added before the activation: in the store of
/// conv2d_blocked and conv2d_gemm, on the other paths by the conv_epilogue kernel after the convolution.
struct Conv: ConvolutionOperator {
    static let opTypes = ["Conv"]
    /// Set (to 1) by Passes/Optimize.swift `fuseConvResidual`: input 3 is a residual added to the output.
    static let residualAttribute = "gpuinfer.residual"
    let window: WindowAttributes
    let group: Int
    let node: Node
    let opset: Int
    /// An activation folded into this Conv at load time (FusedActivation), applied to every output.
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
        // The fused Add and activation, as the unfused Add (broadcasting) and activation compute them.
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
        let algorithm = ConvAlgorithm.select(geo, weightKnown: weight != nil, options: ctx.options, family: ctx.family, profile: ctx.cpuProfile)
        let residual: DeviceValue? = hasResidual ? try inputs.required(3, "Conv") : nil
        let y = outputs[0]
        let operands = ConvOperands(x: x, w: w, weight: weight, bias: bias)
        guard let residual else {
            try encodeConvolution(ctx, geo, algorithm, operands, y: y, activation: activation)
            return
        }
        // (y's shape broadcasts the convolution's and the residual's: equal to both when they are equal.)
        if residual.type.shape == geo.output {
            // Same shape: conv2d_blocked and conv2d_gemm add it at their store; the other paths store Σ w·x + b and
            // conv_epilogue adds it and applies the activation in place.
            if try encodeConvolution(ctx, geo, algorithm, operands, y: y, activation: activation, residual: residual) { return }
            try encodeEpilogue(ctx, y: y, residual: residual)
            return
        }
        // A residual that broadcasts: the convolution into scratch, the Add kernel, then the activation.
        let convolution = DeviceValue(buffer: try ctx.scratch(bytes: geo.output.reduce(1, *) * 4), type: TensorType(.float32, geo.output))
        try encodeConvolution(ctx, geo, algorithm, operands, y: convolution, activation: nil)
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
    /// `y`) conv2d_blocked and conv2d_gemm add it, before the activation, and return true; the other
    /// algorithms then store Σ w·x + b without the activation and return false.
    @discardableResult
    private func encodeConvolution(_ ctx: EncodeContext, _ geo: Geometry, _ algorithm: ConvAlgorithm, _ v: ConvOperands, y: DeviceValue,
                                   activation: FusedActivation?, residual: DeviceValue? = nil) throws -> Bool {
        // Kernels other than conv2d_blocked / conv2d_gemm store Σ w·x + b when there is a residual; conv_epilogue then finishes.
        let storeActivation = residual == nil ? activation : nil
        switch algorithm {
        case .pointwiseGemm:
            try encodePointwiseGemm(ctx, geo, v, y: y, activation: storeActivation)
        case let .depthwise(kernel, stride):
            try encodeDepthwise(ctx, geo, kernel: kernel, stride: stride, v, y: y, activation: storeActivation)
        case .depthwiseLocal:
            try encodeDepthwiseLocal(ctx, geo, v, y: y, activation: storeActivation)
        case let .winograd(m):
            try encodeWinograd(ctx, geo, m: m, weight: try v.constantWeight(ctx), x: v.x, bias: v.bias, y: y, activation: storeActivation)
        case let .pixelBlocked(tile):
            try encodePixelBlocked(ctx, geo, tile: pixelTile(ctx, geo, forced: tile), weight: try v.constantWeight(ctx), x: v.x, bias: v.bias, y: y,
                                   activation: storeActivation)
        case .blocked:
            try encodeBlocked(ctx, geo, tile: blockedTile(ctx, geo), weight: try v.constantWeight(ctx), x: v.x, bias: v.bias, y: y,
                              activation: activation, residual: residual)
            return true
        case .implicitGemm:
            try encodeImplicitGemm(ctx, geo, v, y: y, activation: activation, residual: residual)
            return true
        case .direct:
            try encodeDirect(ctx, geo, v, y: y, activation: storeActivation)
        }
        return false
    }
}

/// The operands of one convolution: input, weight (on the device, and its value when it is a
/// constant of the model), optional bias.
struct ConvOperands {
    let x: DeviceValue
    let w: DeviceValue
    let weight: Tensor?
    let bias: DeviceValue?

    /// The weight's value, which the repacking algorithms need (the selector only picks them when known).
    func constantWeight(_ ctx: EncodeContext) throws -> Tensor {
        guard let weight else { throw ctx.error("this convolution algorithm needs a weight known when the plan is built") }
        return weight
    }
}
