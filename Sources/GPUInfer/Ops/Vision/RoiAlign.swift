// RoiAlign (opset 10, 16/22): bilinear-sampled average or max pooling of regions of interest of an
// NCHW feature map into [rois, C, output_height, output_width]. Kernels/roi_align.cl.

/// RoiAlign with onnxruntime's (and the ONNX reference's) semantics: a region [x1, y1, x2, y2]
/// is scaled by `spatial_scale` and shifted by −0.5 (`half_pixel`, the opset-16 default) or not
/// (`output_half_pixel`, opset 10's behaviour, where regions are also widened to at least 1×1);
/// each output bin averages (or maxes) a grid of `sampling_ratio`² samples (0: ⌈bin size⌉ per
/// axis). A sample outside [−1, H] × [−1, W] counts as 0; otherwise its coordinates are clamped
/// to [0, H−1] × [0, W−1] and it is interpolated bilinearly. In max mode a sample contributes the
/// largest of its four weighted corner values w·x (not the interpolated value), as onnxruntime does.
struct RoiAlign: Operator {
    static let opTypes = ["RoiAlign"]
    let node: Node
    let maxMode: Bool
    let outputHeight: Int
    let outputWidth: Int
    let samplingRatio: Int
    let spatialScale: Float
    let halfPixel: Bool

    init(node: Node, opset: Int) throws {
        self.node = node
        let mode = try node.string("mode", default: "avg")
        guard mode == "avg" || mode == "max" else { throw node.attributeError("mode", "must be avg or max, got '\(mode)'") }
        maxMode = mode == "max"
        outputHeight = try node.int("output_height", default: 1)
        outputWidth = try node.int("output_width", default: 1)
        guard outputHeight >= 1, outputWidth >= 1 else {
            throw node.attributeError("output_height", "output sizes must be ≥ 1, got \(outputHeight)×\(outputWidth)")
        }
        samplingRatio = try node.int("sampling_ratio", default: 0)
        // The adaptive grid is capped at 65536 samples per side (`Region.ceilCount`); a fixed one
        // beyond that is no real model's and would overflow the grid's sample count.
        guard (0...65536).contains(samplingRatio) else { throw node.attributeError("sampling_ratio", "must be 0…65536, got \(samplingRatio)") }
        spatialScale = try node.float("spatial_scale", default: 1)
        // Opset 10 has no coordinate_transformation_mode: its behaviour is output_half_pixel.
        let transform = opset >= 16 ? try node.string("coordinate_transformation_mode", default: "half_pixel") : "output_half_pixel"
        guard transform == "half_pixel" || transform == "output_half_pixel" else {
            throw node.attributeError("coordinate_transformation_mode", "must be half_pixel or output_half_pixel, got '\(transform)'")
        }
        halfPixel = transform == "half_pixel"
    }

    /// A shape error naming this node.
    func error(_ reason: String) -> GPUInferError { .shapeMismatch(node: node.label, op: "RoiAlign", reason: reason) }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, "RoiAlign"), rois: TensorType = try inputs.required(1, "RoiAlign")
        let batch: TensorType = try inputs.required(2, "RoiAlign")
        guard x.dtype.isFloat, rois.dtype.isFloat, !batch.dtype.isFloat else {
            throw error("X and rois must be float and batch_indices integer, got \(x.dtype), \(rois.dtype), \(batch.dtype)")
        }
        guard x.shape.count == 4 else { throw error("X must be [N, C, H, W], got \(x.shape)") }
        guard rois.shape.count == 2, rois.shape[1] == 4, batch.shape == [rois.shape[0]] else {
            throw error("rois must be [R, 4] and batch_indices [R], got \(rois.shape) and \(batch.shape)")
        }
        if let b = constants.optional(2) { try checkBatchIndices(b.int64Values, batch: x.shape[0]) }
        return [TensorType(.float32, [rois.shape[0], x.shape[1], outputHeight, outputWidth])]
    }

    /// Throws naming the first batch index outside 0..<batch.
    func checkBatchIndices(_ indices: [Int64], batch: Int) throws {
        if let bad = indices.first(where: { $0 < 0 || $0 >= Int64(batch) }) {
            throw error("batch index \(bad) is out of range for a batch of \(batch)")
        }
    }

    /// One region's sampling geometry, computed in fp32 in onnxruntime's order.
    struct Region {
        var startH: Float, startW: Float, binH: Float, binW: Float
        var gridH: Int, gridW: Int

        init(_ box: ArraySlice<Float>, _ op: RoiAlign) {
            let b = Array(box)
            let offset: Float = op.halfPixel ? 0.5 : 0
            startW = b[0] * op.spatialScale - offset
            startH = b[1] * op.spatialScale - offset
            var width = (b[2] * op.spatialScale - offset) - startW
            var height = (b[3] * op.spatialScale - offset) - startH
            if !op.halfPixel {
                // Malformed regions become 1×1 (std::max keeps a NaN).
                width = width < 1 ? 1 : width
                height = height < 1 ? 1 : height
            }
            binH = height / Float(op.outputHeight)
            binW = width / Float(op.outputWidth)
            // An empty or inverted region samples nothing (its bins are 0).
            gridH = op.samplingRatio > 0 ? op.samplingRatio : Self.ceilCount(binH)
            gridW = op.samplingRatio > 0 ? op.samplingRatio : Self.ceilCount(binW)
        }

        /// ⌈v⌉ as a sample count: 0 for v ≤ 0 or NaN, capped far above any real grid.
        static func ceilCount(_ v: Float) -> Int { v > 0 ? Int(Swift.min(v.rounded(.up), 65536)) : 0 }
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, "RoiAlign"), rois: Tensor = try inputs.required(1, "RoiAlign")
        let batch: Tensor = try inputs.required(2, "RoiAlign")
        let t = try inferTypes(TensorType.of(inputs), constants: [nil, nil, nil])[0]
        let (channels, height, width) = (x.shape[1], x.shape[2], x.shape[3])
        let indices = batch.int64Values
        try checkBatchIndices(indices, batch: x.shape[0])
        var y = [Float](repeating: 0, count: t.count)
        for r in 0..<rois.shape[0] {
            let g = Region(rois.floats[(r * 4)..<(r * 4 + 4)], self)
            let count = Float(max(g.gridH * g.gridW, 1))
            // Corner offsets and weights of every sample of every bin, shared by the channels.
            var samples: [[(p: [Int], w: [Float])]] = []
            for ph in 0..<outputHeight {
                for pw in 0..<outputWidth {
                    var s: [(p: [Int], w: [Float])] = []
                    for iy in 0..<g.gridH {
                        let yy = g.startH + Float(ph) * g.binH + (Float(iy) + 0.5) * g.binH / Float(g.gridH)
                        for ix in 0..<g.gridW {
                            let xx = g.startW + Float(pw) * g.binW + (Float(ix) + 0.5) * g.binW / Float(g.gridW)
                            s.append(Self.bilinear(y: yy, x: xx, height: height, width: width))
                        }
                    }
                    samples.append(s)
                }
            }
            for c in 0..<channels {
                let base = (Int(indices[r]) * channels + c) * height * width
                for (bin, s) in samples.enumerated() {
                    var acc: Float = 0
                    for (k, sample) in s.enumerated() {
                        let v = (0..<4).map { sample.w[$0] * x.floats[base + sample.p[$0]] }
                        if maxMode {
                            let m = Self.maxOf(Self.maxOf(Self.maxOf(v[0], v[1]), v[2]), v[3])
                            acc = k == 0 ? m : Self.maxOf(acc, m)
                        } else {
                            acc += v[0] + v[1] + v[2] + v[3]
                        }
                    }
                    y[((r * channels + c) * outputHeight * outputWidth) + bin] = maxMode ? acc : acc / count
                }
            }
        }
        return [Tensor(shape: t.shape, floats: y)]
    }

    /// std::max(a, b): b only when a < b (a NaN a stays).
    static func maxOf(_ a: Float, _ b: Float) -> Float { a < b ? b : a }

    /// The four corner offsets (in a plane) and weights of the sample at (y, x): all zero outside
    /// [−1, H] × [−1, W]; clamped to the plane otherwise.
    static func bilinear(y yy: Float, x xx: Float, height: Int, width: Int) -> (p: [Int], w: [Float]) {
        if yy < -1 || yy > Float(height) || xx < -1 || xx > Float(width) || yy.isNaN || xx.isNaN { return ([0, 0, 0, 0], [0, 0, 0, 0]) }
        var y = yy <= 0 ? 0 : yy, x = xx <= 0 ? 0 : xx
        var yLow = Int(y), xLow = Int(x), yHigh = yLow + 1, xHigh = xLow + 1
        if yLow >= height - 1 {
            yLow = height - 1
            yHigh = yLow
            y = Float(yLow)
        }
        if xLow >= width - 1 {
            xLow = width - 1
            xHigh = xLow
            x = Float(xLow)
        }
        let ly = y - Float(yLow), lx = x - Float(xLow)
        let hy = 1 - ly, hx = 1 - lx
        return ([yLow * width + xLow, yLow * width + xHigh, yHigh * width + xLow, yHigh * width + xHigh],
                [hy * hx, hy * lx, ly * hx, ly * lx])
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, "RoiAlign"), rois: DeviceValue = try inputs.required(1, "RoiAlign")
        let batch: DeviceValue = try inputs.required(2, "RoiAlign")
        let t = try inferTypes([x.type, rois.type, batch.type], constants: constants)[0]
        guard t.count > 0 else { return }
        guard x.type.shape[2] > 0, x.type.shape[3] > 0 else { throw ctx.error("RoiAlign of an empty feature map") }
        let kernel = try ctx.kernel("roi_align", file: "roi_align")
        let s = x.type.shape
        try ctx.launch1D(kernel, [.int(t.count), .value(x), .value(rois), .value(batch), .value(outputs[0]), .ints([s[0], s[1], s[2], s[3]]),
                                  .int(outputHeight), .int(outputWidth), .int(samplingRatio), .float(spatialScale),
                                  .int(halfPixel ? 1 : 0), .int(maxMode ? 1 : 0)], count: t.count)
    }
}
