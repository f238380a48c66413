// GPU style: every convolution but depthwise 3×3 as an implicit GEMM with work-group tiles in
// local memory (Kernels/conv_gemm.cl conv2d_gemm): weights and gathered input pixels staged per
// 16-deep slice of (c, kh, kw), bias, residual and activation fused at the store.
import Foundation

extension Conv {
    /// conv2d_gemm over [pixels, groups × output-channel blocks, batch]; adds `residual` (shaped
    /// like `y`) before the activation.
    func encodeImplicitGemm(_ ctx: EncodeContext, _ geo: Geometry, _ v: ConvOperands, y: DeviceValue, activation: FusedActivation?,
                            residual: DeviceValue?) throws {
        let win = geo.window.as2D
        let pixels = win.output[0] * win.output[1]
        let tile = try ctx.localGemmTile(tuningKey(geo, family: "conv2d_gemm", kernel: "conv_gemm"), m: geo.mg, n: pixels)
        let pointwise = geo.isPointwise ? " -DPOINTWISE" : ""
        let kernel = try ctx.kernel("conv2d_gemm", file: "conv_gemm", options: tile.defines + pointwise + (activation.map { " " + $0.options } ?? ""))
        let local = tile.local
        let global = [(pixels + tile.tsn - 1) / tile.tsn * local[0], geo.group * ((geo.mg + tile.tsm - 1) / tile.tsm) * local[1], geo.n]
        try ctx.launch(kernel, [.value(v.x), .value(v.w), .buffer(v.bias?.buffer ?? v.x.buffer), .buffer(residual?.buffer ?? v.x.buffer), .value(y),
                                .ints(Array(geo.meta.prefix(16))), .int(v.bias == nil ? 0 : 1), .int(residual == nil ? 0 : 1), .int(geo.n)],
                       global: global, local: local)
    }
}
