// ai.gpuinfer::BlockedPool: a 2-D MaxPool or AveragePool (without Indices) on channel-blocked
// values, [N][ceil(C/16)][H][W][16] in and out, that Passes/BlockedLayout.swift puts between
// blocked convolutions (VGG's stage pools, ResNet's stem pool, YOLO's SPPF, ResNet-vd's shortcut
// pools) so the values around them stay blocked. The pooling itself is the Pool it replaces (same
// attributes): the reference unblocks, runs Pool's reference and blocks, so device and reference
// agree exactly as they do for Pool (same taps, order and divisor). Kernel: pool2d_c16 in
// Kernels/pool.cl, one float16 of 16 channels per output pixel.
import Foundation

/// A MaxPool / AveragePool on channel-blocked values.
///
/// Attributes: the Pool's, plus `gpuinfer.pool` (the ONNX op type it replaces), `gpuinfer.channels`
/// (C: lanes of channels ≥ C are stored as 0) and `gpuinfer.opset` (the Pool's ONNX opset).
struct BlockedPool: Operator {
    static let domain = "ai.gpuinfer"
    static let opTypes = ["BlockedPool"]
    static let poolAttribute = "gpuinfer.pool"
    static let channelsAttribute = "gpuinfer.channels"
    static let opsetAttribute = "gpuinfer.opset"

    let pool: Pool
    let channels: Int
    let node: Node

    init(node: Node, opset: Int) throws {
        guard case let .string(kind)? = node.attributes[Self.poolAttribute], Pool.opTypes.contains(kind) else {
            throw node.attributeError(Self.poolAttribute, "must be one of \(Pool.opTypes.joined(separator: ", "))")
        }
        channels = try node.int(Self.channelsAttribute, default: 0)
        guard channels >= 1 else { throw node.attributeError(Self.channelsAttribute, "must be a positive channel count, got \(channels)") }
        var plain = node
        plain.opType = kind
        plain.domain = ""
        for a in [Self.poolAttribute, Self.channelsAttribute, Self.opsetAttribute] { plain.attributes[a] = nil }
        pool = try Pool(node: plain, opset: try node.int(Self.opsetAttribute, default: 11))
        guard !pool.wantIndices else {
            throw GPUInferError.unsupportedOp(op: "BlockedPool", domain: Self.domain, node: node.label, opset: opset, reason: "MaxPool's Indices output is not produced in the channel-blocked layout")
        }
        self.node = node
    }

    /// The NCHW shape of the blocked input.
    func plainShape(_ s: [Int]) throws -> [Int] {
        try BlockedConv.plainShape(s, channels: channels, node: node.label, op: "BlockedPool", "input")
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, "BlockedPool")
        try requireFloat([x], node.label)
        let y = try pool.inferTypes([TensorType(x.dtype, try plainShape(x.shape))], constants: [])
        return [TensorType(.float32, BlockedConv.blockedShape(y[0].shape))]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, "BlockedPool")
        _ = try plainShape(x.shape)
        let y = try pool.reference([BlockedConv.unblock(x, channels: channels)])
        return [BlockedConv.block(y[0])]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, "BlockedPool")
        let plain = try plainShape(x.type.shape)
        let win = try pool.resolve(plain).as2D
        try ctx.require32BitIndexing([x, outputs[0]])
        guard ctx.family == .cpu else { throw ctx.error("the channel-blocked layout runs on CPU-style kernels only") }
        let options = "-DIS_MAX=\(pool.isMax ? 1 : 0) -DPKH=\(win.kernel[0]) -DPKW=\(win.kernel[1]) -DPSH=\(win.strides[0]) -DPSW=\(win.strides[1])"
            + " -DPDH=\(win.dilations[0]) -DPDW=\(win.dilations[1])"
        let global = [win.output[0] * win.output[1], x.type.shape[1], plain[0]]
        try ctx.launch(try ctx.kernel("pool2d_c16", file: "pool", options: options),
                       [.value(x), .value(outputs[0]), .buffer(try ctx.constants(win.meta + [channels])), .int(pool.countIncludePad ? 1 : 0),
                        .int(plain[0])],
                       global: global, local: nil)
    }
}
