// ai.gpuinfer::BlockedConv: a Conv whose input, output and fused residual may be in the
// channel-blocked layout [N][ceil(C/16)][H][W][16] (channel c at block c/16, lane c%16; lanes past C
// hold 0) that Passes/BlockedLayout.swift gives the values between CPU-style convolutions. The
// convolution itself is the Conv it replaces (same attributes, fused activation and residual): the
// reference unblocks, runs Conv's reference and blocks, so device and reference agree exactly as
// they do for Conv. Kernels: conv2d_blocked with -DIN_C16/-DOUT_C16/-DRES_C16 (one group), the
// channel-blocked Winograd kernels (winograd_*_c16 in Kernels/conv_winograd.cl, where
// `ConvAlgorithm.winogradTile` picks Winograd for the geometry) with the same flags, and
// conv2d_dw_c16 (depthwise, blocked in and out) in Kernels/conv_depthwise.cl.
import Foundation

/// A 2-D Conv with channel-blocked operands.
///
/// Inputs as Conv's: x (blocked when `gpuinfer.input_blocked` = 1), W, optional B, and with
/// `gpuinfer.residual` the fused residual (blocked when `gpuinfer.residual_blocked` = 1). The output
/// is blocked when `gpuinfer.output_blocked` = 1. `gpuinfer.opset` keeps the Conv's ONNX opset.
struct BlockedConv: Operator {
    static let domain = "ai.gpuinfer"
    static let opTypes = ["BlockedConv"]
    static let inputAttribute = "gpuinfer.input_blocked"
    static let outputAttribute = "gpuinfer.output_blocked"
    static let residualLayoutAttribute = "gpuinfer.residual_blocked"
    static let opsetAttribute = "gpuinfer.opset"
    /// Channels per block: the lanes of a float16.
    static let lanes = 16

    let conv: Conv
    let inputBlocked: Bool
    let outputBlocked: Bool
    let residualBlocked: Bool
    let node: Node

    init(node: Node, opset: Int) throws {
        func flag(_ name: String) throws -> Bool {
            let v = try node.int(name, default: 0)
            guard v == 0 || v == 1 else { throw node.attributeError(name, "must be 0 or 1, got \(v)") }
            return v == 1
        }
        inputBlocked = try flag(Self.inputAttribute)
        outputBlocked = try flag(Self.outputAttribute)
        residualBlocked = try flag(Self.residualLayoutAttribute)
        var plain = node
        plain.opType = "Conv"
        plain.domain = ""
        for a in [Self.inputAttribute, Self.outputAttribute, Self.residualLayoutAttribute, Self.opsetAttribute] { plain.attributes[a] = nil }
        conv = try Conv(node: plain, opset: try node.int(Self.opsetAttribute, default: 11))
        guard conv.hasResidual || !residualBlocked else {
            throw node.attributeError(Self.residualLayoutAttribute, "is set on a convolution without a fused residual")
        }
        self.node = node
    }

    // MARK: - The layout

    /// [N, C, H, W] → [N, ceil(C/16), H, W, 16].
    static func blockedShape(_ s: [Int]) -> [Int] { [s[0], (s[1] + lanes - 1) / lanes, s[2], s[3], lanes] }

    /// Blocks an [N, C, H, W] tensor; lanes past C are 0.
    static func block(_ t: Tensor) -> Tensor {
        let s = t.shape, (n, c, hw) = (s[0], s[1], s[2] * s[3]), cb = (s[1] + lanes - 1) / lanes
        var y = [Float](repeating: 0, count: n * cb * hw * lanes)
        let x = t.floats
        for b in 0..<n {
            for ch in 0..<c {
                let src = (b * c + ch) * hw, dst = ((b * cb + ch / lanes) * hw) * lanes + ch % lanes
                for p in 0..<hw { y[dst + p * lanes] = x[src + p] }
            }
        }
        return Tensor(shape: blockedShape(s), floats: y)
    }

    /// The [N, C, H, W] tensor of a blocked one with C channels.
    static func unblock(_ t: Tensor, channels c: Int) -> Tensor {
        let s = t.shape, (n, cb, hw) = (s[0], s[1], s[2] * s[3])
        var y = [Float](repeating: 0, count: n * c * hw)
        let x = t.floats
        for b in 0..<n {
            for ch in 0..<c {
                let dst = (b * c + ch) * hw, src = ((b * cb + ch / lanes) * hw) * lanes + ch % lanes
                for p in 0..<hw { y[dst + p] = x[src + p * lanes] }
            }
        }
        return Tensor(shape: [n, c, s[2], s[3]], floats: y)
    }

    /// The unblocked shape of operand `what` given its (possibly blocked) shape and channel count.
    func plainShape(_ s: [Int], blocked: Bool, channels: Int, _ what: String) throws -> [Int] {
        guard blocked else { return s }
        return try Self.plainShape(s, channels: channels, node: node.label, op: "BlockedConv", what)
    }

    /// The [N, C, H, W] shape of a channel-blocked shape [N, ceil(C/16), H, W, 16] with `channels`
    /// channels; a typed error naming operand `what` of node `node` (op `op`) for any other shape.
    static func plainShape(_ s: [Int], channels: Int, node: String, op: String, _ what: String) throws -> [Int] {
        guard s.count == 5, s[4] == lanes, s[1] == (channels + lanes - 1) / lanes else {
            throw GPUInferError.shapeMismatch(node: node, op: op,
                                              reason: "\(what) \(s) is not the channel-blocked layout of \(channels) channels [N, \((channels + lanes - 1) / lanes), H, W, \(lanes)]")
        }
        return [s[0], channels, s[2], s[3]]
    }

    /// Input and output channel counts from the weight's shape.
    func channels(_ w: [Int]) throws -> (c: Int, cout: Int) {
        guard w.count == 4 else { throw GPUInferError.shapeMismatch(node: node.label, op: "BlockedConv", reason: "weight \(w) must be 4-D") }
        return (w[1] * conv.group, w[0])
    }

    /// The Conv operand types: x and the residual unblocked.
    func plainTypes(_ inputs: [TensorType?]) throws -> [TensorType?] {
        let x: TensorType = try inputs.required(0, "BlockedConv"), w: TensorType = try inputs.required(1, "BlockedConv")
        let (c, cout) = try channels(w.shape)
        var types = inputs
        types[0] = TensorType(x.dtype, try plainShape(x.shape, blocked: inputBlocked, channels: c, "input"))
        if conv.hasResidual, inputs.count > 3, let r = inputs[3] {
            types[3] = TensorType(r.dtype, try plainShape(r.shape, blocked: residualBlocked, channels: cout, "residual"))
        }
        return types
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let plain = try plainTypes(inputs)
        let y = try conv.inferTypes(plain, constants: constants)
        guard outputBlocked else { return y }
        guard y[0].shape.count == 4 else { throw GPUInferError.shapeMismatch(node: node.label, op: "BlockedConv", reason: "only 2-D convolutions are blocked") }
        return [TensorType(.float32, Self.blockedShape(y[0].shape))]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, "BlockedConv"), w: Tensor = try inputs.required(1, "BlockedConv")
        let (c, cout) = try channels(w.shape)
        _ = try plainTypes(inputs.map { $0.map { TensorType($0.dtype, $0.shape) } })
        var plain = inputs
        if inputBlocked { plain[0] = Self.unblock(x, channels: c) }
        if conv.hasResidual, residualBlocked, inputs.count > 3, let r = inputs[3] { plain[3] = Self.unblock(r, channels: cout) }
        let y = try conv.reference(plain)
        return outputBlocked ? [Self.block(y[0])] : y
    }

    func flops(_ inputs: [TensorType?], outputs: [TensorType]) -> Double {
        guard let plain = try? plainTypes(inputs), let y = try? conv.inferTypes(plain, constants: []) else { return 0 }
        return conv.flops(plain, outputs: y)
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, "BlockedConv"), w: DeviceValue = try inputs.required(1, "BlockedConv")
        let (c, cout) = try channels(w.type.shape)
        let bias: DeviceValue? = inputs.optional(2)
        let geo = try conv.geometry(try plainShape(x.type.shape, blocked: inputBlocked, channels: c, "input"), w.type.shape, bias?.type.shape)
        try ctx.require32BitIndexing([x, w, outputs[0]])
        guard ctx.family == .cpu else { throw ctx.error("the channel-blocked layout runs on CPU-style kernels only") }
        guard let weight = constants.count > 1 ? constants[1] : nil else { throw ctx.error("a blocked convolution needs a constant weight") }
        let residual: DeviceValue? = conv.hasResidual ? try inputs.required(3, "BlockedConv") : nil
        if let residual, try plainShape(residual.type.shape, blocked: residualBlocked, channels: cout, "residual") != geo.output {
            throw ctx.error("a blocked convolution's residual must have the output's shape \(geo.output), got \(residual.type.shape)")
        }
        if geo.group > 1 {
            guard geo.group == geo.c, geo.cout == geo.c, inputBlocked, outputBlocked, residual == nil, geo.window.dilations.allSatisfy({ $0 == 1 }) else {
                throw ctx.error("a grouped blocked convolution must be depthwise, blocked in and out, undilated and without a residual")
            }
            try conv.encodeDepthwiseBlocked(ctx, geo, weight: weight, bias: constants.count > 2 ? constants[2] : nil, x: x, y: outputs[0])
            return
        }
        let layout = (input: inputBlocked, output: outputBlocked, residual: residualBlocked)
        if let m = ConvAlgorithm.winogradTile(geo, ctx.options.winograd, profile: ctx.cpuProfile, blocked: true) {
            try conv.encodeWinogradBlocked(ctx, geo, m: m, weight: weight, x: x, bias: bias, residual: residual, y: outputs[0],
                                           activation: conv.activation, layout: layout)
            return
        }
        try conv.encodeBlocked(ctx, geo, tile: conv.blockedTile(ctx, geo, layout: layout),
                               weight: weight, x: x, bias: bias, y: outputs[0], activation: conv.activation, residual: residual,
                               layout: layout)
    }
}
