// The GPU-style kernels on a GPU-type device: the Oclgrind simulator (scripts/test-gpu-simulator.sh
// runs this suite with Oclgrind as the only OpenCL device, API checks and data-race detection on,
// and fails on any simulator message). Shapes are small: Oclgrind simulates about 10⁷
// multiply-adds a minute. On any other test device the suite is skipped (the main run covers the
// GPU style on PoCL through OpVariants). Serialized: Oclgrind runs one kernel at a time per process.
import Foundation
import Testing
@testable import GPUInfer

@Suite(.serialized, .enabled(if: TestDevice.info?.platformName == "Oclgrind", "needs the Oclgrind simulator as the test device"))
struct GPUSimulatorTests {
    static let gpu = [OpVariants.style(.gpu)]

    /// One case per GPU-style kernel family, awkward small shapes (tails of every tile).
    @Test func opsOnTheSimulator() throws {
        var rng = TestRandom(seed: 77)
        // Convolutions: the local-memory implicit GEMM (conv2d_gemm) and the direct kernels (c4p2,
        // c1p4: GPUINFER_CONV=generic) — padded, grouped and strided, pointwise — then the
        // local-memory depthwise kernel (3×3 stride 1 and 2 with a fused ReLU6, 5×5 stride 2, a
        // plane of several 16×16 blocks) and the per-work-item one (GPUINFER_CONV_DW=gpu).
        let convVariants = Self.gpu + [OpVariants.style(.gpu) { $0.conv = .generic }]
        try checkOp("Conv", attributes: attrs(["pads": [1, 1, 1, 1]]), inputs: [rng.tensor([1, 3, 7, 6]), rng.tensor([5, 3, 3, 3]), rng.tensor([5])],
                    constant: [1, 2], rtol: sumTolerance(27), atol: sumTolerance(27), variants: convVariants)
        try checkOp("Conv", attributes: attrs(["group": 2, "strides": [2, 2]]), inputs: [rng.tensor([2, 4, 9, 7]), rng.tensor([6, 2, 3, 3])],
                    constant: [1], rtol: sumTolerance(18), atol: sumTolerance(18), variants: convVariants)
        try checkOp("Conv", inputs: [rng.tensor([2, 5, 6, 7]), rng.tensor([9, 5, 1, 1]), rng.tensor([9])], constant: [1, 2],
                    rtol: sumTolerance(5), atol: sumTolerance(5), variants: convVariants)
        // conv2d_gemm's tails: 37 output channels (a 64-row tile), 19 input channels × 3×2 = 114
        // (7 slices of 16, the last partial), 9×10 = 90 pixels (two column tiles), dilation, asymmetric pads.
        try checkOp("Conv", attributes: attrs(["pads": [1, 0, 2, 1], "dilations": [2, 1]]),
                    inputs: [rng.tensor([1, 19, 11, 10]), rng.tensor([37, 19, 3, 2]), rng.tensor([37])], constant: [1, 2],
                    rtol: sumTolerance(114), atol: sumTolerance(114), variants: Self.gpu)
        for stride in [1, 2] {
            var a: [String: Any] = ["group": 6, "strides": [stride, stride], "pads": [1, 1, 1, 1]]
            a[FusedActivation.minAttribute] = Float(0)
            a[FusedActivation.maxAttribute] = Float(6)
            try checkOp("Conv", attributes: attrs(a), inputs: [rng.tensor([1, 6, 9, 11], -3, 3), rng.tensor([6, 1, 3, 3]), rng.tensor([6])],
                        constant: [1, 2], rtol: 3 * sumTolerance(9), atol: 3 * sumTolerance(9),
                        variants: Self.gpu + [OpVariants.style(.gpu) { $0.convDepthwise = .gpu }])
        }
        try checkOp("Conv", attributes: attrs(["group": 3, "strides": [2, 2], "pads": [2, 1, 2, 2]]),
                    inputs: [rng.tensor([2, 3, 13, 12]), rng.tensor([3, 1, 5, 5]), rng.tensor([3])], constant: [1, 2],
                    rtol: sumTolerance(25), atol: sumTolerance(25), variants: Self.gpu)
        try checkOp("Conv", attributes: attrs(["group": 2, "pads": [1, 1, 1, 1]]), inputs: [rng.tensor([1, 2, 20, 35]), rng.tensor([2, 1, 3, 3])],
                    constant: [1], rtol: sumTolerance(9), atol: sumTolerance(9), variants: Self.gpu)
        // Every fused activation kind through the GPU kernels' act() (conv2d_gemm 3×3 and pointwise).
        for kind in FusedActivation.Kind.allCases {
            let activation = kind == .clamp ? FusedActivation(lo: 0, hi: 6) : FusedActivation(kind, alpha: kind == .leakyRelu ? 0.1 : 0.2,
                                                                                                beta: kind == .hardSwishDiv ? 6 : 0.5)
            for (x, w) in [([1, 3, 5, 4], [4, 3, 3, 3]), ([1, 3, 5, 4], [4, 3, 1, 1])] {
                let k = w.dropFirst().reduce(1, *)
                try checkOp("Conv", attributes: activation.attributes.merging(attrs(["pads": w[2] == 3 ? [1, 1, 1, 1] : [0, 0, 0, 0]])) { $1 },
                            inputs: [rng.tensor(x, -4, 4), rng.tensor(w), rng.tensor([w[0]])], constant: [1, 2],
                            rtol: 2 * sumTolerance(k) * 4, atol: 2 * sumTolerance(k) * 4, variants: Self.gpu)
            }
        }
        // GEMM (gemm_local, both operand layouts; gemm_tile with GPUINFER_GEMM=tile), batched MatMul,
        // a forced tile (GPUINFER_LOCAL_TILE) with 8 rows per work-item and a K of several slices.
        let gemmVariants = Self.gpu + [OpVariants.style(.gpu) { $0.gemm = .tile }]
        try checkOp("Gemm", attributes: ["transB": .int(1)], inputs: [rng.tensor([5, 13]), rng.tensor([7, 13]), rng.tensor([7])], constant: [1, 2],
                    rtol: sumTolerance(13), atol: sumTolerance(13), variants: gemmVariants)
        try checkOp("Gemm", attributes: ["transA": .int(1)], inputs: [rng.tensor([21, 18]), rng.tensor([21, 70]), rng.tensor([70])],
                    constant: [1, 2], rtol: sumTolerance(21), atol: sumTolerance(21),
                    variants: Self.gpu + [OpVariants.style(.gpu) { $0.localTile = LocalGemmTile(tsm: 32, tsn: 16, tsk: 8, wptm: 8, wptn: 1) }])
        try checkOp("MatMul", inputs: [rng.tensor([2, 3, 9]), rng.tensor([2, 9, 5])], rtol: sumTolerance(9), atol: sumTolerance(9), variants: gemmVariants)
        // Pooling, elementwise with broadcasting, activations, layout, reductions, softmax.
        try checkOp("MaxPool", attributes: attrs(["kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]]), inputs: [rng.tensor([1, 3, 9, 7])],
                    variants: Self.gpu)
        try checkOp("AveragePool", attributes: attrs(["kernel_shape": [2, 2], "strides": [2, 2]]), inputs: [rng.tensor([2, 2, 6, 5])], variants: Self.gpu)
        try checkOp("GlobalAveragePool", inputs: [rng.tensor([2, 3, 5, 7])], rtol: 1e-5, atol: 1e-6, variants: Self.gpu)
        try checkOp("Add", inputs: [rng.tensor([2, 3, 4, 5]), rng.tensor([3, 1, 5])], variants: Self.gpu)
        try checkOp("Mul", inputs: [rng.tensor([2, 3, 17]), rng.tensor([17])], variants: Self.gpu)
        try checkOp("Sigmoid", inputs: [rng.tensor([3, 11], -6, 6)], rtol: 1e-6, atol: 1e-6, variants: Self.gpu)
        try checkOp("HardSwish", inputs: [rng.tensor([3, 11], -6, 6)], variants: Self.gpu)
        try checkOp("Transpose", attributes: attrs(["perm": [0, 2, 3, 1]]), inputs: [rng.tensor([2, 3, 5, 7])], variants: Self.gpu)
        try checkOp("Concat", attributes: attrs(["axis": 1]), inputs: [rng.tensor([2, 3, 4]), rng.tensor([2, 5, 4])], variants: Self.gpu)
        try checkOp("ReduceMean", attributes: attrs(["axes": [1], "keepdims": 0]), inputs: [rng.tensor([3, 19, 4])], opset: 13,
                    rtol: 1e-5, atol: 1e-6, variants: Self.gpu)
        try checkOp("Softmax", attributes: attrs(["axis": 1]), inputs: [rng.tensor([3, 13], -4, 4)], rtol: 1e-5, atol: 1e-6, variants: Self.gpu)
        // CumSum: the per-row scan and the blocked scan (a 2500-element row); integer-valued data
        // keeps every partial sum exact in fp32, so both orders must match the reference exactly.
        let ramp = Tensor(shape: [1, 2500], floats: rng.tensor([1, 2500], -4, 4).floats.map { $0.rounded() })
        try checkOp("CumSum", attributes: ["reverse": .int(1)], inputs: [ramp, .scalar(Int64(1))], constant: [1], rtol: 0, atol: 0, variants: Self.gpu)
        try checkOp("CumSum", attributes: ["exclusive": .int(1)], inputs: [rng.tensor([3, 7, 5]), .scalar(Int64(1))], constant: [1],
                    rtol: 0, atol: 0, variants: Self.gpu)
        // ScatterElements with duplicate indices under add; TopK's work-group kernel (two chunks
        // and one merge level) on rows of 600 with ties; RoiAlign in both modes.
        try checkOp("ScatterElements", attributes: ["axis": .int(1), "reduction": .string("add")],
                    inputs: [rng.tensor([3, 4]), rng.ints([2, 6], -4, 3), rng.tensor([2, 6])], opset: 18, rtol: 0, atol: 0, variants: Self.gpu)
        try checkOp("TopK", inputs: [Tensor(shape: [2, 600], floats: rng.tensor([2, 600], -9, 9).floats.map { $0.rounded() }),
                                     Tensor(shape: [1], ints: [7])], constant: [1], outputs: 2, rtol: 0, atol: 0, variants: Self.gpu)
        for mode in ["avg", "max"] {
            try checkOp("RoiAlign", attributes: ["mode": .string(mode), "output_height": .int(2), "output_width": .int(3)],
                        inputs: [rng.tensor([2, 2, 7, 6]), Tensor(shape: [2, 4], floats: [0.3, 1.2, 4.6, 5.3, -1.7, 2.2, 3.1, 8.4]),
                                 Tensor(shape: [2], ints: [1, 0])], opset: 16, rtol: 0, atol: 1e-5, variants: Self.gpu)
        }
    }

    /// The sample CNN (Conv+BN+Relu, MaxPool, residual, depthwise, Clip, pools, Gemm, Softmax)
    /// against onnxruntime, with the bound of ModelTests.
    @Test func sampleCNNMatchesOnnxRuntime() throws {
        let script = "Models/make_sample_cnn.py"
        let model = try Model(path: try GeneratedData.require("sample_cnn.onnx", script: script))
        let input = try Npy.read(path: try GeneratedData.require("sample_cnn_b1_input.npy", script: script))
        let logits = try Npy.read(path: GeneratedData.url("sample_cnn_b1_logits.npy").path)
        let y = try Session(model: model, runtime: try TestDevice.require(), options: Self.gpu[0]).run(["input": input])
        checkOutput(y["logits"], logits, maxAbs: 1e-4, "sample CNN on the GPU simulator vs onnxruntime")
    }

    /// PaddleOCR's MobileNetV3 direction classifier (a released model: HardSwish and HardSigmoid
    /// fused into its convs, SE blocks, MatMul, Softmax) against onnxruntime, ModelTests' bound.
    @Test func ppocrClassifierMatchesOnnxRuntime() throws {
        let script = "Tests/Conformance/fetch_real_models.py", stem = "real/ch_ppocr_mobile_v2.0_cls_infer"
        let model = try Model(path: try GeneratedData.require("\(stem).onnx", script: script))
        let input = try Npy.read(path: try GeneratedData.require("\(stem)_input.npy", script: script))
        let expected = try Npy.read(path: try GeneratedData.require("\(stem)_output.npy", script: script))
        let y = try Session(model: model, runtime: try TestDevice.require(), options: Self.gpu[0]).run([model.inputs[0].name: input])
        checkOutput(y[model.outputs[0].name], expected, maxAbs: 1e-4, "PaddleOCR classifier on the GPU simulator vs onnxruntime")
    }

    /// The SSDLite head's function body inlined (`--plain`: NonMaxSuppression → GatherND,
    /// ScatterND, TopK … in plan segments) against onnxruntime, SSDLiteTests' tolerance.
    @Test func inlinedSSDLiteHeadMatchesOnnxRuntime() throws {
        let name = "head_small"
        let path = try GeneratedData.require("ssdlite/\(name).onnx", script: SSDLiteTests.script)
        func npy(_ s: String) throws -> Tensor { try Npy.read(path: GeneratedData.url("ssdlite/\(name)_\(s).npy").path) }
        let model = try Model(path: path, options: LoadOptions(useFusedKernels: false))
        let feeds = ["box_encodings": try npy("box_encodings"), "class_logits": try npy("class_logits")]
        let y = try #require(try Session(model: model, runtime: try TestDevice.require(), options: Self.gpu[0]).run(feeds)["DetectionOutput"])
        SSDLiteTests.checkDetections(y, try npy("expected"), "\(name): inlined body on the GPU simulator vs onnxruntime")
    }

    /// The channel-blocked layout's kernels (conv2d_blocked with -DIN_C16/-DOUT_C16/-DRES_C16,
    /// conv2d_dw_c16, pool2d_c16) are CPU style, but must be as free of out-of-bounds accesses on any device:
    /// BlockedLayoutTests' mobile-style graph, two BlockedConv cases (partial channel blocks, a
    /// residual in the other layout) and two with tail runs under CPU style on the simulator, against
    /// the reference.
    @Test func blockedLayoutOnTheSimulator() throws {
        var rng = TestRandom(seed: 21)
        let (g, feeds) = BlockedLayoutTests.mobileGraph(rng: &rng)
        let model = try Model(graph: g)
        let reference = try #require(try ReferenceExecutor().run(model, inputs: feeds)["y"])
        let session = Session(model: model, runtime: try TestDevice.require(), options: OpVariants.style(.cpu))
        #expect(session.model.report.blockedConvs == 5)
        assertClose(try #require(try session.run(feeds)["y"]), reference, rtol: 1e-4, atol: 1e-5, "blocked layout on the GPU simulator")
        for c in [BlockedLayoutTests.cases[3], BlockedLayoutTests.cases[5]] {
            try BlockedLayoutTests.checkBlockedConv(c, styles: [OpVariants.style(.cpu)])
        }
        // conv2d_blocked's tail runs (-DPX_TAIL): blocks of 12 leaving 6 columns into NCHW, and 11
        // of a strided row into blocks.
        for c in [BlockedLayoutTests.tailCases[1], BlockedLayoutTests.tailCases[2]] {
            try BlockedLayoutTests.checkBlockedConv(c, styles: [OpVariants.style(.cpu) { $0.convTile = .init(16, 12) }])
        }
        // pool2d_c16: max with NaNs and a partial block, average with the pads counted.
        for c in [BlockedLayoutTests.poolCases[0], BlockedLayoutTests.poolCases[4]] { try BlockedLayoutTests().blockedPoolMatchesPool(c) }
    }

    /// The Winograd kernels (CPU style) on the simulator: the channel-blocked ones (winograd_*_c16)
    /// blocked throughout with a blocked residual and act(0) ≠ 0, F(4×4) with every operand NCHW
    /// and a register block that leaves a partial channel group and tile block, several chunks; and
    /// the NCHW ones, F(2×2) and F(4×4). Against the reference within ConvWinogradTests' bound.
    @Test func winogradOnTheSimulator() throws {
        let suite = ConvWinogradTests()
        typealias Case = ConvWinogradTests.Case
        try suite.checkBlocked(Case(x: [2, 17, 7, 6], cout: 33, pads: [1, 1, 1, 1]), m: 2,
                               layout: .init(input: true, output: true, residual: true), residual: true, clipMin: 0.25, chunk: 12, seed: 70)
        try suite.checkBlocked(Case(x: [1, 20, 9, 11], cout: 50, pads: [2, 0, 1, 1], relu: true), m: 4,
                               layout: .init(input: false, output: false, residual: false), residual: true, tile: .init(3, 5), seed: 71)
        for m in [2, 4] {
            try suite.check(Case(x: [1, 17, 7, 9], cout: 19, pads: [1, 1, 1, 1], relu: true), m: m, chunk: 32, seed: 72)
        }
    }

    /// GeM's work-group kernel (gem_local) on planes shorter and longer than the work-group.
    @Test func gemOnTheSimulator() throws {
        var rng = TestRandom(seed: 31)
        for shape in [[1, 3, 5, 7], [2, 2, 9, 11]] {
            let x = rng.tensor(shape, -0.5, 2)
            let model = try GeMTests.gemModel(eps: 1e-6, p: 3, q: 1.0 / 3)
            let reference = try #require(try ReferenceExecutor().run(model, inputs: ["x": x])["y"])
            let device = try #require(try Session(model: model, runtime: try TestDevice.require(), options: Self.gpu[0]).run(["x": x])["y"])
            assertClose(device, reference, rtol: Float(shape[2] * shape[3] + 32) * 0x1p-24, atol: 1e-7, "GeM \(shape) on the GPU simulator")
        }
    }

    /// Graphs with data-dependent shapes (DataDependentShapeTests' fixtures) in plan segments:
    /// NMS → Gather/GatherND/Concat/Reshape, NonZero → GatherND → reductions, TopK with k from an
    /// NMS count, Compress, Unique along an axis, a nested If, torchvision's SSDlite
    /// post-processing (90 NonZero → GatherND → TopK, If around NMS), against onnxruntime with
    /// DataDependentShapeTests' tolerances.
    @Test(arguments: ["nms_gather_concat", "nonzero_gathernd_reduce", "topk_k_from_nms", "compress_mask", "unique_axis0", "if_else_nested",
                      "empty_selection", "torchvision_ssdlite_postprocess"])
    func dataDependentGraphsMatchOnnxRuntime(name: String) throws {
        let (model, feeds, expected) = try DataDependentShapeTests.load(name)
        let session = Session(model: model, runtime: try TestDevice.require(), options: Self.gpu[0])
        DataDependentShapeTests.check(try session.run(feeds), expected, "\(name) on the GPU simulator")
    }
}
