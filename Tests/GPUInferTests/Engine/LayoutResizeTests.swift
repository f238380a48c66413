// Resize/Upsample: hand-computed values, device vs reference on awkward shapes for every mode
// and coordinate transformation, and the attribute values refused at load time.
// Tolerance: nearest is exact. Linear/cubic: the kernel sums up to 4^k weighted taps in one
// pass, the reference interpolates axis by axis; both round each of ≤ 16 products of |x| < 1 to
// fp32 (weights' absolute sum ≤ 1.5), so |Δ| ≤ 16·1.5·2⁻²⁴ ≈ 1.5e-6: rtol 1e-5, atol 2e-6.
import Testing
@testable import GPUInfer

@Suite struct LayoutResizeTests {
    static let modes = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "half_pixel_symmetric"]

    @Test func handValues() throws {
        let x = Tensor(shape: [1, 1, 2, 2], floats: [1, 2, 3, 4])
        try checkOp("Resize", attributes: ["coordinate_transformation_mode": .string("asymmetric")],
                    inputs: [x, nil, Tensor(shape: [4], floats: [1, 1, 2, 2])], constant: [2],
                    expected: [Tensor(shape: [1, 1, 4, 4], floats: [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])], rtol: 0, atol: 0)
        // align_corners 2×2 → 4×4 of [[0, 3], [6, 9]]: out[i][j] = 2i + j.
        try checkOp("Resize", attributes: ["mode": .string("linear"), "coordinate_transformation_mode": .string("align_corners")],
                    inputs: [Tensor(shape: [1, 1, 2, 2], floats: [0, 3, 6, 9]), nil, nil, layoutInts([1, 1, 4, 4])], constant: [3],
                    expected: [Tensor(shape: [1, 1, 4, 4], floats: (0..<16).map { Float(2 * ($0 / 4) + $0 % 4) })], rtol: 1e-6, atol: 1e-6)
        // half_pixel 4 → 2: source coordinates 2x + 0.5 → 0.5 and 2.5.
        try checkOp("Resize", attributes: ["mode": .string("linear")], inputs: [layoutIota([4]), nil, Tensor(shape: [1], floats: [0.5])],
                    constant: [2], expected: [Tensor(shape: [2], floats: [0.5, 2.5])], rtol: 0, atol: 0)
        // tf_half_pixel_for_nearest (opset 11 only): (x + 0.5)/2 = 0.25, 0.75, … → 0, 1, 1, 2, 2, 2 (clamped).
        try checkOp("Resize", attributes: ["coordinate_transformation_mode": .string("tf_half_pixel_for_nearest")],
                    inputs: [layoutIota([3]), Tensor(shape: [0], floats: []), Tensor(shape: [1], floats: [2])], constant: [1, 2], opset: 11,
                    expected: [Tensor(shape: [6], floats: [0, 1, 1, 2, 2, 2])], rtol: 0, atol: 0)
        // A scale-1 axis is copied even where the transform would shift it ((x + 0.5)/1 with ceil).
        try checkOp("Resize", attributes: ["coordinate_transformation_mode": .string("tf_half_pixel_for_nearest"), "nearest_mode": .string("ceil")],
                    inputs: [layoutIota([2, 3]), Tensor(shape: [0], floats: []), Tensor(shape: [2], floats: [1, 2])], constant: [1, 2], opset: 11,
                    expected: [Tensor(shape: [2, 6], floats: [1, 1, 2, 2, 2, 2, 4, 4, 5, 5, 5, 5])], rtol: 0, atol: 0)
        // Upsample-7: scales attribute.
        try checkOp("Upsample", attributes: ["scales": .floats([1, 2])], inputs: [Tensor(shape: [2, 2], floats: [1, 2, 3, 4])], opset: 7,
                    expected: [Tensor(shape: [2, 4], floats: [1, 1, 2, 2, 3, 3, 4, 4])], rtol: 0, atol: 0)
        // Nearest on int64 (folded on the host).
        try checkOp("Resize", inputs: [layoutInts([5, 6, 7]), nil, nil, layoutInts([6])], constant: [3], expected: [layoutInts([5, 5, 6, 6, 7, 7])])
    }

    @Test(arguments: ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"])
    func nearestAgainstReference(_ nearest: String) throws {
        var rng = TestRandom(seed: 41)
        let x = rng.tensor([2, 3, 5, 7])
        for coord in Self.modes {
            let attrs: [String: Attribute] = ["coordinate_transformation_mode": .string(coord), "nearest_mode": .string(nearest)]
            for sizes: [Int64] in [[2, 3, 9, 4], [2, 3, 3, 13], [1, 5, 1, 7]] {
                try checkOp("Resize", attributes: attrs, inputs: [x, nil, nil, layoutInts(sizes)], constant: [3], opset: 19, rtol: 0, atol: 0)
            }
            try checkOp("Resize", attributes: attrs, inputs: [x, nil, Tensor(shape: [4], floats: [1, 1, 1.7, 0.6])], constant: [2],
                        opset: 19, rtol: 0, atol: 0)
        }
    }

    /// Nearest ×2 upsampling as detectors' necks export it (asymmetric, floor: torch's
    /// `nn.Upsample(scale_factor=2)`), rows of several 16-column runs with a tail, batch 2, and a
    /// downsampling that also selects along the channel axis: resize_select_rows, exact.
    @Test func nearestWholeRows() throws {
        var rng = TestRandom(seed: 43)
        let attrs: [String: Attribute] = ["coordinate_transformation_mode": .string("asymmetric"), "nearest_mode": .string("floor")]
        try checkOp("Resize", attributes: attrs, inputs: [rng.tensor([2, 5, 20, 37]), nil, Tensor(shape: [4], floats: [1, 1, 2, 2])],
                    constant: [2], opset: 19, rtol: 0, atol: 0)
        try checkOp("Resize", attributes: attrs, inputs: [rng.tensor([1, 7, 9, 33]), nil, nil, layoutInts([1, 3, 4, 17])],
                    constant: [3], opset: 19, rtol: 0, atol: 0)
    }

    @Test(arguments: ["linear", "cubic"])
    func interpolationAgainstReference(_ mode: String) throws {
        var rng = TestRandom(seed: 42)
        let x = rng.tensor([2, 3, 5, 7])
        for coord in Self.modes {
            for exclude in [0, 1] where exclude == 0 || mode == "cubic" {
                let attrs: [String: Attribute] = ["mode": .string(mode), "coordinate_transformation_mode": .string(coord),
                                                  "exclude_outside": .int(exclude)]
                for sizes: [Int64] in [[2, 3, 9, 4], [2, 3, 3, 13], [2, 3, 1, 1]] {
                    try checkOp("Resize", attributes: attrs, inputs: [x, nil, nil, layoutInts(sizes)], constant: [3], opset: 19, rtol: 1e-5, atol: 2e-6)
                }
                try checkOp("Resize", attributes: attrs, inputs: [x, nil, Tensor(shape: [4], floats: [1, 1, 2.3, 0.45])], constant: [2],
                            opset: 19, rtol: 1e-5, atol: 2e-6)
            }
        }
        // N-d: every axis of a rank-3 tensor, and a 5-D one with the axes attribute.
        try checkOp("Resize", attributes: ["mode": .string(mode)], inputs: [rng.tensor([3, 5, 7]), nil, nil, layoutInts([4, 9, 3])],
                    constant: [3], opset: 19, rtol: 1e-5, atol: 2e-6)
        try checkOp("Resize", attributes: ["mode": .string(mode), "axes": .ints([-1, 2])],
                    inputs: [rng.tensor([2, 1, 3, 4, 5]), nil, Tensor(shape: [2], floats: [1.5, 2])], constant: [2], opset: 19, rtol: 1e-5, atol: 2e-6)
        // A larger image (more than one work-group per row).
        try checkOp("Resize", attributes: ["mode": .string(mode), "coordinate_transformation_mode": .string("pytorch_half_pixel")],
                    inputs: [rng.tensor([1, 3, 33, 65]), nil, Tensor(shape: [4], floats: [1, 1, 2, 2])], constant: [2], opset: 19, rtol: 1e-5, atol: 2e-6)
    }

    @Test func refusedAttributes() {
        let x = Tensor(zeros: [1, 1, 2, 2])
        let scales = Tensor(shape: [4], floats: [1, 1, 2, 2])
        func load(_ attrs: [String: Attribute], opset: Int = 19) throws {
            _ = try singleNodeModel("Resize", attributes: attrs, inputs: [x, nil, scales], constant: [2], opset: opset)
        }
        for attrs: [String: Attribute] in [["mode": .string("linear"), "antialias": .int(1)],
                                           ["coordinate_transformation_mode": .string("tf_crop_and_resize")],
                                           ["keep_aspect_ratio_policy": .string("fit")], ["mode": .string("area")],
                                           ["nearest_mode": .string("round")]] {
            #expect(throws: GPUInferError.self, "\(attrs)") { try load(attrs) }
        }
        #expect(throws: GPUInferError.self) { try load(["coordinate_transformation_mode": .string("tf_half_pixel_for_nearest")], opset: 13) }
        #expect(throws: GPUInferError.self) {
            let ints = Tensor(shape: [1, 1, 2, 2], ints: [1, 2, 3, 4])
            _ = try ReferenceExecutor().run(singleNodeModel("Resize", attributes: ["mode": .string("linear")], inputs: [ints, nil, scales],
                                                            constant: [2]), inputs: ["in0": ints])
        }
    }
}
