// Outer × length × inner view of a tensor around one axis, shared by the per-row ops of the family.

/// A tensor seen as `outer · inner` rows of `length` elements each: row r's element i is at
/// `base(r) + i·inner`. Row order equals the C order of the shape with the axis removed.
struct AxisRows: Equatable {
    var outer: Int, length: Int, inner: Int

    /// The split of `shape` at `axis` (already normalised; `axis == rank` gives length 1).
    init(_ shape: [Int], axis: Int) {
        outer = shape[..<axis].reduce(1, *)
        length = axis < shape.count ? shape[axis] : 1
        inner = axis < shape.count ? shape[(axis + 1)...].reduce(1, *) : 1
    }

    init(outer: Int, length: Int, inner: Int) {
        self.outer = outer
        self.length = length
        self.inner = inner
    }

    var rows: Int { outer * inner }
    func base(_ r: Int) -> Int { (r / inner) * length * inner + r % inner }
    /// Flat indices of row r's elements.
    func indices(_ r: Int) -> [Int] {
        let b = base(r)
        return (0..<length).map { b + $0 * inner }
    }

    /// Kernel arguments: rows, length, inner.
    var args: [KernelArg] { [.int(rows), .int(length), .int(inner)] }

    /// Normalises `axis` for `rank` or throws the node's shape error.
    static func axis(_ axis: Int, rank: Int, _ node: Node) throws -> Int {
        guard let a = Shape.axis(axis, rank: rank), a < max(rank, 1) else {
            throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "axis \(axis) is out of range for rank \(rank)")
        }
        return a
    }
}
