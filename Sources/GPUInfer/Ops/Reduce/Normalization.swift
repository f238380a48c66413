// LpNormalization, and Instance-, Layer- and GroupNormalization on one row-normalising kernel.
import Foundation

/// LpNormalization: x / ‖x‖ₚ along `axis` (default −1) for p = 1 or 2; 0 where the norm is 0.
struct LpNormalization: Operator {
    static let opTypes = ["LpNormalization"]
    let axis: Int
    let p: Int
    let node: Node

    init(node: Node, opset: Int) throws {
        axis = try node.int("axis", default: -1)
        p = try node.int("p", default: 2)
        guard p == 1 || p == 2 else {
            throw GPUInferError.unsupportedOp(op: node.opType, domain: node.domain, node: node.label, opset: opset, reason: "p = \(p) (only 1 and 2 are defined)")
        }
        self.node = node
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, node.opType)
        guard x.dtype.isFloat else { throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "expects a float input, got \(x.dtype)") }
        _ = try AxisRows.axis(axis, rank: x.shape.count, node)
        return [x]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, node.opType)
        let g = AxisRows(x.shape, axis: try AxisRows.axis(axis, rank: x.rank, node))
        var y = [Float](repeating: 0, count: x.count)
        for r in 0..<g.rows {
            let idx = g.indices(r)
            let s = idx.reduce(0.0) { $0 + (p == 1 ? Double(abs(x.floats[$1])) : Double(x.floats[$1]) * Double(x.floats[$1])) }
            let norm = p == 1 ? s : s.squareRoot()
            for i in idx { y[i] = norm == 0 ? 0 : Float(Double(x.floats[i]) / norm) }
        }
        return [Tensor(shape: x.shape, floats: y)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, node.opType)
        let g = AxisRows(x.type.shape, axis: try AxisRows.axis(axis, rank: x.type.shape.count, node))
        let kernel = try ctx.kernel("lp_norm_float", file: "norm")
        try ctx.launch1D(kernel, [.value(x), .value(outputs[0])] + g.args + [.int(p)], count: g.rows)
    }
}

/// Which scale (or bias) element applies to element j of a row:
/// (row % rowMod)·rowMul + Σ index_k·strides_k, the index taken over `dims` in C order.
struct AffineIndex {
    var rowMod = 1, rowMul = 0
    var dims: [Int] = [], strides: [Int] = []

    func callAsFunction(_ row: Int, _ j: Int) -> Int {
        var i = j, off = 0
        for k in stride(from: dims.count - 1, through: 0, by: -1) {
            off += (i % dims[k]) * strides[k]
            i /= dims[k]
        }
        return (row % rowMod) * rowMul + off
    }

    var meta: [Int] { [rowMod, rowMul, dims.count] + dims + strides }
}

/// `rows` rows of `length` contiguous elements, each normalised to zero mean and unit variance
/// (two-pass, biased variance) and then scaled and shifted elementwise.
struct RowNormalization {
    var rows: Int, length: Int, epsilon: Float
    var scale: AffineIndex, bias: AffineIndex

    /// y, and per row the mean and 1/√(var + ε); statistics in Double.
    func reference(_ x: Tensor, scale s: Tensor, bias b: Tensor?) -> (y: Tensor, mean: [Float], invStd: [Float]) {
        var y = [Float](repeating: 0, count: x.count)
        var means = [Float](), invs = [Float]()
        for r in 0..<rows {
            let row = x.floats[(r * length)..<((r + 1) * length)]
            let mean = row.reduce(0.0) { $0 + Double($1) } / Double(length)
            let variance = row.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(length)
            let inv = 1 / (variance + Double(epsilon)).squareRoot()
            for (j, v) in row.enumerated() {
                let shift = b.map { Double($0.floats[bias(r, j)]) } ?? 0
                y[r * length + j] = Float((Double(v) - mean) * inv * Double(s.floats[scale(r, j)]) + shift)
            }
            means.append(Float(mean))
            invs.append(Float(inv))
        }
        return (Tensor(shape: x.shape, floats: y), means, invs)
    }

    /// Launches the normaliser; `mean` and `invStd` (if given) receive the per-row statistics.
    func encode(_ ctx: EncodeContext, x: DeviceValue, scale s: DeviceValue, bias b: DeviceValue?, y: DeviceValue,
                mean: DeviceValue?, invStd: DeviceValue?) throws {
        guard rows > 0, length > 0 else { return }
        let stats = mean != nil || invStd != nil
        // Stands in for an absent bias (never read) or an absent statistics output (written).
        let dummy = try ctx.scratch(bytes: stats && (mean == nil || invStd == nil) ? 4 * rows : 4)
        let kernel = try ctx.kernel("normalize_rows_float", file: "norm")
        let wg = ctx.workGroup
        let args: [KernelArg] = [
            .value(x), .value(y), .int(length), .float(epsilon),
            .value(s), .buffer(try ctx.constants(scale.meta)),
            b.map { .value($0) } ?? .buffer(dummy), .buffer(try ctx.constants(bias.meta)), .int(b == nil ? 0 : 1),
            mean.map { .value($0) } ?? .buffer(dummy), invStd.map { .value($0) } ?? .buffer(dummy),
            .int(stats ? 1 : 0), .local(wg * 4),
        ]
        try ctx.launch(kernel, args, global: [rows * wg], local: [wg])
    }
}

/// InstanceNormalization, LayerNormalization (opset 17) and GroupNormalization (opset 18: scale
/// and bias per group; opset 21: per channel; told apart by their length).
struct Normalization: Operator {
    static let opTypes = ["InstanceNormalization", "LayerNormalization", "GroupNormalization"]
    let epsilon: Float
    let axis: Int
    let groups: Int
    let node: Node

    init(node: Node, opset: Int) throws {
        epsilon = try node.float("epsilon", default: 1e-5)
        axis = try node.int("axis", default: -1)
        groups = try node.int("num_groups", default: 0)
        if node.opType == "GroupNormalization", groups <= 0 {
            throw GPUInferError.invalidModel(location: "node '\(node.label)' (GroupNormalization)", reason: "num_groups must be a positive integer")
        }
        if try node.int("stash_type", default: 1) != 1 {
            throw GPUInferError.unsupportedOp(op: node.opType, domain: node.domain, node: node.label, opset: opset, reason: "stash_type other than 1 (float)")
        }
        self.node = node
    }

    private func fail(_ reason: String) -> GPUInferError { .shapeMismatch(node: node.label, op: node.opType, reason: reason) }

    /// The row layout for input, scale and bias shapes.
    func plan(_ x: [Int], scale: [Int], bias: [Int]?) throws -> RowNormalization {
        switch node.opType {
        case "LayerNormalization":
            let a = try AxisRows.axis(axis, rank: x.count, node)
            let normShape = Array(x[a...])
            func index(_ s: [Int]) throws -> AffineIndex {
                let trimmed = Array(s.drop(while: { $0 == 1 }))
                guard trimmed.count <= normShape.count, Shape.broadcast([trimmed, normShape]) == normShape else {
                    throw fail("scale/bias shape \(s) does not broadcast to the normalized shape \(normShape)")
                }
                return AffineIndex(dims: normShape, strides: Shape.broadcastStrides(trimmed, to: normShape))
            }
            return RowNormalization(rows: x[..<a].reduce(1, *), length: normShape.reduce(1, *), epsilon: epsilon,
                                    scale: try index(scale), bias: try bias.map(index) ?? AffineIndex())
        default:
            guard x.count >= 2 else { throw fail("expects an input of rank >= 2 [N, C, ...], got \(x)") }
            let c = x[1], spatial = x[2...].reduce(1, *)
            let g = node.opType == "GroupNormalization" ? groups : c
            guard c > 0 else { throw fail("expects at least one channel, got \(x)") }
            guard c % g == 0 else { throw fail("\(c) channels do not split into \(g) groups") }
            func index(_ s: [Int]) throws -> AffineIndex {
                let n = s.reduce(1, *)
                if n == c && s.count == 1 { return AffineIndex(rowMod: g, rowMul: c / g, dims: [c / g, spatial], strides: [1, 0]) }
                if n == g && s.count == 1 { return AffineIndex(rowMod: g, rowMul: 1) }
                throw fail("scale/bias shape \(s) must be [\(c)]" + (g != c ? " or [\(g)]" : ""))
            }
            return RowNormalization(rows: x[0] * g, length: (c / g) * spatial, epsilon: epsilon,
                                    scale: try index(scale), bias: try bias.map(index) ?? AffineIndex())
        }
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, node.opType)
        let s: TensorType = try inputs.required(1, node.opType)
        guard x.dtype.isFloat else { throw fail("expects a float input, got \(x.dtype)") }
        if node.opType != "LayerNormalization" { _ = try inputs.required(2, node.opType) as TensorType }
        for (k, t) in [(1, s), (2, inputs.optional(2))] {
            if let t, !t.dtype.isFloat { throw fail("input \(k) (\(k == 1 ? "scale" : "bias")) must be float, got \(t.dtype)") }
        }
        _ = try plan(x.shape, scale: s.shape, bias: inputs.optional(2)?.shape)
        guard node.opType == "LayerNormalization" else { return [x] }
        let a = try AxisRows.axis(axis, rank: x.shape.count, node)
        let statShape = Array(x.shape[..<a]) + [Int](repeating: 1, count: x.shape.count - a)
        return [x, TensorType(.float32, statShape), TensorType(.float32, statShape)]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, node.opType)
        let s: Tensor = try inputs.required(1, node.opType)
        let b: Tensor? = inputs.optional(2)
        let r = try plan(x.shape, scale: s.shape, bias: b?.shape).reference(x, scale: s, bias: b)
        guard node.opType == "LayerNormalization" else { return [r.y] }
        let statShape = try inferTypes(inputs.map { $0.map { TensorType($0.dtype, $0.shape) } }, constants: [])[1].shape
        return [r.y, Tensor(shape: statShape, floats: r.mean), Tensor(shape: statShape, floats: r.invStd)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, node.opType)
        let s: DeviceValue = try inputs.required(1, node.opType)
        let b: DeviceValue? = inputs.optional(2)
        let p = try plan(x.type.shape, scale: s.type.shape, bias: b?.type.shape)
        // Outputs come by position (the plan gives unnamed ones scratch buffers): statistics are
        // written only where the node names them.
        func named(_ k: Int) -> DeviceValue? { k < node.outputs.count && !node.outputs[k].isEmpty && k < outputs.count ? outputs[k] : nil }
        try p.encode(ctx, x: x, scale: s, bias: b, y: outputs[0], mean: named(1), invStd: named(2))
    }
}
