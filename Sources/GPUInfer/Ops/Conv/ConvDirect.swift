// The algorithms for any device and any weight: pointwise convolutions as a strided GEMM and the
// register-tiled direct kernels of Kernels/conv.cl.
import Foundation

extension Conv {
    /// Y[n, g·Mg + m, p] = Σ_c W[g·Mg + m, c] · X[n, g·Cg + c, p] + bias[g·Mg + m]: a GEMM per (batch n, group g).
    func encodePointwiseGemm(_ ctx: EncodeContext, _ geo: Geometry, _ v: ConvOperands, y: DeviceValue, activation: FusedActivation?) throws {
        let hw = geo.window.input.reduce(1, *)
        var gemm = StridedGemm(m: geo.mg, n: hw, k: geo.cg, aStride: (geo.cg, 1), bStride: (hw, 1), cStride: (1, 0))
        gemm.batchDims = [geo.n, geo.group]
        gemm.aBatch = [0, geo.mg * geo.cg]
        gemm.bBatch = [geo.c * hw, geo.cg * hw]
        gemm.cBatch = [0, geo.mg]
        gemm.activation = activation
        try gemm.encode(ctx, a: v.w.buffer, b: v.x.buffer, c: v.bias?.buffer, y: y.buffer)
    }

    /// conv2d_c4p2 (4 output channels × 2 columns per work-item, groups of ≥ 4 output channels)
    /// or conv2d_c1p4 (1 × 4): any geometry, weights read from the device as they are.
    func encodeDirect(_ ctx: EncodeContext, _ geo: Geometry, _ v: ConvOperands, y: DeviceValue, activation: FusedActivation?) throws {
        let wide = geo.mg >= 4
        let (ocb, pxb) = wide ? (4, 2) : (1, 4)
        let win = geo.window.as2D
        let pixels = win.output[0] * ((win.output[1] + pxb - 1) / pxb)
        let kernel = try ctx.kernel(wide ? "conv2d_c4p2" : "conv2d_c1p4", file: "conv", options: activation?.options ?? "")
        try ctx.launch(kernel, [.value(v.x), .value(v.w), .buffer(v.bias?.buffer ?? v.x.buffer), .value(y),
                                .buffer(try ctx.constants(geo.meta)), .int(v.bias == nil ? 0 : 1), .int(geo.n)],
                       global: [pixels, geo.group * ((geo.mg + ocb - 1) / ocb), geo.n], local: pixelLocalSize(pixels, ctx.workGroup))
    }
}
