// ai.gpuinfer::GeM: generalized-mean pooling, the place-recognition aggregation of the
// deep-visual-geo-localization-benchmark (clamp(min=eps) → x^p → spatial mean → ^(1/p)), as one
// node (Kernels/gem.cl). The load pass `Graph.fuseGeM` puts it in place of the pattern exporters
// write for it; with fused kernels off the plain ops run.
import Foundation

/// Generalized-mean pooling over the spatial dims.
///
/// Inputs: x `[N,C,spatial…]`, p (one value: the learnable exponent from the weights), q (one
/// value: the final exponent, 1/p as the graph computed it in fp32). Attribute `eps` (the clamp's
/// minimum, default 1e-6). Output `[N,C,1,…]` (the shape GlobalAveragePool gives):
/// `y = (Σ_i max(x_i, eps)^p / S)^q` over the S spatial positions of each plane; NaN stays NaN
/// (as Clip and Max propagate it). fp32, sums in index order in the reference.
struct GeM: Operator {
    static let domain = "ai.gpuinfer"
    static let opTypes = ["GeM"]
    static let constantInputs = [1, 2]
    /// Set by the fusion of a `ReduceMean(axes=[2,3])` pattern: the input must have this rank (a
    /// mean over two axes is a mean over all spatial dims only for 4-D inputs).
    static let rankAttribute = "gpuinfer.rank"
    /// Set by the fusion of a whole-map `AveragePool`: the spatial dims the window covers.
    static let windowAttribute = "gpuinfer.window"
    let eps: Float
    let rank: Int
    let window: [Int]?
    let label: String

    init(node: Node, opset: Int) throws {
        eps = try node.float("eps", default: 1e-6)
        guard eps.isFinite else { throw node.attributeError("eps", "must be finite, got \(eps)") }
        rank = try node.int(Self.rankAttribute, default: 0)
        window = try node.ints(Self.windowAttribute)
        label = node.label
    }

    func fail(_ reason: String) -> GPUInferError { .shapeMismatch(node: label, op: "GeM", reason: reason) }

    /// p and q from the constant inputs.
    func exponents(_ constants: [Tensor?]) throws -> (p: Float, q: Float) {
        guard let p = constants.optional(1), let q = constants.optional(2), p.count == 1, q.count == 1, p.dtype.isFloat, q.dtype.isFloat else {
            throw fail("p and q must be constant float tensors of one value")
        }
        return (p.floats[0], q.floats[0])
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, "GeM")
        try requireFloat([x], label)
        guard x.shape.count >= 3 else { throw fail("input \(x.shape) needs spatial dims") }
        guard rank == 0 || x.shape.count == rank else { throw fail("input \(x.shape) must have rank \(rank) (the fused pattern averaged \(rank - 2) spatial axes)") }
        if let window, Array(x.shape.dropFirst(2)) != window {
            throw fail("input \(x.shape): the fused AveragePool's window \(window) must cover the whole map (the model was exported for that size)")
        }
        _ = try exponents(constants)
        return [TensorType(.float32, Array(x.shape.prefix(2)) + [Int](repeating: 1, count: x.shape.count - 2))]
    }

    /// max(x, eps): NaN stays NaN.
    @inline(__always) static func clamp(_ x: Float, _ eps: Float) -> Float { x < eps ? eps : x }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, "GeM")
        let (p, q) = try exponents(inputs)
        let shape = try inferTypes([TensorType(x.dtype, x.shape), nil, nil], constants: inputs)[0].shape
        let planes = x.shape[0] * x.shape[1], size = x.count / max(planes, 1)
        let y: [Float] = (0..<planes).map { plane in
            var sum: Float = 0
            for i in plane * size..<(plane + 1) * size { sum += pow(Self.clamp(x.floats[i], eps), p) }
            return pow(sum / Float(size), q)
        }
        return [Tensor(shape: shape, floats: y)]
    }

    /// One pow and one add per element.
    func flops(_ inputs: [TensorType?], outputs: [TensorType]) -> Double { Double(inputs.first??.count ?? 0) * 2 }

    /// The kernel for a plane of `size` values: one work-item per plane (`gem_planes`), or one
    /// work-group per plane with coalesced loads and a tree reduction (`gem_local`) in the GPU
    /// style and for planes long enough to keep a work-group busy on any device.
    enum Variant: String { case planes, local }
    static func variant(size: Int, planes: Int, gpuStyle: Bool) -> Variant {
        gpuStyle || (size >= 4096 && planes < 64) ? .local : .planes
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, "GeM")
        let (p, q) = try exponents(constants)
        let planes = outputs[0].count, size = x.count / max(planes, 1)
        try ctx.require32BitIndexing([x])
        let args: [KernelArg] = [.value(x), .value(outputs[0]), .int(planes), .int(size), .float(eps), .float(p), .float(q)]
        switch Self.variant(size: size, planes: planes, gpuStyle: ctx.gpuStyle) {
        case .planes:
            try ctx.launch1D(try ctx.kernel("gem_planes", file: "gem"), args, count: planes)
        case .local:
            let group = 64
            try ctx.launch(try ctx.kernel("gem_local", file: "gem", options: "-DGROUP=\(group)"), args, global: [planes * group], local: [group])
        }
    }
}
