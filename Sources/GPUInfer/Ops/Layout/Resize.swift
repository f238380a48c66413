// Resize (opsets 10..19+) and Upsample (7..9): nearest, N-d linear and cubic interpolation. The
// host computes, per axis and output coordinate, the source taps (index, weight) following
// onnxruntime's float arithmetic; the kernel combines them, the reference applies them axis by axis.

/// Source taps of one axis: `taps` (index, weight) pairs per output coordinate.
struct ResizeTaps {
    var taps: Int
    var index: [Int]
    var weight: [Float]
    /// Whether every output coordinate reads only its first tap with weight 1.
    var isSelection: Bool { stride(from: 0, to: index.count, by: taps).allSatisfy { t in
        weight[t] == 1 && (1..<taps).allSatisfy { weight[t + $0] == 0 }
    } }
}

/// Resize / Upsample of an input to a new shape.
struct Resize: Operator {
    static let opTypes = ["Resize", "Upsample"]
    static let constantInputs = [1, 2, 3]
    enum Mode: String { case nearest, linear, cubic }
    enum Coordinates: String {
        case halfPixel = "half_pixel", halfPixelSymmetric = "half_pixel_symmetric", pytorchHalfPixel = "pytorch_half_pixel"
        case alignCorners = "align_corners", asymmetric, tfHalfPixelForNearest = "tf_half_pixel_for_nearest"
    }
    /// `legacy` is Upsample's and Resize-10's rule: ceil when downsampling, else floor.
    enum Nearest: String { case roundPreferFloor = "round_prefer_floor", roundPreferCeil = "round_prefer_ceil", floor, ceil, legacy }
    enum Policy: String { case stretch, notLarger = "not_larger", notSmaller = "not_smaller" }

    let context: LayoutContext
    let mode: Mode
    let coordinates: Coordinates
    let nearest: Nearest
    let cubicA: Float
    let excludeOutside: Bool
    let axes: [Int]?
    let policy: Policy
    /// Upsample before opset 9.
    let attributeScales: [Float]?
    /// Input index of scales (nil: attribute) and of sizes (nil: none).
    let scalesInput: Int?
    let sizesInput: Int?

    init(node: Node, opset: Int) throws {
        context = LayoutContext(node, opset)
        let modeName = try node.string("mode", default: "nearest")
        guard let m = Mode(rawValue: modeName == "bilinear" || modeName == "trilinear" ? "linear" : modeName),
              m != .cubic || node.opType == "Resize" else { throw context.unsupported("mode '\(modeName)'") }
        mode = m
        if node.opType == "Upsample" || opset < 11 {
            coordinates = .asymmetric
            nearest = .legacy
            (cubicA, excludeOutside, axes, policy) = (-0.75, false, nil, .stretch)
            attributeScales = node.opType == "Upsample" && opset < 9 ? try node.floats("scales") : nil
            if node.opType == "Upsample", opset < 9, attributeScales == nil { throw context.invalid("missing attribute 'scales'") }
            scalesInput = attributeScales == nil ? 1 : nil
            sizesInput = nil
            return
        }
        let coordName = try node.string("coordinate_transformation_mode", default: "half_pixel")
        guard let c = Coordinates(rawValue: coordName), c != .halfPixelSymmetric || opset >= 19,
              c != .tfHalfPixelForNearest || opset < 13 else {
            throw context.unsupported("coordinate_transformation_mode '\(coordName)'")
        }
        coordinates = c
        let nearestName = try node.string("nearest_mode", default: "round_prefer_floor")
        guard let n = Nearest(rawValue: nearestName), n != .legacy else { throw context.unsupported("nearest_mode '\(nearestName)'") }
        nearest = n
        cubicA = try node.float("cubic_coeff_a", default: -0.75)
        excludeOutside = try node.int("exclude_outside", default: 0) != 0
        if try node.int("antialias", default: 0) != 0, mode != .nearest {
            throw context.unsupported("antialias=1 with mode '\(modeName)'")
        }
        axes = opset >= 18 ? try node.ints("axes") : nil
        let policyName = try node.string("keep_aspect_ratio_policy", default: "stretch")
        guard let p = Policy(rawValue: policyName) else { throw context.unsupported("keep_aspect_ratio_policy '\(policyName)'") }
        policy = p
        attributeScales = nil
        scalesInput = 2
        sizesInput = 3
    }

    /// Output shape and the scale of every dim. `floats(i)` / `ints(i)` read constant input i.
    func resolve(_ shape: [Int], floats: (Int) throws -> [Float]?, ints: (Int) throws -> [Int]?) throws -> ([Int], [Float]) {
        let r = shape.count
        let axes = try context.axes(self.axes ?? Array(0..<r), rank: r)
        var out = shape, scales = [Float](repeating: 1, count: r)
        if let i = sizesInput, let sizes = try ints(i), !sizes.isEmpty {
            guard sizes.count == axes.count, sizes.allSatisfy({ $0 >= 0 }) else {
                throw context.shapeError("sizes \(sizes) do not fit \(axes.count) axes of \(shape)")
            }
            for (j, a) in axes.enumerated() where shape[a] == 0 && sizes[j] != 0 {
                throw context.shapeError("cannot resize the empty dim \(a) to \(sizes[j])")
            }
            let ratios = axes.enumerated().map { j, a in shape[a] == 0 ? 1 : Float(sizes[j]) / Float(shape[a]) }
            for (j, a) in axes.enumerated() {
                switch policy {
                case .stretch:
                    out[a] = sizes[j]
                    scales[a] = ratios[j]
                case .notLarger, .notSmaller:
                    let s = policy == .notLarger ? ratios.min() ?? 1 : ratios.max() ?? 1
                    out[a] = Int(s * Float(shape[a]) + 0.5)
                    scales[a] = s
                }
            }
            return (out, scales)
        }
        guard let given = try attributeScales ?? scalesInput.flatMap(floats), !given.isEmpty else {
            throw context.invalid("needs either scales or sizes")
        }
        guard given.count == axes.count, given.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw context.shapeError("scales \(given) do not fit \(axes.count) axes of \(shape)")
        }
        for (j, a) in axes.enumerated() {
            let d = Float(shape[a]) * given[j]
            guard d < Float(Int32.max) else { throw context.shapeError("scale \(given[j]) makes dim \(a) too large") }
            out[a] = Int(d)
            scales[a] = given[j]
        }
        return (out, scales)
    }

    /// Source coordinate of output coordinate x, in onnxruntime's float arithmetic.
    func original(_ x: Int, input: Int, output: Int, scale: Float) -> Float {
        let xr = Float(x)
        switch coordinates {
        case .halfPixel: return (xr + 0.5) / scale - 0.5
        case .halfPixelSymmetric:  // the last terms in double, as onnxruntime does
            let adjustment = Float(output) / (scale * Float(input))
            let offset = Float(input) / 2 * (1 - adjustment)
            return Float(Double(offset) + (Double(x) + 0.5) / Double(scale) - 0.5)
        case .pytorchHalfPixel: return output > 1 ? (xr + 0.5) / scale - 0.5 : 0
        case .alignCorners:
            // The spec's length_resized is scale·length_original, fractional when a scale (not a
            // size) gives it: 0.6 on 4 samples maps x=1 to 3/(2.4−1). onnxruntime uses the
            // floored output length instead; the ONNX conformance data follow the spec.
            let product = scale * Float(input)
            let resized = abs(product - Float(output)) < 1e-4 ? Float(output) : product
            return resized <= 1 ? 0 : xr * Float(input - 1) / (resized - 1)
        case .asymmetric: return xr / scale
        case .tfHalfPixelForNearest: return (xr + 0.5) / scale
        }
    }

    /// The taps of one axis.
    func taps(input: Int, output: Int, scale: Float) -> ResizeTaps {
        let count = [Mode.nearest: 1, .linear: 2, .cubic: 4][mode] ?? 1
        var t = ResizeTaps(taps: count, index: [], weight: [])
        t.index.reserveCapacity(output * count)
        t.weight.reserveCapacity(output * count)
        // An axis with scale 1 is copied whatever the mode (as onnxruntime and the ONNX reference do).
        if input == output, scale == 1 {
            for x in 0..<output {
                t.index += [x] + Array(repeating: x, count: count - 1)
                t.weight += [1] + Array(repeating: 0, count: count - 1)
            }
            return t
        }
        let last = max(input - 1, 0)
        for x in 0..<output {
            let o = min(max(original(x, input: input, output: output, scale: scale), -1e9), 1e9)
            switch mode {
            case .nearest:
                let v: Float
                switch nearest {
                case .roundPreferFloor, .roundPreferCeil:
                    // Ties within 1e-6, like onnxruntime: the exact coordinate (e.g. 2·7/4) is often
                    // a tie that the fp32 division misses by an ulp.
                    let f = o.rounded(.down)
                    v = abs(o - f - 0.5) <= 1e-6 ? (nearest == .roundPreferCeil ? f + 1 : f) : o.rounded()
                case .floor: v = o.rounded(.down)
                case .ceil: v = o.rounded(.up)
                case .legacy: v = scale < 1 ? o.rounded(.up) : o.rounded(.towardZero)
                }
                t.index.append(min(max(Int(v), 0), last))
                t.weight.append(1)
            case .linear:
                let c = min(max(o, 0), Float(last))
                let lo = min(Int(c), last)
                let w = c - Float(lo)
                t.index += [lo, min(lo + 1, last)]
                t.weight += [1 - w, w]
            case .cubic:
                let f = o.rounded(.down), s = o - f, a = cubicA
                let base = Int(f)
                var w: [Float] = [((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a,
                                  ((a + 2) * s - (a + 3)) * s * s + 1,
                                  ((a + 2) * (1 - s) - (a + 3)) * (1 - s) * (1 - s) + 1,
                                  ((a * (2 - s) - 5 * a) * (2 - s) + 8 * a) * (2 - s) - 4 * a]
                let idx = (0..<4).map { base - 1 + $0 }
                if excludeOutside {
                    for k in 0..<4 where idx[k] < 0 || idx[k] > last { w[k] = 0 }
                    let sum = w.reduce(0, +)
                    if sum != 0 { w = w.map { $0 / sum } }
                }
                var pairs = zip(idx.map { min(max($0, 0), last) }, w).map { ($0, $1) }
                // A pure selection (weights 0,1,0,0) is stored first so the axis can be skipped.
                if let k = pairs.firstIndex(where: { $0.1 == 1 }), pairs.allSatisfy({ $0.1 == 0 || $0.1 == 1 }) { pairs.swapAt(0, k) }
                t.index += pairs.map(\.0)
                t.weight += pairs.map(\.1)
            }
        }
        return t
    }

    /// Output shape and the taps of every axis.
    func plan(_ shape: [Int], floats: (Int) throws -> [Float]?, ints: (Int) throws -> [Int]?) throws -> ([Int], [ResizeTaps]) {
        let (out, scales) = try resolve(shape, floats: floats, ints: ints)
        // An empty output needs no taps, and an axis of one could be any length (sizes [0, 2^33]:
        // taps for 2^33 positions of a tensor with no element). Otherwise every axis is at most
        // the output's element count, which the memory budget has bounded.
        if out.contains(0) { return (out, shape.indices.map { _ in ResizeTaps(taps: 1, index: [], weight: []) }) }
        return (out, shape.indices.map { taps(input: shape[$0], output: out[$0], scale: scales[$0]) })
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try context.type(inputs, 0)
        if mode != .nearest, !x.dtype.isFloat { throw context.unsupported("\(mode) interpolation of \(x.dtype) data") }
        let (out, _) = try resolve(x.shape, floats: { try context.floats(constants, inputs, $0) },
                                   ints: { try context.ints(constants, inputs, $0) })
        return [TensorType(x.dtype, out)]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try inputs.required(0, context.op)
        if mode != .nearest, !x.dtype.isFloat { throw context.unsupported("\(mode) interpolation of \(x.dtype) data") }
        let (out, taps) = try plan(x.shape, floats: { inputs.optional($0)?.floatValues }, ints: { context.ints(inputs, $0) })
        if out.contains(0) { return [x.dtype.isFloat ? Tensor(shape: out, floats: []) : Tensor(shape: out, ints: [], dtype: x.dtype)] }
        let st = Shape.strides(x.shape)
        if mode == .nearest {
            return [x.mapped(out) { idx in idx.indices.reduce(0) { $0 + taps[$1].index[idx[$1]] * st[$1] } }]
        }
        // Separable: interpolate along one axis at a time.
        var data = x.floats, shape = x.shape
        for k in shape.indices where shape[k] != out[k] || !taps[k].isSelection {
            let outer = shape[..<k].reduce(1, *), inner = shape[(k + 1)...].reduce(1, *), n = shape[k], t = taps[k]
            var next = [Float](repeating: 0, count: outer * out[k] * inner)
            for o in 0..<outer {
                for j in 0..<out[k] {
                    for r in 0..<inner {
                        var acc: Float = 0
                        for p in 0..<t.taps { acc += t.weight[j * t.taps + p] * data[(o * n + t.index[j * t.taps + p]) * inner + r] }
                        next[(o * out[k] + j) * inner + r] = acc
                    }
                }
            }
            data = next
            shape[k] = out[k]
        }
        return [Tensor(shape: out, floats: data)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x = try inputs.required(0, context.op), y = outputs[0]
        let (out, taps) = try plan(x.type.shape, floats: { constants.optional($0)?.floatValues }, ints: { context.ints(constants, $0) })
        if out.contains(0) { return }
        let active = taps.map { !$0.isSelection }
        guard active.filter({ $0 }).count <= 8 else { throw ctx.error("more than 8 interpolated axes") }
        var offsets: [Int] = [], index: [Int] = [], weight: [Float] = []
        for t in taps {
            offsets.append(index.count)
            index += t.index
            weight += t.weight
        }
        let count = taps.first?.taps ?? 1
        let meta = try ctx.constants(out + Shape.strides(x.type.shape) + offsets + active.map { $0 ? 1 : 0 })
        if !active.contains(true), let ow = out.last, ow > 0, y.count > 0 {
            // Every axis a selection: whole output rows (nearest upsampling in detectors' necks).
            let rows = out.dropLast().reduce(1, *)
            let kernel = try ctx.kernel("resize_select_rows", file: "resize", options: "-DT=\(clType(y.type.dtype))")
            try ctx.launch(kernel, [.int(rows), .int(ow), .int(out.count), .int(count), .buffer(meta), .buffer(try ctx.constants(index)), .value(x), .value(y)],
                           global: [(ow + 15) / 16, rows], local: nil)
            return
        }
        let kernel = try ctx.kernel("resize", file: "resize", options: "-DT=\(clType(y.type.dtype))")
        try ctx.launch1D(kernel, [.int(y.count), .int(out.count), .int(count), .buffer(meta), .buffer(try ctx.constants(index)),
                                  .buffer(try ctx.constants(floats: weight)), .value(x), .value(y)], count: y.count)
    }
}
