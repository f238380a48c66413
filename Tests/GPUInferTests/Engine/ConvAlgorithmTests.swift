// The convolution selector (Ops/Conv/ConvAlgorithm.swift) pinned shape by shape for both kernel
// styles and for the options that force a variant: a change of the rule shows up here as a diff
// of this table, not as a speed regression found later.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct ConvAlgorithmTests {
    /// A 2-D convolution of `c` → `cout` channels, `k`×`k` kernel, stride `s`, symmetric pads `p`, on an h×w map.
    static func conv(_ c: Int, _ cout: Int, k: Int, s: Int = 1, p: Int? = nil, group: Int = 1, hw: (Int, Int), n: Int = 1) -> ConvShapes {
        let pad = p ?? k / 2
        let out = [(hw.0 + 2 * pad - k) / s + 1, (hw.1 + 2 * pad - k) / s + 1]
        let win = Window(input: [hw.0, hw.1], kernel: [k, k], strides: [s, s], dilations: [1, 1], padBegin: [pad, pad], padEnd: [pad, pad], output: out)
        return ConvShapes(n: n, c: c, cout: cout, group: group, window: win)
    }

    /// `geo` with dilation 2.
    static func dilated(_ geo: ConvShapes) -> ConvShapes {
        let w = geo.window
        let out = zip(w.input, w.kernel).map { i, k in i + 2 * (k / 2) - 2 * (k - 1) }
        return ConvShapes(n: geo.n, c: geo.c, cout: geo.cout, group: geo.group,
                          window: Window(input: w.input, kernel: w.kernel, strides: w.strides, dilations: [2, 2], padBegin: w.padBegin,
                                         padEnd: w.padEnd, output: out))
    }

    /// `geo` with `strides`.
    static func strided(_ geo: ConvShapes, _ strides: [Int]) -> ConvShapes {
        let w = geo.window
        let out: [Int] = (0..<2).map { (i: Int) -> Int in
            let span: Int = w.input[i] + w.padBegin[i] + w.padEnd[i] - w.kernel[i]
            return span / strides[i] + 1
        }
        return ConvShapes(n: geo.n, c: geo.c, cout: geo.cout, group: geo.group,
                          window: Window(input: w.input, kernel: w.kernel, strides: strides, dilations: w.dilations, padBegin: w.padBegin,
                                         padEnd: w.padEnd, output: out))
    }

    struct Row: Sendable, CustomTestStringConvertible {
        let name: String
        let geo: ConvShapes
        var weightKnown = true
        let cpu: ConvAlgorithm
        let gpu: ConvAlgorithm
        var testDescription: String { name }
    }

    static let table: [Row] = [
        Row(name: "pointwise 64→128 56×56 (SSDLite/ResNet expand)", geo: conv(64, 128, k: 1, hw: (56, 56)), cpu: .pixelBlocked(nil), gpu: .implicitGemm),
        Row(name: "pointwise 256→64 56×56 (ResNet reduce)", geo: conv(256, 64, k: 1, hw: (56, 56)), cpu: .blocked, gpu: .implicitGemm),
        Row(name: "pointwise 32→64 10×10", geo: conv(32, 64, k: 1, hw: (10, 10)), cpu: .blocked, gpu: .implicitGemm),
        Row(name: "pointwise, weight computed at run time", geo: conv(32, 64, k: 1, hw: (10, 10)), weightKnown: false, cpu: .pointwiseGemm, gpu: .implicitGemm),
        Row(name: "3×3 64→64 56×56 (VGG/ResNet body)", geo: conv(64, 64, k: 3, hw: (56, 56)), cpu: .winograd(m: 2), gpu: .implicitGemm),
        Row(name: "3×3 3→64 224×224 (first layer)", geo: conv(3, 64, k: 3, hw: (224, 224)), cpu: .blocked, gpu: .implicitGemm),
        Row(name: "3×3 512→512 5×5 (tiny map)", geo: conv(512, 512, k: 3, hw: (5, 5)), cpu: .blocked, gpu: .implicitGemm),
        Row(name: "3×3 stride 2 64→128", geo: conv(64, 128, k: 3, s: 2, hw: (56, 56)), cpu: .blocked, gpu: .implicitGemm),
        Row(name: "7×7 stride 2 3→64, weight at run time", geo: conv(3, 64, k: 7, s: 2, hw: (224, 224)), weightKnown: false, cpu: .direct, gpu: .implicitGemm),
        Row(name: "grouped 3×3 32 groups of 4 (ResNeXt)", geo: conv(128, 128, k: 3, group: 32, hw: (28, 28)), cpu: .blocked, gpu: .implicitGemm),
        Row(name: "grouped 3×3 groups of 2 outputs", geo: conv(6, 6, k: 3, group: 3, hw: (9, 9)), cpu: .direct, gpu: .direct),
        Row(name: "depthwise 3×3 stride 1 SAME 38×38", geo: conv(32, 32, k: 3, group: 32, hw: (38, 38)), cpu: .depthwise(.flat, stride: 1),
            gpu: .depthwiseLocal),
        Row(name: "depthwise 3×3 stride 2", geo: conv(32, 32, k: 3, s: 2, group: 32, hw: (38, 38)), cpu: .depthwise(.rows, stride: 2),
            gpu: .depthwiseLocal),
        Row(name: "depthwise 3×3 stride 1 VALID", geo: conv(8, 8, k: 3, p: 0, group: 8, hw: (9, 9)), cpu: .depthwise(.rows, stride: 1),
            gpu: .depthwiseLocal),
        Row(name: "depthwise 5×5", geo: conv(16, 16, k: 5, group: 16, hw: (20, 20)), cpu: .direct, gpu: .depthwiseLocal),
    ]

    static let paddleDepthwise: ConvShapes = strided(conv(16, 16, k: 3, group: 16, hw: (20, 40)), [2, 1])
    static let dilatedDepthwise: ConvShapes = dilated(conv(16, 16, k: 3, group: 16, hw: (20, 20)))
    static let moreRows: [Row] = [
        Row(name: "depthwise 3×3 stride (2, 1) (PaddleOCR)", geo: paddleDepthwise, cpu: .direct, gpu: .depthwiseLocal),
        Row(name: "depthwise 3×3 dilated 2", geo: dilatedDepthwise, cpu: .direct, gpu: .direct),
    ]

    @Test(arguments: table + moreRows)
    func algorithmPerKernelStyle(row: Row) {
        for profile in [CPUProfile(.avx2), CPUProfile(.avx512)] {
            #expect(ConvAlgorithm.select(row.geo, weightKnown: row.weightKnown, options: ExecutionOptions(), family: .cpu, profile: profile) == row.cpu,
                    "cpu style, \(profile)")
            #expect(ConvAlgorithm.select(row.geo, weightKnown: row.weightKnown, options: ExecutionOptions(), family: .gpu, profile: profile) == row.gpu,
                    "gpu style, \(profile)")
        }
    }

    /// Where the profiles differ: 3×3 stride-1 convolutions with 16–63 channels run NCHW Winograd on
    /// AVX2 and conv2d_blocked on AVX-512 (`CPUProfile.winogradPays`); the GPU style never runs
    /// Winograd. In the channel-blocked layout AVX-512 runs Winograd from 16 channels.
    @Test func winogradFollowsTheProfile() {
        let yoloBottleneck = Self.conv(32, 32, k: 3, hw: (80, 80)), narrow = Self.conv(16, 32, k: 3, hw: (160, 160))
        let body = Self.conv(64, 64, k: 3, hw: (40, 40))
        for geo in [yoloBottleneck, narrow] {
            #expect(ConvAlgorithm.select(geo, weightKnown: true, options: ExecutionOptions(), family: .cpu, profile: CPUProfile(.avx2)) == .winograd(m: 2))
            #expect(ConvAlgorithm.select(geo, weightKnown: true, options: ExecutionOptions(), family: .cpu, profile: CPUProfile(.avx512)) == .blocked)
            #expect(ConvAlgorithm.select(geo, weightKnown: true, options: ExecutionOptions(), family: .gpu, profile: CPUProfile(.avx512)) == .implicitGemm)
        }
        for isa in [CPUProfile.ISA.avx2, .avx512] {
            #expect(ConvAlgorithm.select(body, weightKnown: true, options: ExecutionOptions(), family: .cpu, profile: CPUProfile(isa)) == .winograd(m: 2))
        }
        // The channel-blocked kernels (BlockedConv): on AVX-512 from 16 channels; F(4×4) with at
        // least 32 F(4×4) tiles in the batch, else F(2×2); 5×5 maps at batch 1 stay direct.
        let avx512 = CPUProfile(.avx512), avx2 = CPUProfile(.avx2)
        for geo in [yoloBottleneck, narrow, body, Self.conv(16, 16, k: 3, hw: (160, 160)), Self.conv(128, 128, k: 3, hw: (28, 28))] {
            #expect(ConvAlgorithm.winogradTile(geo, .auto, profile: avx512, blocked: true) == 4, "\(geo)")
        }
        #expect(ConvAlgorithm.winogradTile(Self.conv(512, 512, k: 3, hw: (14, 14)), .auto, profile: avx512, blocked: true) == 2, "16 F(4×4) tiles")
        #expect(ConvAlgorithm.winogradTile(Self.conv(512, 512, k: 3, hw: (14, 14), n: 2), .auto, profile: avx512, blocked: true) == 4, "32 tiles")
        #expect(ConvAlgorithm.winogradTile(Self.conv(512, 512, k: 3, hw: (5, 5)), .auto, profile: avx512, blocked: true) == nil)
        #expect(ConvAlgorithm.winogradTile(Self.conv(8, 64, k: 3, hw: (56, 56)), .auto, profile: avx512, blocked: true) == nil)
        #expect(ConvAlgorithm.winogradTile(Self.conv(8, 64, k: 3, hw: (56, 56)), .everywhere, profile: avx512, blocked: true) == 4)
        #expect(ConvAlgorithm.winogradTile(yoloBottleneck, .auto, profile: avx512) == nil, "the NCHW kernels keep the 64-channel rule")
        // AVX2 keeps its channel rule in both layouts and takes the blocked tile rule.
        #expect(ConvAlgorithm.winogradTile(yoloBottleneck, .auto, profile: avx2, blocked: true) == 4)
        #expect(ConvAlgorithm.winogradTile(yoloBottleneck, .auto, profile: avx2) == 2)
        #expect(ConvAlgorithm.winogradTile(Self.conv(16, 16, k: 3, hw: (160, 160)), .auto, profile: avx2, blocked: true) == nil)
        #expect(ConvAlgorithm.winogradTile(yoloBottleneck, .f2, profile: avx512, blocked: true) == 2)
    }

    /// Each option that forces a variant, on the shapes it concerns.
    @Test func optionsForceVariants() {
        func pick(_ geo: ConvShapes, _ family: KernelFamily = .cpu, _ edit: (inout ExecutionOptions) -> Void) -> ConvAlgorithm {
            var o = ExecutionOptions()
            edit(&o)
            return ConvAlgorithm.select(geo, weightKnown: true, options: o, family: family, profile: CPUProfile(.avx512))
        }
        let body = Self.conv(64, 64, k: 3, hw: (56, 56)), first = Self.conv(3, 64, k: 3, hw: (224, 224))
        let expand = Self.conv(64, 128, k: 1, hw: (56, 56)), dw = Self.conv(32, 32, k: 3, group: 32, hw: (38, 38))
        #expect(pick(body) { $0.conv = .generic } == .direct)
        #expect(pick(dw) { $0.conv = .generic } == .direct)
        #expect(pick(expand) { $0.conv = .generic } == .pointwiseGemm)
        #expect(pick(body) { $0.winograd = .off } == .blocked)
        #expect(pick(body) { $0.winograd = .f4 } == .winograd(m: 4))
        #expect(pick(first) { $0.winograd = .everywhere } == .winograd(m: 2))
        #expect(pick(first) { $0.winograd = .auto } == .blocked)
        #expect(pick(body, .gpu) { $0.winograd = .f4 } == .implicitGemm)  // Winograd belongs to the CPU family
        #expect(pick(body, .gpu) { $0.conv = .generic } == .direct && pick(expand, .gpu) { $0.conv = .generic } == .pointwiseGemm)
        #expect(pick(expand, .gpu) { $0.convPointwise = .gemm } == .pointwiseGemm)
        #expect(pick(body) { $0.conv = .gemm } == .implicitGemm && pick(expand) { $0.conv = .gemm } == .implicitGemm)
        #expect(pick(dw) { $0.conv = .gemm } == .depthwise(.flat, stride: 1))
        #expect(pick(dw) { $0.convDepthwise = .local } == .depthwiseLocal)
        #expect(pick(dw, .gpu) { $0.convDepthwise = .gpu } == .depthwise(.gpu, stride: 1))
        #expect(pick(dw, .gpu) { $0.convDepthwise = .rows } == .depthwise(.rows, stride: 1))
        #expect(pick(expand) { $0.convPointwise = .gemm } == .pointwiseGemm)
        #expect(pick(expand) { $0.convPixelTile = .off } == .blocked)
        #expect(pick(expand) { $0.convPixelTile = .tile(.init(4, 3)) } == .pixelBlocked(.init(4, 3)))
        #expect(pick(dw) { $0.convDepthwise = .rows } == .depthwise(.rows, stride: 1))
        #expect(pick(dw) { $0.convDepthwise = .gpu } == .depthwise(.gpu, stride: 1))
        // The kernel style option decides the family whatever the device type.
        let gpuDevice = ExecutionOptions()
        #expect(gpuDevice.kernelFamily(for: Self.device(isGPU: true)) == .gpu && gpuDevice.kernelFamily(for: Self.device(isGPU: false)) == .cpu)
        var cpuStyle = ExecutionOptions()
        cpuStyle.kernelStyle = .cpu
        #expect(cpuStyle.kernelFamily(for: Self.device(isGPU: true)) == .cpu)
        cpuStyle.kernelStyle = .gpu
        #expect(cpuStyle.kernelFamily(for: Self.device(isGPU: false)) == .gpu)
    }

    /// A device description of either type (nothing is opened).
    static func device(isGPU: Bool) -> CLDeviceInfo {
        let d = TestDevice.info!
        return CLDeviceInfo(index: d.index, platformName: d.platformName, platformVersion: d.platformVersion, name: d.name, vendor: d.vendor,
                            driverVersion: d.driverVersion, deviceVersion: d.deviceVersion, type: isGPU ? "GPU" : "CPU", isGPU: isGPU,
                            computeUnits: d.computeUnits, globalMemory: d.globalMemory, maxAllocation: d.maxAllocation,
                            maxWorkGroupSize: d.maxWorkGroupSize, localMemory: d.localMemory, sharesHostMemory: false,
                            nativeFloatVectorWidth: d.nativeFloatVectorWidth, platformID: d.platformID, deviceID: d.deviceID)
    }
}

/// The other ops' selectors: pure functions of the options and the kernel family.
@Suite struct OpSelectorTests {
    @Test func netvladAndISqrtCov() throws {
        var o = ExecutionOptions()
        #expect(NetVLAD.wpcaVariant(o, family: .gpu) == .workGroup && NetVLAD.wpcaVariant(o, family: .cpu) == .rows)
        #expect(ISqrtCov.productVariant(o, family: .gpu) == .tile && ISqrtCov.productVariant(o, family: .cpu) == .blocked)
        o.netvladWPCA = .workgroup
        o.isqrtcovProduct = .blocked
        #expect(NetVLAD.wpcaVariant(o, family: .cpu) == .workGroup && ISqrtCov.productVariant(o, family: .gpu) == .blocked)
    }
}
