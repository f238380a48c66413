// RoiAlign: hand-computed bins on a linear ramp (bilinear sampling reproduces it exactly) in both
// coordinate transforms and opsets, awkward random regions (partly outside the map, inverted,
// degenerate, tiny and large) in both modes, and the batch-index and attribute errors.
//
// Tolerance (device vs reference): both compute in fp32 in onnxruntime's order, and the kernel
// turns contraction off, but OpenCL allows single-precision division 2.5 ulp off, so a sample
// coordinate may differ by a few ulps of max(H, W), moving a bilinear value by at most that times
// the largest step between neighbours (≤ 2·max|X|), plus a few ulps in the weights and the final
// division: |Δ| ≤ (8·max(H, W) + 16)·2⁻²⁴·max|X| ≈ 6.2e-6 for the 11×9 maps here with |X| ≤ 1;
// atol 1e-5. (On PoCL the two agree to the bit.) Region sizes here avoid exact integers, where a
// one-ulp bin difference could change ⌈bin⌉ and the adaptive grid.
import Testing
@testable import GPUInfer

@Suite struct RoiAlignTests {
    static let atol: Float = 1e-5

    /// X[0, 0, y, x] = 5y + x on a 5×5 map; the region [1, 1, 3, 3] in 2×2 bins, one sample each.
    @Test func handComputedRamp() throws {
        let x = Tensor(shape: [1, 1, 5, 5], floats: (0..<25).map { Float($0) })
        let rois = Tensor(shape: [1, 4], floats: [1, 1, 3, 3]), batch = Tensor(shape: [1], ints: [0])
        let base: [String: Attribute] = ["output_height": .int(2), "output_width": .int(2), "sampling_ratio": .int(1)]
        // output_half_pixel: samples at 1.5 and 2.5 → 5y + x.
        try checkOp("RoiAlign", attributes: base.merging(["coordinate_transformation_mode": .string("output_half_pixel")]) { $1 },
                    inputs: [x, rois, batch], opset: 16, expected: [Tensor(shape: [1, 1, 2, 2], floats: [9, 10, 14, 15])], rtol: 0, atol: Self.atol)
        // Opset 10 has no transform attribute and behaves as output_half_pixel.
        try checkOp("RoiAlign", attributes: base, inputs: [x, rois, batch], opset: 10,
                    expected: [Tensor(shape: [1, 1, 2, 2], floats: [9, 10, 14, 15])], rtol: 0, atol: Self.atol)
        // half_pixel (the opset-16 default): the region shifts by −0.5, samples at 1 and 2.
        try checkOp("RoiAlign", attributes: base, inputs: [x, rois, batch], opset: 16,
                    expected: [Tensor(shape: [1, 1, 2, 2], floats: [6, 7, 11, 12])], rtol: 0, atol: Self.atol)
        // Max mode takes the largest weighted corner w·x of a sample, not the interpolated value:
        // at (1.5, 1.5) the corners 6, 7, 11, 12 weigh 0.25 each → max 3; at (2.5, 2.5) 18·0.25.
        try checkOp("RoiAlign", attributes: base.merging(["mode": .string("max"), "coordinate_transformation_mode": .string("output_half_pixel")]) { $1 },
                    inputs: [x, rois, batch], opset: 16, expected: [Tensor(shape: [1, 1, 2, 2], floats: [3, 3.25, 4.25, 4.5])], rtol: 0, atol: Self.atol)
    }

    @Test func awkwardRegionsBothModes() throws {
        var rng = TestRandom(seed: 61)
        let x = rng.tensor([2, 3, 11, 9])
        // Inside, partly outside, fully outside (zeros), inverted, degenerate, large.
        let rois = Tensor(shape: [7, 4], floats: [1.3, 2.1, 6.7, 8.9, -2.7, -1.4, 3.3, 4.1, 12.2, 13.4, 15.7, 19.1, 5.3, 6.6, 2.2, 1.7,
                                                  4.4, 4.4, 4.4, 4.4, -4.3, -5.1, 13.9, 16.3, 0.2, 0.3, 1.1, 0.9])
        let batch = Tensor(shape: [7], ints: [0, 1, 1, 0, 1, 0, 1])
        for mode in ["avg", "max"] {
            for transform in ["half_pixel", "output_half_pixel"] {
                for (sampling, size, scale) in [(0, (3, 2), Float(1)), (2, (1, 1), Float(0.5)), (0, (4, 5), Float(0.7)), (3, (2, 3), Float(1))] {
                    let attributes: [String: Attribute] = ["mode": .string(mode), "coordinate_transformation_mode": .string(transform),
                                                           "sampling_ratio": .int(sampling), "output_height": .int(size.0),
                                                           "output_width": .int(size.1), "spatial_scale": .float(scale)]
                    try checkOp("RoiAlign", attributes: attributes, inputs: [x, rois, batch], opset: 16, rtol: 0, atol: Self.atol)
                    try checkOp("RoiAlign", attributes: attributes, inputs: [x, rois, batch], constant: [1, 2], opset: 22, rtol: 0, atol: Self.atol)
                }
            }
        }
    }

    @Test func badBatchIndicesAndAttributes() throws {
        let x = Tensor(shape: [2, 1, 4, 4], floats: (0..<32).map { Float($0) })
        let rois = Tensor(shape: [2, 4], floats: [0, 0, 2, 2, 1, 1, 3, 3])
        let bad = Tensor(shape: [2], ints: [0, 2])
        #expect(throws: GPUInferError.self) {  // the reference names the node
            try ReferenceExecutor().run(singleNodeModel("RoiAlign", inputs: [x, rois, bad]), inputs: ["in0": x, "in1": rois, "in2": bad])
        }
        #expect(throws: GPUInferError.self) {  // constant indices: refused when the model loads
            try singleNodeModel("RoiAlign", inputs: [x, rois, bad], constant: [2])
        }
        // Indices known only at run time: the device gives zeros for the bad region.
        let op = try #require(try OpRegistry.make(Node(name: "n", opType: "RoiAlign", inputs: ["x", "r", "b"], outputs: ["y"], attributes: [:]),
                                                  opset: 16) as? RoiAlign)
        let got = try runEncoded("RoiAlign", inputs: [x, rois, bad], outputs: [TensorType(.float32, [2, 1, 1, 1])]) { ctx, ins, outs in
            try op.encode(ctx, inputs: ins, constants: [nil, nil, nil], outputs: outs)
        }[0]
        #expect(got.floats[1] == 0 && got.floats[0] != 0)
        for (name, value) in [("mode", Attribute.string("mean")), ("coordinate_transformation_mode", .string("asymmetric")),
                              ("output_height", .int(0)), ("sampling_ratio", .int(-1))] {
            #expect(throws: GPUInferError.self) {
                try checkOp("RoiAlign", attributes: [name: value], inputs: [x, rois, Tensor(shape: [2], ints: [0, 1])], opset: 16)
            }
        }
        #expect(throws: GPUInferError.self) {  // rois must be [R, 4]
            try checkOp("RoiAlign", inputs: [x, Tensor(shape: [2, 3], floats: [0, 0, 2, 1, 1, 3]), Tensor(shape: [2], ints: [0, 1])])
        }
    }
}
