// ConvTranspose (1-D and 2-D, NCHW): groups, strides, dilations, pads, output_padding, output_shape, auto_pad.

/// ONNX ConvTranspose. The reference scatters each input pixel through the kernel; the device
/// kernel (Kernels/conv_transpose.cl) gathers, one output pixel × 4 channels per work-item.
struct ConvTranspose: ConvolutionOperator {
    static let opTypes = ["ConvTranspose"]
    let window: WindowAttributes
    let group: Int
    let outputPadding: [Int]?
    let outputShape: [Int]?
    let node: Node
    let opset: Int

    init(node: Node, opset: Int) throws {
        window = try WindowAttributes(node: node, opset: opset)
        group = try node.int("group", default: 1)
        guard group >= 1 else { throw node.attributeError("group", "must be ≥ 1, got \(group)") }
        outputPadding = try node.ints("output_padding")
        outputShape = try node.ints("output_shape")
        self.node = node
        self.opset = opset
    }

    /// Shapes of one application; `window.input`/`output` are the ConvTranspose input/output sizes.
    typealias Geometry = ConvShapes

    private func fail(_ reason: String) -> GPUInferError { .shapeMismatch(node: node.label, op: "ConvTranspose", reason: reason) }

    func geometry(_ x: [Int], _ w: [Int], _ b: [Int]?) throws -> Geometry {
        guard x.count == 3 || x.count == 4 else {
            if x.count == 5 {
                throw GPUInferError.unsupportedOp(op: "ConvTranspose", domain: "", node: node.label, opset: opset, reason: "3-D transposed convolution is not implemented")
            }
            throw fail("input \(x) must be [N, C, W] or [N, C, H, W]")
        }
        guard w.count == x.count, w[0] == x[1], x[1] % group == 0 else {
            throw fail("weight \(w) must be [C = \(x[1]), M/group, k…] with C divisible by group \(group)")
        }
        let r = x.count - 2
        let input = Array(x.dropFirst(2)), kernel = Array(w.dropFirst(2))
        if let ks = window.kernelShape, ks != kernel { throw fail("kernel_shape \(ks) differs from weight \(w)") }
        let cout = w[1] * group
        if let b, b != [cout] { throw fail("bias \(b) must be [\(cout)]") }
        func list(_ v: [Int]?, _ name: String, _ n: Int, _ def: Int) throws -> [Int] {
            guard let v else { return [Int](repeating: def, count: n) }
            guard v.count == n else { throw fail("'\(name)' has \(v.count) values, expected \(n)") }
            return v
        }
        let s = try list(window.strides, "strides", r, 1), d = try list(window.dilations, "dilations", r, 1)
        let op = try list(outputPadding, "output_padding", r, 0)
        var target: [Int]? = nil
        if let os = outputShape {
            guard os.count >= r else { throw fail("output_shape \(os) has fewer than \(r) values") }
            target = Array(os.suffix(r))
        } else if window.autoPad == .sameUpper || window.autoPad == .sameLower {
            target = try zip(input, s).map { try Checked.mul($0, $1, "ConvTranspose SAME output size") }
        }
        var win = Window(input: input, kernel: kernel, strides: s, dilations: d, padBegin: [], padEnd: [], output: [])
        for i in 0..<r {
            let what = "ConvTranspose output size along spatial axis \(i)"
            let natural = try Checked.sum([Checked.mul(s[i], input[i] - 1, what), op[i], Checked.mul(kernel[i] - 1, d[i], what), 1], what)
            if let target {
                // Pads from output_shape (ONNX formulas; floor division as in the spec's reference).
                let total = try Checked.sub(natural, target[i], "ConvTranspose pads"), half = Int((Double(total) / 2).rounded(.down))
                win.padBegin.append(window.autoPad == .sameUpper ? half : total - half)
                win.padEnd.append(window.autoPad == .sameUpper ? total - half : half)
                win.output.append(target[i])
            } else {
                let p = window.autoPad == .valid ? [Int](repeating: 0, count: 2 * r) : try list(window.pads, "pads", 2 * r, 0)
                win.padBegin.append(p[i])
                win.padEnd.append(p[r + i])
                win.output.append(try Checked.sub(Checked.sub(natural, p[i], "ConvTranspose pads"), p[r + i], "ConvTranspose pads"))
            }
        }
        guard win.output.allSatisfy({ $0 > 0 }) else { throw fail("empty output \(win.output) for input \(x), weight \(w)") }
        return Geometry(n: x[0], c: x[1], cout: cout, group: group, window: win)
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, "ConvTranspose"), w: Tensor = try inputs.required(1, "ConvTranspose")
        let bias: Tensor? = inputs.optional(2)
        let geo = try geometry(x.shape, w.shape, bias?.shape)
        let win = geo.window.as2D
        let (H, W, OH, OW, KH, KW) = (win.input[0], win.input[1], win.output[0], win.output[1], win.kernel[0], win.kernel[1])
        var y = [Float](repeating: 0, count: geo.output.reduce(1, *))
        // Scatter: input pixel (ih, iw) adds x·w[kh, kw] to output (ih·sh − ph + kh·dh, iw·sw − pw + kw·dw).
        for n in 0..<geo.n {
            for ci in 0..<geo.c {
                let g = ci / geo.cg
                for ih in 0..<H {
                    for iw in 0..<W {
                        let xv = x.floats[((n * geo.c + ci) * H + ih) * W + iw]
                        for m in 0..<geo.mg {
                            let oc = g * geo.mg + m
                            for kh in 0..<KH {
                                let oh = ih * win.strides[0] - win.padBegin[0] + kh * win.dilations[0]
                                if oh < 0 || oh >= OH { continue }
                                for kw in 0..<KW {
                                    let ow = iw * win.strides[1] - win.padBegin[1] + kw * win.dilations[1]
                                    if ow < 0 || ow >= OW { continue }
                                    y[((n * geo.cout + oc) * OH + oh) * OW + ow] += xv * w.floats[((ci * geo.mg + m) * KH + kh) * KW + kw]
                                }
                            }
                        }
                    }
                }
            }
            if let bias {
                for oc in 0..<geo.cout {
                    let plane = (n * geo.cout + oc) * OH * OW
                    for i in plane..<(plane + OH * OW) { y[i] += bias.floats[oc] }
                }
            }
        }
        return [Tensor(shape: geo.output, floats: y)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, "ConvTranspose"), w: DeviceValue = try inputs.required(1, "ConvTranspose")
        let bias: DeviceValue? = inputs.optional(2)
        let geo = try geometry(x.type.shape, w.type.shape, bias?.type.shape)
        try ctx.require32BitIndexing([x, w, outputs[0]])
        let ocb = geo.mg >= 4 ? 4 : 1
        let pixels = geo.window.output.reduce(1, *)
        let kernel = try ctx.kernel(ocb == 4 ? "conv_transpose2d_c4" : "conv_transpose2d_c1", file: "conv_transpose")
        try ctx.launch(kernel, [.value(x), .value(w), .buffer(bias?.buffer ?? x.buffer), .value(outputs[0]),
                                .buffer(try ctx.constants(geo.meta)), .int(bias == nil ? 0 : 1), .int(geo.n)],
                       global: [pixels, geo.group * ((geo.mg + ocb - 1) / ocb), geo.n], local: pixelLocalSize(pixels, ctx.workGroup))
    }
}
