// Reshape, Flatten, Squeeze, Unsqueeze: new shapes over the same C-order bytes (aliases, no kernel).

/// An operator whose single output is its input 0 with another shape.
protocol ViewOperator: Operator {
    var context: LayoutContext { get }
    /// The output shape for input types `inputs` and (constant) integer inputs.
    func outputShape(_ inputs: [TensorType?], ints: (Int) throws -> [Int]?) throws -> [Int]
}

extension ViewOperator {
    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try context.type(inputs, 0)
        let shape = try outputShape(inputs) { try context.ints(constants, inputs, $0) }
        guard Shape.checkedCount(shape) == x.count else {
            throw context.shapeError("cannot view \(x.shape) (\(x.count) elements) as \(shape)")
        }
        return [TensorType(x.dtype, shape)]
    }
    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try inputs.required(0, context.op)
        let shape = try inferTypes(TensorType.of(inputs), constants: inputs)[0].shape
        return [x.reshaped(shape)]
    }
    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {}
    var aliases: [Int: Int] { [0: 0] }
}

/// Reshape (shape as a constant input, or the `shape` attribute before opset 5): 0 copies the
/// input dim unless `allowzero`=1, one −1 is inferred.
struct Reshape: ViewOperator {
    static let opTypes = ["Reshape"]
    /// Row-local (`Operator.isRowLocal`): runs on row-bounded inputs without a plan cut.
    static let isRowLocal = true
    static let constantInputs = [1]
    let context: LayoutContext
    let allowZero: Bool
    let attributeShape: [Int]?

    init(node: Node, opset: Int) throws {
        context = LayoutContext(node, opset)
        allowZero = try node.int("allowzero", default: 0) != 0
        attributeShape = opset < 5 ? try node.ints("shape") : nil
    }

    func outputShape(_ inputs: [TensorType?], ints: (Int) throws -> [Int]?) throws -> [Int] {
        let input = try context.type(inputs, 0).shape
        guard let spec = try attributeShape ?? ints(1) else { throw context.invalid("missing shape input") }
        var out: [Int] = []
        var inferred: Int?
        for (i, d) in spec.enumerated() {
            switch d {
            case 0 where !allowZero:
                guard i < input.count else { throw context.shapeError("shape \(spec) copies dim \(i) of rank-\(input.count) input") }
                out.append(input[i])
            case -1:
                guard inferred == nil else { throw context.shapeError("shape \(spec) has more than one -1") }
                inferred = i
                out.append(1)
            case let v where v >= 0: out.append(v)
            default: throw context.shapeError("invalid dim \(d) in shape \(spec)")
            }
        }
        // Counted with overflow checks: the shape may come from a file or an input at run time.
        guard let known = Shape.checkedCount(out), let total = Shape.checkedCount(input) else {
            throw context.shapeError("shape \(spec) for input \(input): the element count overflows")
        }
        if let i = inferred {
            guard known > 0, total % known == 0 else {
                throw context.shapeError("cannot infer -1 in \(spec) for input \(input)")
            }
            out[i] = total / known
        } else if known != total {
            throw context.shapeError("shape \(spec) holds \(known) elements, the input \(input) \(total)")
        }
        return out
    }
}

/// Flatten: [d0…d(axis−1)] × [d(axis)…] as a 2-D tensor; axis in [−r, r].
struct Flatten: ViewOperator {
    static let opTypes = ["Flatten"]
    /// Row-local (`Operator.isRowLocal`): runs on row-bounded inputs without a plan cut.
    static let isRowLocal = true
    let context: LayoutContext
    let axis: Int

    init(node: Node, opset: Int) throws {
        context = LayoutContext(node, opset)
        axis = try node.int("axis", default: 1)
    }

    func outputShape(_ inputs: [TensorType?], ints: (Int) throws -> [Int]?) throws -> [Int] {
        let s = try context.type(inputs, 0).shape
        let a = axis < 0 ? axis + s.count : axis
        guard (0...s.count).contains(a) else { throw context.shapeError("axis \(axis) is out of range for rank \(s.count)") }
        return [s[..<a].reduce(1, *), s[a...].reduce(1, *)]
    }
}

/// Squeeze: removes the listed unit dims (axes input from opset 13, attribute before), or all.
struct Squeeze: ViewOperator {
    static let opTypes = ["Squeeze"]
    /// Row-local (`Operator.isRowLocal`): runs on row-bounded inputs without a plan cut.
    static let isRowLocal = true
    static let constantInputs = [1]
    let context: LayoutContext
    let attributeAxes: [Int]?

    init(node: Node, opset: Int) throws {
        context = LayoutContext(node, opset)
        attributeAxes = opset < 13 ? try node.ints("axes") : nil
    }

    func outputShape(_ inputs: [TensorType?], ints: (Int) throws -> [Int]?) throws -> [Int] {
        let s = try context.type(inputs, 0).shape
        guard let list = try attributeAxes ?? ints(1) else { return s.filter { $0 != 1 } }
        let axes = try context.axes(list, rank: s.count)
        for a in axes where s[a] != 1 { throw context.shapeError("cannot squeeze axis \(a) of size \(s[a]) in \(s)") }
        return s.indices.filter { !axes.contains($0) }.map { s[$0] }
    }
}

/// Unsqueeze: inserts unit dims at the listed positions of the output (axes input from opset 13).
struct Unsqueeze: ViewOperator {
    static let opTypes = ["Unsqueeze"]
    /// Row-local (`Operator.isRowLocal`): runs on row-bounded inputs without a plan cut.
    static let isRowLocal = true
    static let constantInputs = [1]
    let context: LayoutContext
    let attributeAxes: [Int]?

    init(node: Node, opset: Int) throws {
        context = LayoutContext(node, opset)
        attributeAxes = opset < 13 ? try node.ints("axes") : nil
    }

    func outputShape(_ inputs: [TensorType?], ints: (Int) throws -> [Int]?) throws -> [Int] {
        let s = try context.type(inputs, 0).shape
        guard let list = try attributeAxes ?? ints(1) else { throw context.invalid("missing axes") }
        let axes = Set(try context.axes(list, rank: s.count + list.count))
        var rest = s.makeIterator()
        return (0..<(s.count + list.count)).map { axes.contains($0) ? 1 : rest.next() ?? 1 }
    }
}
