// ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare/LogSum/LogSumExp: one operator type, one kernel family.
import Foundation

/// How a reduction combines the elements it reduces.
enum ReductionKind: String, Sendable {
    case sum, mean, l1, l2, sumsq, logsum, lse, max, min, prod

    init?(opType: String) {
        let kinds: [String: ReductionKind] = [
            "ReduceSum": .sum, "ReduceMean": .mean, "ReduceL1": .l1, "ReduceL2": .l2, "ReduceSumSquare": .sumsq,
            "ReduceLogSum": .logsum, "ReduceLogSumExp": .lse, "ReduceMax": .max, "ReduceMin": .min, "ReduceProd": .prod,
        ]
        guard let k = kinds[opType] else { return nil }
        self = k
    }

    /// Kinds with an integer kernel (exact in Int64, wrapping like C on overflow).
    var supportsIntegers: Bool { [.sum, .max, .min, .prod].contains(self) }

    /// The reference for float data: sums in Double, NaN-propagating max/min, stable LogSumExp.
    func reduce(_ v: [Float]) -> Float {
        switch self {
        case .sum: return Float(v.reduce(0.0) { $0 + Double($1) })
        case .mean: return Float(v.reduce(0.0) { $0 + Double($1) } / Double(v.count))
        case .l1: return Float(v.reduce(0.0) { $0 + Double(abs($1)) })
        case .l2: return Float(v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
        case .sumsq: return Float(v.reduce(0.0) { $0 + Double($1) * Double($1) })
        case .logsum: return Float(Foundation.log(v.reduce(0.0) { $0 + Double($1) }))
        case .lse:
            let m = ReductionKind.max.reduce(v)
            if !m.isFinite { return m }
            return m + Float(Foundation.log(v.reduce(0.0) { $0 + Foundation.exp(Double($1) - Double(m)) }))
        case .max: return v.reduce(-Float.infinity) { a, x in a.isNaN ? a : (x > a || x.isNaN ? x : a) }
        case .min: return v.reduce(Float.infinity) { a, x in a.isNaN ? a : (x < a || x.isNaN ? x : a) }
        case .prod: return Float(v.reduce(1.0) { $0 * Double($1) })
        }
    }

    /// The result of reducing no integer elements of `dtype`: 0, 1, or the type's lowest (Max)
    /// or highest (Min) value (false and true for bool).
    func identity(_ dtype: DType) -> Int64 {
        let bounds: (Int64, Int64) = switch dtype {
        case .bool: (0, 1)
        case .uint8: (0, Int64(UInt8.max))
        case .int8: (Int64(Int8.min), Int64(Int8.max))
        case .uint16: (0, Int64(UInt16.max))
        case .int16: (Int64(Int16.min), Int64(Int16.max))
        case .int32: (Int64(Int32.min), Int64(Int32.max))
        case .uint32: (0, Int64(UInt32.max))
        case .int64, .float32: (Int64.min, Int64.max)
        }
        switch self {
        case .max: return bounds.0
        case .min: return bounds.1
        case .prod: return 1
        default: return 0
        }
    }

    /// The reference for integer data (only kinds with `supportsIntegers`).
    func reduce(_ v: [Int64], _ dtype: DType) -> Int64 {
        guard let first = v.first else { return identity(dtype) }
        switch self {
        case .max: return v.reduce(first) { Swift.max($0, $1) }
        case .min: return v.reduce(first) { Swift.min($0, $1) }
        case .prod: return v.reduce(1) { $0 &* $1 }
        default: return v.reduce(0) { $0 &+ $1 }
        }
    }
}

/// Where one reduction's elements live. Output element o reads the input at
/// offset(o, kept) + offset(r, reduced) for r in 0..<reducedCount. Both dim lists are
/// coalesced (size-1 dims dropped, contiguous neighbours merged); `reduced` is never empty.
struct ReduceGeometry {
    var outShape: [Int]
    var kept: [(dim: Int, stride: Int)]
    var reduced: [(dim: Int, stride: Int)]

    init(shape: [Int], axes: Set<Int>, keepDims: Bool) {
        let strides = Shape.strides(shape)
        var kept: [(dim: Int, stride: Int)] = [], reduced: [(dim: Int, stride: Int)] = []
        outShape = []
        for (i, d) in shape.enumerated() {
            if axes.contains(i) {
                reduced.append((d, strides[i]))
                if keepDims { outShape.append(1) }
            } else {
                kept.append((d, strides[i]))
                outShape.append(d)
            }
        }
        self.kept = ReduceGeometry.coalesce(kept)
        self.reduced = ReduceGeometry.coalesce(reduced)
        if self.reduced.isEmpty { self.reduced = [(1, 0)] }
    }

    /// Drops size-1 dims and merges neighbours where the outer stride is dim·stride of the inner.
    static func coalesce(_ dims: [(dim: Int, stride: Int)]) -> [(dim: Int, stride: Int)] {
        var out: [(dim: Int, stride: Int)] = []
        for d in dims where d.dim != 1 {
            if let last = out.last, last.stride == d.dim * d.stride {
                out[out.count - 1] = (last.dim * d.dim, d.stride)
            } else {
                out.append(d)
            }
        }
        return out
    }

    var outCount: Int { kept.reduce(1) { $0 * $1.dim } }
    var reducedCount: Int { reduced.reduce(1) { $0 * $1.dim } }

    /// Σ index_k · stride_k for flat index i over `dims` (C order).
    static func offset(_ i: Int, _ dims: [(dim: Int, stride: Int)]) -> Int {
        var i = i, off = 0
        for d in dims.reversed() {
            off += (i % d.dim) * d.stride
            i /= d.dim
        }
        return off
    }

    /// Input offsets of output o's reduced elements.
    func offsets(of o: Int) -> [Int] {
        let base = ReduceGeometry.offset(o, kept)
        return (0..<reducedCount).map { base + ReduceGeometry.offset($0, reduced) }
    }

    /// The kernels' meta buffer: [krank, rrank, kept dims, kept strides, reduced dims, reduced strides].
    var meta: [Int] {
        [kept.count, reduced.count] + kept.map(\.dim) + kept.map(\.stride) + reduced.map(\.dim) + reduced.map(\.stride)
    }
}

/// ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceSumSquare,
/// ReduceLogSum, ReduceLogSumExp. Axes come from the `axes` attribute (ReduceSum before opset 13,
/// the others before 18) or from the constant input 1; empty axes reduce everything unless
/// `noop_with_empty_axes`, in which case each output element "reduces" its one input element.
struct Reduce: Operator {
    static let opTypes = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                          "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"]
    static let constantInputs = [1]
    /// Use one work-group per output from this many reduced elements on (and few enough outputs).
    static let groupThreshold = 128

    let kind: ReductionKind
    let keepDims: Bool
    let noopWithEmptyAxes: Bool
    let attributeAxes: [Int]?
    let node: Node
    let opset: Int

    init(node: Node, opset: Int) throws {
        guard let kind = ReductionKind(opType: node.opType) else {
            throw GPUInferError.unsupportedOp(op: node.opType, domain: node.domain, node: node.label, opset: opset, reason: "not a reduction")
        }
        self.kind = kind
        self.node = node
        self.opset = opset
        keepDims = try node.int("keepdims", default: 1) != 0
        noopWithEmptyAxes = try node.int("noop_with_empty_axes", default: 0) != 0
        attributeAxes = try node.ints("axes")
        if attributeAxes != nil, node.inputs.count > 1, !node.inputs[1].isEmpty {
            throw GPUInferError.invalidModel(location: "node '\(node.label)' (\(node.opType))", reason: "axes given both as attribute and as input")
        }
    }

    /// The reduction's layout for an input of `shape` and the axes input (if any).
    func geometry(_ shape: [Int], axesInput: Tensor?) throws -> ReduceGeometry {
        let list = attributeAxes ?? axesInput.map { $0.int64Values.map { Int($0) } } ?? []
        var axes = Set<Int>()
        for a in list {
            guard let v = Shape.axis(a, rank: shape.count), shape.count > 0 else {
                throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "axis \(a) is out of range for rank \(shape.count)")
            }
            guard axes.insert(v).inserted else {
                throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "axis \(a) is repeated in \(list)")
            }
        }
        if list.isEmpty && !noopWithEmptyAxes { axes = Set(0..<shape.count) }
        return ReduceGeometry(shape: shape, axes: axes, keepDims: keepDims)
    }

    private func checkType(_ dtype: DType) throws {
        if dtype.isFloat { return }
        let ok = dtype == .bool ? (kind == .max || kind == .min) : kind.supportsIntegers
        guard ok else {
            throw GPUInferError.unsupportedOp(op: node.opType, domain: node.domain, node: node.label, opset: opset,
                                              reason: "\(dtype) input is not supported (float32 only for this reduction)")
        }
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, node.opType)
        try checkType(x.dtype)
        return [TensorType(x.dtype, try geometry(x.shape, axesInput: constants.optional(1)).outShape)]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, node.opType)
        try checkType(x.dtype)
        let g = try geometry(x.shape, axesInput: inputs.optional(1))
        let outs = 0..<g.outCount
        if x.dtype.isFloat {
            return [Tensor(shape: g.outShape, floats: outs.map { o in kind.reduce(g.offsets(of: o).map { x.floats[$0] }) })]
        }
        return [Tensor(shape: g.outShape, ints: outs.map { o in kind.reduce(g.offsets(of: o).map { x.ints[$0] }, x.dtype) }, dtype: x.dtype)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, node.opType)
        let g = try geometry(x.type.shape, axesInput: constants.optional(1))
        let n = g.outCount, r = g.reducedCount
        let type = clType(x.type.dtype)
        if r == 0 && type == "long" {
            // Nothing to reduce: the identity depends on the integer type, not on the kernel's long.
            let fill = try ctx.kernel("reduce_fill_long", file: "reduce")
            return try ctx.launch1D(fill, [.value(outputs[0]), .int(n), .long(kind.identity(x.type.dtype))], count: n)
        }
        let grouped = r >= Reduce.groupThreshold && n <= 1 << 16
        let kernel = try ctx.kernel("reduce_\(kind.rawValue)_\(type)" + (grouped ? "_wg" : ""), file: "reduce")
        var args: [KernelArg] = [.value(x), .value(outputs[0]), .int(n), .int(r), .buffer(try ctx.constants(g.meta))]
        if grouped {
            let wg = ctx.workGroup
            args.append(.local(wg * x.type.dtype.deviceByteSize))
            try ctx.launch(kernel, args, global: [n * wg], local: [wg])
        } else {
            try ctx.launch1D(kernel, args, count: n)
        }
    }
}
