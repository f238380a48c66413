// Sliding-window geometry shared by Conv, ConvTranspose and the pools: attribute parsing
// (kernel_shape, strides, dilations, pads, auto_pad, ceil_mode) and output-size/padding rules.

/// ONNX `auto_pad`.
enum AutoPad: String {
    case notSet = "NOTSET", sameUpper = "SAME_UPPER", sameLower = "SAME_LOWER", valid = "VALID"
}

/// The window attributes of one node, as written in the model (before the input shape is known).
struct WindowAttributes: Sendable {
    var kernelShape: [Int]?
    var strides: [Int]?
    var dilations: [Int]?
    var pads: [Int]?
    var autoPad: AutoPad
    var ceilMode: Bool

    /// Parses the attributes; `dilations` is read only when `allowDilations` (AveragePool < 19).
    init(node: Node, opset: Int, allowDilations: Bool = true, allowCeil: Bool = false) throws {
        kernelShape = try node.ints("kernel_shape")
        strides = try node.ints("strides")
        dilations = allowDilations ? try node.ints("dilations") : nil
        pads = try node.ints("pads")
        let ap = try node.string("auto_pad", default: "NOTSET")
        guard let a = AutoPad(rawValue: ap.isEmpty ? "NOTSET" : ap) else {
            throw GPUInferError.invalidModel(location: "node '\(node.label)' (\(node.opType)) attribute 'auto_pad'", reason: "unknown value '\(ap)'")
        }
        autoPad = a
        ceilMode = allowCeil ? try node.int("ceil_mode", default: 0) != 0 : false
        for (name, v) in [("kernel_shape", kernelShape), ("strides", strides), ("dilations", dilations)] {
            if let v, v.contains(where: { $0 < 1 }) {
                throw GPUInferError.invalidModel(location: "node '\(node.label)' (\(node.opType)) attribute '\(name)'", reason: "values must be ≥ 1, got \(v)")
            }
        }
        let rank = max(kernelShape?.count ?? 0, strides?.count ?? 0, dilations?.count ?? 0, (pads?.count ?? 0) / 2)
        if rank > 2 {
            let r = rank
            throw GPUInferError.unsupportedOp(op: node.opType, domain: node.domain, node: node.label, opset: opset,
                                              reason: "\(r)-D windows are not implemented (1-D and 2-D only)")
        }
    }

    /// Resolves the geometry for `input` spatial dims and `kernel` dims (from W or kernel_shape).
    func resolve(input: [Int], kernel: [Int], node: Node) throws -> Window {
        let r = input.count
        func list(_ v: [Int]?, _ name: String, _ n: Int, _ def: Int) throws -> [Int] {
            guard let v else { return [Int](repeating: def, count: n) }
            guard v.count == n else {
                throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "'\(name)' has \(v.count) values, expected \(n) for \(r) spatial dims")
            }
            return v
        }
        let s = try list(strides, "strides", r, 1)
        let d = try list(dilations, "dilations", r, 1)
        // Attribute values from the file, bounded before any arithmetic: with each below 2^31 the
        // window sums and products below stay far inside Int.
        let limit = Int(Int32.max)
        for (name, v, low) in [("strides", s, 1), ("dilations", d, 1), ("pads", pads ?? [], 0), ("input", input, 0), ("kernel", kernel, 1)]
        where !v.allSatisfy({ (low...limit).contains($0) }) {
            throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "\(name) \(v) must lie in \(low)...\(limit)")
        }
        var w = Window(input: input, kernel: kernel, strides: s, dilations: d,
                       padBegin: [Int](repeating: 0, count: r), padEnd: [Int](repeating: 0, count: r), output: [Int](repeating: 0, count: r))
        for i in 0..<r {
            let span = (kernel[i] - 1) * d[i] + 1
            switch autoPad {
            case .notSet:
                let p = try list(pads, "pads", 2 * r, 0)
                guard p.allSatisfy({ $0 >= 0 }) else {
                    throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "negative pads \(p)")
                }
                w.padBegin[i] = p[i]
                w.padEnd[i] = p[r + i]
                let room = input[i] + p[i] + p[r + i] - span
                if ceilMode {
                    // The last window must start inside the input or the left padding (ONNX/PyTorch).
                    var o = room >= 0 ? (room + s[i] - 1) / s[i] + 1 : 0
                    if o > 0, (o - 1) * s[i] >= input[i] + p[i] { o -= 1 }
                    w.output[i] = o
                } else {
                    w.output[i] = room >= 0 ? room / s[i] + 1 : 0
                }
            case .valid:
                w.output[i] = input[i] >= span ? (input[i] - span) / s[i] + 1 : 0
            case .sameUpper, .sameLower:
                let o = (input[i] + s[i] - 1) / s[i]
                let total = max(0, (o - 1) * s[i] + span - input[i])
                w.output[i] = o
                w.padBegin[i] = autoPad == .sameUpper ? total / 2 : total - total / 2
                w.padEnd[i] = total - w.padBegin[i]
            }
            guard w.output[i] > 0 else {
                throw GPUInferError.shapeMismatch(node: node.label, op: node.opType,
                                                  reason: "window \(kernel) (dilations \(d)) does not fit input \(input) with pads \(w.padBegin)+\(w.padEnd)")
            }
        }
        return w
    }
}

/// A resolved window over 1 or 2 spatial dims.
struct Window: Sendable {
    var input: [Int]
    var kernel: [Int]
    var strides: [Int]
    var dilations: [Int]
    var padBegin: [Int]
    var padEnd: [Int]
    var output: [Int]

    /// The same window as 2-D (a 1-D window gets a leading axis of size 1), for the kernels.
    var as2D: Window {
        guard input.count == 1 else { return self }
        return Window(input: [1] + input, kernel: [1] + kernel, strides: [1] + strides, dilations: [1] + dilations,
                      padBegin: [0] + padBegin, padEnd: [0] + padEnd, output: [1] + output)
    }

    /// Kernel meta block: H, W, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw, phEnd, pwEnd.
    var meta: [Int] {
        let w = as2D
        return w.input + w.output + w.kernel + w.strides + w.dilations + w.padBegin + w.padEnd
    }
}

/// A 2-D local size for launches whose first dimension is a pixel count.
func pixelLocalSize(_ pixels: Int, _ workGroup: Int) -> [Int] {
    var l = 1
    while l < pixels && l < workGroup { l *= 2 }
    return [min(l, workGroup), 1, 1]
}

extension EncodeContext {
    /// Throws unless every value fits the kernels' 32-bit element indexing.
    func require32BitIndexing(_ values: [DeviceValue?]) throws {
        if let v = values.compactMap({ $0 }).first(where: { $0.count > Int(Int32.max) }) {
            throw error("tensor \(v.type) exceeds the 32-bit index range of the kernels")
        }
    }
}

/// Shapes of one Conv or ConvTranspose application (for ConvTranspose `window.input`/`output`
/// are its input/output sizes): batch, channels, groups and the resolved window.
struct ConvShapes {
    var n: Int, c: Int, cout: Int, group: Int
    var window: Window
    /// Input and output channels per group.
    var cg: Int { c / group }
    var mg: Int { cout / group }
    var output: [Int] { [n, cout] + window.output }
    /// Kernel meta block (see Kernels/conv.cl and conv_transpose.cl).
    var meta: [Int] {
        let w = window.as2D
        return [c] + w.input + [cout] + w.output + w.kernel + w.strides + w.dilations + w.padBegin + [cg, mg, group]
    }
    /// A 1×1, stride-1, unpadded window: the Conv is a plain GEMM.
    var isPointwise: Bool {
        window.kernel.allSatisfy { $0 == 1 } && window.strides.allSatisfy { $0 == 1 }
            && (window.padBegin + window.padEnd).allSatisfy { $0 == 0 }
    }
}

/// Conv and ConvTranspose: float inputs (X, W, optional B) whose output shape is their geometry's.
protocol ConvolutionOperator: Operator {
    var node: Node { get }
    func geometry(_ x: [Int], _ w: [Int], _ b: [Int]?) throws -> ConvShapes
}

extension ConvolutionOperator {
    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, node.opType), w: TensorType = try inputs.required(1, node.opType)
        try requireFloat([x, w] + [inputs.optional(2)].compactMap { $0 }, node.label)
        return [TensorType(.float32, try geometry(x.shape, w.shape, inputs.optional(2)?.shape).output)]
    }

    /// Conv: every output element is a dot product over W's Cin/group·kernel taps. ConvTranspose:
    /// every input element is scattered through W's Cout/group·kernel taps.
    func flops(_ inputs: [TensorType?], outputs: [TensorType]) -> Double {
        guard let x = inputs.first ?? nil, inputs.count > 1, let w = inputs[1], let y = outputs.first,
              let lead = w.shape.first, lead > 0 else { return 0 }
        let taps = Double(w.count / lead)
        return 2 * taps * Double(node.opType == "ConvTranspose" ? x.count : y.count)
    }
}
