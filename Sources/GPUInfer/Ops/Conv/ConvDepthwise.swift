// Depthwise convolutions (Kernels/conv_depthwise.cl): the 3×3 kernels with the 9 weights in
// registers and the stride compiled in (`ConvAlgorithm.depthwise3x3` chooses), and the GPU style's
// local-memory kernel for any depthwise convolution up to 7×7 with strides 1 or 2.
import Foundation

extension Conv {
    /// Output rows per work-item of conv2d_dw3x3_cpu: 4, or the tuning database's (`gpuinfer tune`).
    func depthwiseRows(_ ctx: EncodeContext, _ geo: Geometry) -> Int {
        let space = TuningSpace(axes: [("ROWS", [1, 2, 3, 4, 6, 8])]) { p in p["ROWS"].map { (1...8).contains($0) } ?? false }
        return ctx.tunedParameters(tuningKey(geo, family: "conv_dw3x3_cpu", kernel: "conv_depthwise"), defaults: ["ROWS": 4], space: space)["ROWS"] ?? 4
    }

    /// conv2d_dw3x3 (a work-item per 4 consecutive output columns of one plane),
    /// conv2d_dw3x3_cpu (a work-item per ROWS rows × 8 columns as float8 vectors) or
    /// conv2d_dw3x3_flat (stride 1, SAME: the plane as one row of runs of 8, no per-row tails).
    func encodeDepthwise(_ ctx: EncodeContext, _ geo: Geometry, kernel: ConvAlgorithm.DepthwiseKernel, stride: Int, _ v: ConvOperands,
                         y: DeviceValue, activation: FusedActivation?) throws {
        let win = geo.window.as2D
        let (x, w, bias) = (v.x, v.w, v.bias)
        let act = activation.map { " " + $0.options } ?? ""
        switch kernel {
        case .flat:
            let hw = win.input[0] * win.input[1], chunks = 8
            try ctx.launch(try ctx.kernel("conv2d_dw3x3_flat", file: "conv_depthwise", options: "-DPW=\(win.padBegin[1]) -DDWF_CHUNKS=\(chunks)" + act),
                           [.value(x), .value(w), .buffer(bias?.buffer ?? x.buffer), .value(y),
                            .buffer(try ctx.constants([geo.c] + win.input + [win.padBegin[0]])), .int(bias == nil ? 0 : 1), .int(geo.n)],
                           global: [(hw + 8 * chunks - 1) / (8 * chunks), geo.c, geo.n], local: nil)
        case .rows, .gpu:
            let meta = [geo.c] + win.input + win.output + win.padBegin
            let cpu = kernel == .rows
            let rows = cpu ? depthwiseRows(ctx, geo) : 4
            let pixels = cpu ? ((win.output[0] + rows - 1) / rows) * ((win.output[1] + 7) / 8) : win.output[0] * ((win.output[1] + 3) / 4)
            let options = "-DSTRIDE=\(stride)" + (cpu ? " -DDW_ROWS=\(rows)" : "") + act
            try ctx.launch(try ctx.kernel(cpu ? "conv2d_dw3x3_cpu" : "conv2d_dw3x3", file: "conv_depthwise", options: options),
                           [.value(x), .value(w), .buffer(bias?.buffer ?? x.buffer), .value(y), .buffer(try ctx.constants(meta)),
                            .int(bias == nil ? 0 : 1), .int(geo.n)],
                           global: [pixels, geo.c, geo.n], local: nil)
        }
    }

    /// conv2d_dw_local: a work-group per 16×16 block of one plane (8×8 on planes of at most 8×8,
    /// the late stages of mobile networks, or where the device allows fewer than 256 work-items),
    /// its input window, weights and bias staged in local memory.
    func encodeDepthwiseLocal(_ ctx: EncodeContext, _ geo: Geometry, _ v: ConvOperands, y: DeviceValue, activation: FusedActivation?) throws {
        let win = geo.window.as2D
        let side = win.output[0] <= 8 && win.output[1] <= 8 || ctx.runtime.device.maxWorkGroupSize < 256 ? 8 : 16
        let options = "-DDW_SH=\(win.strides[0]) -DDW_SW=\(win.strides[1]) -DDW_TW=\(side) -DDW_TH=\(side) -DDW_KH=\(win.kernel[0]) -DDW_KW=\(win.kernel[1])"
        let kernel = try ctx.kernel("conv2d_dw_local", file: "conv_depthwise", options: options + (activation.map { " " + $0.options } ?? ""))
        try ctx.launch(kernel, [.value(v.x), .value(v.w), .buffer(v.bias?.buffer ?? v.x.buffer), .value(y),
                                .ints([geo.c] + win.input + win.output + win.padBegin), .int(v.bias == nil ? 0 : 1), .int(geo.n)],
                       global: [(win.output[1] + side - 1) / side * side, (win.output[0] + side - 1) / side * side, geo.n * geo.c],
                       local: [side, side, 1])
    }
}
