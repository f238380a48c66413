// Small helpers shared by the operator files.

extension Array {
    /// Element i unwrapped, or an error saying that input `i` is missing.
    func required<T>(_ i: Int, _ op: String = "operator") throws -> T where Element == T? {
        guard i < count, let v = self[i] else {
            throw GPUInferError.invalidInput("\(op): required input \(i) is missing")
        }
        return v
    }

    /// Element i, or nil when absent or out of range.
    func optional<T>(_ i: Int) -> T? where Element == T? {
        i < count ? self[i] : nil
    }
}

/// Iterates over every multi-index of `shape` in C order, calling `body` with the flat index.
@inline(__always)
func forEachIndex(_ shape: [Int], _ body: (_ flat: Int, _ index: [Int]) throws -> Void) rethrows {
    let n = shape.reduce(1, *)
    if n == 0 { return }
    var idx = [Int](repeating: 0, count: shape.count)
    for flat in 0..<n {
        try body(flat, idx)
        var d = shape.count - 1
        while d >= 0 {
            idx[d] += 1
            if idx[d] < shape[d] { break }
            idx[d] = 0
            d -= 1
        }
    }
}
