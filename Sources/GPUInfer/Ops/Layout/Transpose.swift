// Transpose, DepthToSpace, SpaceToDepth: permutations of a reshaped view of the input, run by
// the strided copy.

/// out = reshape(transpose(reshape(x, view), perm), shape).
struct Permutation {
    let view: [Int]
    let perm: [Int]
    let shape: [Int]

    var permutedDims: [Int] { perm.map { view[$0] } }

    /// Host version: every output index gathers its source index directly.
    func apply(_ x: Tensor) -> Tensor {
        let st = Shape.strides(view)
        return x.mapped(permutedDims) { idx in zip(idx, perm).reduce(0) { $0 + $1.0 * st[$1.1] } }.reshaped(shape)
    }

    var copy: StridedCopy {
        let st = Shape.strides(view)
        return StridedCopy(dims: permutedDims, src: perm.map { st[$0] })
    }
}

/// An operator whose output is a `Permutation` of its input 0.
protocol PermutationOperator: Operator {
    var context: LayoutContext { get }
    func permutation(_ shape: [Int]) throws -> Permutation
}

extension PermutationOperator {
    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x = try context.type(inputs, 0)
        return [TensorType(x.dtype, try permutation(x.shape).shape)]
    }
    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x = try inputs.required(0, context.op)
        return [try permutation(x.shape).apply(x)]
    }
    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x = try inputs.required(0, context.op)
        try permutation(x.type.shape).copy.encode(ctx, from: x, to: outputs[0])
    }
}

/// Transpose: `perm` (default: reversed dims).
struct Transpose: PermutationOperator {
    static let opTypes = ["Transpose"]
    let context: LayoutContext
    let perm: [Int]?

    init(node: Node, opset: Int) throws {
        context = LayoutContext(node, opset)
        perm = try node.ints("perm")
    }

    func permutation(_ shape: [Int]) throws -> Permutation {
        let p = perm ?? Array(shape.indices.reversed())
        guard p.count == shape.count, p.sorted() == Array(shape.indices) else {
            throw context.shapeError("perm \(p) is not a permutation of the \(shape.count) dims of \(shape)")
        }
        return Permutation(view: shape, perm: p, shape: p.map { shape[$0] })
    }
}

/// DepthToSpace (mode DCR or CRD) and SpaceToDepth on NCHW tensors with `blocksize`.
struct DepthSpace: PermutationOperator {
    static let opTypes = ["DepthToSpace", "SpaceToDepth"]
    let context: LayoutContext
    let block: Int
    let toSpace: Bool
    let crd: Bool

    init(node: Node, opset: Int) throws {
        context = LayoutContext(node, opset)
        block = try node.int("blocksize", default: 0)
        toSpace = node.opType == "DepthToSpace"
        let mode = try node.string("mode", default: "DCR")
        guard block > 0 else { throw context.invalid("blocksize must be positive") }
        guard mode == "DCR" || mode == "CRD" else { throw context.unsupported("mode '\(mode)'") }
        crd = mode == "CRD"
    }

    func permutation(_ s: [Int]) throws -> Permutation {
        guard s.count == 4 else { throw context.shapeError("expects a 4-D NCHW input, got \(s)") }
        let (n, c, h, w, b) = (s[0], s[1], s[2], s[3], block)
        if toSpace {
            // b² ≤ c, and the output's h·b and w·b within the element limit (checked after).
            _ = try Checked.product([b, b, max(h, 1), max(w, 1)], "blocksize \(b) on \(s)")
            guard c % (b * b) == 0 else { throw context.shapeError("channels \(c) not divisible by blocksize² \(b * b)") }
            let shape = [n, c / (b * b), h * b, w * b]
            return crd ? Permutation(view: [n, c / (b * b), b, b, h, w], perm: [0, 1, 4, 2, 5, 3], shape: shape)
                : Permutation(view: [n, b, b, c / (b * b), h, w], perm: [0, 3, 4, 1, 5, 2], shape: shape)
        }
        guard h % b == 0, w % b == 0 else { throw context.shapeError("spatial dims \(h)×\(w) not divisible by blocksize \(b)") }
        // SpaceToDepth: DCR (the only mode before opset 28) puts the block offsets before the
        // channels, CRD (opset 28) after them.
        return Permutation(view: [n, c, h / b, b, w / b, b], perm: crd ? [0, 1, 3, 5, 2, 4] : [0, 3, 5, 1, 2, 4],
                           shape: [n, c * b * b, h / b, w / b])
    }
}
