// MaxPool / AveragePool (1-D and 2-D, with Indices for MaxPool) and GlobalMaxPool / GlobalAveragePool.

import Foundation

/// ONNX MaxPool and AveragePool over NCHW (or NCW) inputs.
struct Pool: Operator {
    static let opTypes = ["MaxPool", "AveragePool"]
    let isMax: Bool
    let window: WindowAttributes
    let countIncludePad: Bool
    let storageOrder: Int
    let wantIndices: Bool
    let node: Node
    let opset: Int

    init(node: Node, opset: Int) throws {
        isMax = node.opType == "MaxPool"
        window = try WindowAttributes(node: node, opset: opset, allowDilations: isMax || opset >= 19, allowCeil: true)
        guard window.kernelShape != nil else { throw node.attributeError("kernel_shape", "is required") }
        countIncludePad = try node.int("count_include_pad", default: 0) != 0
        storageOrder = try node.int("storage_order", default: 0)
        wantIndices = isMax && node.outputs.count > 1 && !node.outputs[1].isEmpty
        self.node = node
        self.opset = opset
    }

    func resolve(_ x: [Int]) throws -> Window {
        guard x.count == 3 || x.count == 4 else {
            if x.count == 5 {
                throw GPUInferError.unsupportedOp(op: node.opType, domain: "", node: node.label, opset: opset, reason: "3-D pooling is not implemented")
            }
            throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "input \(x) must be [N, C, W] or [N, C, H, W]")
        }
        let kernel = window.kernelShape ?? []
        guard kernel.count == x.count - 2 else {
            throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "kernel_shape \(kernel) does not fit input \(x)")
        }
        return try window.resolve(input: Array(x.dropFirst(2)), kernel: kernel, node: node)
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, node.opType)
        if !isMax { try requireFloat([x], node.label) }  // MaxPool also takes integer tensors (e.g. uint8 images)
        let shape = Array(x.shape.prefix(2)) + (try resolve(x.shape)).output
        return [TensorType(x.dtype, shape)] + (wantIndices ? [TensorType(.int64, shape)] : [])
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let input: Tensor = try inputs.required(0, node.opType)
        guard !input.dtype.isFloat else { return try pool(input) }
        // Integer MaxPool (e.g. uint8 images): values below 2^24 in magnitude are exact in fp32,
        // so the float window walk gives the exact result; larger integers are refused.
        guard isMax else { try requireFloat([TensorType(input.dtype, input.shape)], node.label); return [] }
        guard input.ints.allSatisfy({ abs($0) < 1 << 24 }) else {
            throw GPUInferError.unsupportedDType("\(input.dtype) values beyond ±2^24", location: "node '\(node.label)' (MaxPool)")
        }
        var out = try pool(input.cast(to: .float32))
        out[0] = out[0].cast(to: input.dtype)
        return out
    }

    /// The window walk over a float tensor.
    private func pool(_ x: Tensor) throws -> [Tensor] {
        let win = try resolve(x.shape)
        let shape = Array(x.shape.prefix(2)) + win.output
        let w = win.as2D
        let (H, W, OH, OW, KH, KW) = (w.input[0], w.input[1], w.output[0], w.output[1], w.kernel[0], w.kernel[1])
        let planes = x.shape[0] * x.shape[1]
        var y = [Float](repeating: 0, count: planes * OH * OW)
        var indices = [Int64](repeating: 0, count: wantIndices ? y.count : 0)
        /// The k in 0..<count with lo ≤ start + k·step < hi (step ≥ 1), as a range: a window far
        /// wider than the input (a kernel of 2^31 − 1 under SAME padding) costs only its taps inside.
        func taps(_ start: Int, _ step: Int, _ count: Int, _ lo: Int, _ hi: Int) -> Range<Int> {
            let a = lo - start, b = hi - start
            let k0 = min(a <= 0 ? 0 : (a + step - 1) / step, count)
            let k1 = min(max(b <= 0 ? 0 : (b + step - 1) / step, k0), count)
            return k0..<k1
        }
        x.floats.withUnsafeBufferPointer { xp in
            for p in 0..<planes {
                let plane = p * H * W
                for oh in 0..<OH {
                    let hs = oh * w.strides[0] - w.padBegin[0]
                    for ow in 0..<OW {
                        let ws = ow * w.strides[1] - w.padBegin[1]
                        let o = (p * OH + oh) * OW + ow
                        var best = -Float.infinity, at = -1, sum: Float = 0, inside = 0
                        for kh in taps(hs, w.dilations[0], KH, 0, H) {
                            let ih = hs + kh * w.dilations[0]
                            for kw in taps(ws, w.dilations[1], KW, 0, W) {
                                let iw = ws + kw * w.dilations[1]
                                let v = xp[plane + ih * W + iw]
                                inside += 1
                                sum += v
                                // First maximum wins; a NaN anywhere in the window makes the result NaN.
                                if at < 0 || (!best.isNaN && (v > best || v.isNaN)) {
                                    best = v
                                    at = ih * W + iw
                                }
                            }
                        }
                        if isMax {
                            y[o] = best
                            if wantIndices {
                                let i = max(at, 0)
                                indices[o] = Int64(plane + (storageOrder != 0 ? (i % W) * H + i / W : i))
                            }
                        } else {
                            // count_include_pad counts positions inside the padded input, not the ceil_mode overhang.
                            let padded = taps(hs, w.dilations[0], KH, -w.padBegin[0], H + w.padEnd[0]).count
                                * taps(ws, w.dilations[1], KW, -w.padBegin[1], W + w.padEnd[1]).count
                            y[o] = sum / Float(countIncludePad ? padded : inside)
                        }
                    }
                }
            }
        }
        return [Tensor(shape: shape, floats: y)] + (wantIndices ? [Tensor(shape: shape, ints: indices)] : [])
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, node.opType)
        let win = try resolve(x.type.shape)
        try ctx.require32BitIndexing([x, outputs[0]])
        let meta = try ctx.constants(win.meta)
        let count = outputs[0].count
        let w = win.as2D
        // CPU style: the CPU-style kernel (8 output columns per work-item as float8, the window
        // compiled in) for float pools with dilation 1, windows up to 7×7 and no Indices.
        // `options.pool = .generic` ($GPUINFER_POOL=generic) keeps the per-element kernels.
        if !ctx.gpuStyle, x.type.dtype.isFloat, !(wantIndices && outputs.count > 1), w.dilations == [1, 1],
           w.kernel.allSatisfy({ (1...7).contains($0) }), w.strides.allSatisfy({ $0 >= 1 && $0 <= 8 }),
           ctx.options.pool != .generic {
            let options = "-DIS_MAX=\(isMax ? 1 : 0) -DPKH=\(w.kernel[0]) -DPKW=\(w.kernel[1]) -DPSH=\(w.strides[0]) -DPSW=\(w.strides[1])"
            let planes = x.type.shape[0] * x.type.shape[1]
            let global = [w.output[0] * ((w.output[1] + 7) / 8), planes]
            try ctx.launch(try ctx.kernel("pool2d_cpu", file: "pool", options: options),
                           [.value(x), .value(outputs[0]), .buffer(meta), .int(planes), .int(countIncludePad ? 1 : 0)],
                           global: global, local: ctx.fixedLocal(global, shape: [1, 16]))  // 16 planes per work-group on PoCL
            return
        }
        if isMax {
            let indices = wantIndices && outputs.count > 1 ? outputs[1].buffer : outputs[0].buffer
            try ctx.launch1D(try ctx.kernel(x.type.dtype.isFloat ? "max_pool2d" : "max_pool2d_long", file: "pool"),
                             [.value(x), .value(outputs[0]), .buffer(indices), .buffer(meta), .int(count),
                              .int(wantIndices && outputs.count > 1 ? 1 : 0), .int(storageOrder)], count: count)
        } else {
            try ctx.launch1D(try ctx.kernel("avg_pool2d", file: "pool"),
                             [.value(x), .value(outputs[0]), .buffer(meta), .int(count), .int(countIncludePad ? 1 : 0)], count: count)
        }
    }
}

/// ONNX GlobalAveragePool and GlobalMaxPool over every spatial dim (any rank ≥ 3).
struct GlobalPool: Operator {
    static let opTypes = ["GlobalAveragePool", "GlobalMaxPool"]
    let isMax: Bool
    let node: Node

    init(node: Node, opset: Int) throws {
        isMax = node.opType == "GlobalMaxPool"
        self.node = node
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, node.opType)
        try requireFloat([x], node.label)
        guard x.shape.count >= 3 else { throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "input \(x.shape) needs spatial dims") }
        return [TensorType(.float32, Array(x.shape.prefix(2)) + [Int](repeating: 1, count: x.shape.count - 2))]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, node.opType)
        let shape = try inferTypes([TensorType(x.dtype, x.shape)], constants: [])[0].shape
        let planes = x.shape[0] * x.shape[1], size = x.count / max(planes, 1)
        let y: [Float] = (0..<planes).map { p in
            let v = x.floats[(p * size)..<((p + 1) * size)]
            if isMax {
                var best = -Float.infinity
                for e in v where !best.isNaN && (e > best || e.isNaN) { best = e }
                return best
            }
            return v.reduce(0, +) / Float(size)
        }
        return [Tensor(shape: shape, floats: y)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, node.opType)
        let planes = outputs[0].count
        try ctx.require32BitIndexing([x])
        try ctx.launch1D(try ctx.kernel("global_pool", file: "pool"),
                         [.value(x), .value(outputs[0]), .int(planes), .int(x.count / max(planes, 1)), .int(isMax ? 1 : 0)], count: planes)
    }
}
