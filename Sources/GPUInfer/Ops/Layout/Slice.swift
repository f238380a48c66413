// Slice: starts/ends/axes/steps as constant inputs (opset ≥ 10) or attributes (before), with
// the spec's clamping of out-of-range bounds and negative steps; run by the strided copy.

/// Slice of the input: per dim, a first index, a step and a count.
struct Slice: Operator {
    static let opTypes = ["Slice"]
    /// Row-local (`Operator.isRowLocal`): runs on row-bounded inputs without a plan cut.
    static let isRowLocal = true
    static let constantInputs = [1, 2, 3, 4]
    let context: LayoutContext
    /// starts, ends, axes from attributes (opset < 10).
    let attributes: (starts: [Int], ends: [Int], axes: [Int]?)?

    init(node: Node, opset: Int) throws {
        context = LayoutContext(node, opset)
        if opset < 10 {
            guard let s = try node.ints("starts"), let e = try node.ints("ends") else { throw context.invalid("missing starts/ends") }
            attributes = (s, e, try node.ints("axes"))
        } else {
            attributes = nil
        }
    }

    struct Region {
        var start: [Int]
        var step: [Int]
        var shape: [Int]
    }

    /// The region for `shape`; `ints(i)` gives the values of constant input i (nil if omitted).
    func region(_ shape: [Int], ints: (Int) throws -> [Int]?) throws -> Region {
        let starts: [Int], ends: [Int], axesList: [Int]?, steps: [Int]?
        if let a = attributes {
            (starts, ends, axesList, steps) = (a.starts, a.ends, a.axes, nil)
        } else {
            guard let s = try ints(1), let e = try ints(2) else { throw context.invalid("missing starts or ends input") }
            (starts, ends, axesList, steps) = (s, e, try ints(3), try ints(4))
        }
        let axes = try context.axes(axesList ?? Array(0..<starts.count), rank: shape.count)
        guard ends.count == starts.count, axes.count == starts.count, (steps?.count ?? starts.count) == starts.count else {
            throw context.shapeError("starts, ends, axes and steps must have the same length")
        }
        var r = Region(start: .init(repeating: 0, count: shape.count), step: .init(repeating: 1, count: shape.count), shape: shape)
        for (i, a) in axes.enumerated() {
            let dim = shape[a], given = steps?[i] ?? 1
            guard given != 0 else { throw context.shapeError("step 0 on axis \(a)") }
            // A step of at least the dimension selects at most one element, whatever its size:
            // clamped to ±dim, so that no arithmetic below or in the strides overflows (Int64.min
            // is a valid step, which onnxruntime runs).
            let step = given > 0 ? min(given, max(dim, 1)) : max(given, -max(dim, 1))
            var start = starts[i] < 0 ? starts[i] + dim : starts[i]
            var end = ends[i] < 0 ? ends[i] + dim : ends[i]
            if step > 0 {
                start = min(max(start, 0), dim)
                end = min(max(end, 0), dim)
                r.shape[a] = end > start ? (end - start + step - 1) / step : 0
            } else {
                start = min(max(start, 0), dim - 1)
                end = min(max(end, -1), dim - 1)
                r.shape[a] = start > end ? (start - end - step - 1) / -step : 0
            }
            r.start[a] = r.shape[a] > 0 ? start : 0
            r.step[a] = step
        }
        return r
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try context.type(inputs, 0)
        return [TensorType(x.dtype, try region(x.shape) { try context.ints(constants, inputs, $0) }.shape)]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try inputs.required(0, "Slice")
        let r = try region(x.shape) { context.ints(inputs, $0) }
        let st = Shape.strides(x.shape)
        return [x.mapped(r.shape) { idx in idx.indices.reduce(0) { $0 + (r.start[$1] + idx[$1] * r.step[$1]) * st[$1] } }]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x = try inputs.required(0, "Slice")
        let r = try region(x.type.shape) { context.ints(constants, $0) }
        let st = Shape.strides(x.type.shape)
        let base = zip(r.start, st).reduce(0) { $0 + $1.0 * $1.1 }
        try StridedCopy(dims: r.shape, src: zip(st, r.step).map { $0 * $1 }, srcBase: base).encode(ctx, from: x, to: outputs[0])
    }
}
