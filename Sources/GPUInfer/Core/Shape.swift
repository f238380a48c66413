// Shape arithmetic shared by the reference ops, the kernels' launch code and shape inference.

public enum Shape {
    /// C-order strides of `shape`.
    public static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= shape[i]
        }
        return s
    }

    /// NumPy broadcast of several shapes, or nil if they do not broadcast.
    public static func broadcast(_ shapes: [[Int]]) -> [Int]? {
        let rank = shapes.map(\.count).max() ?? 0
        var out = [Int](repeating: 1, count: rank)
        for s in shapes {
            let pad = rank - s.count
            for (i, d) in s.enumerated() {
                let o = out[pad + i]
                if o == d || d == 1 { continue }
                if o == 1 { out[pad + i] = d } else { return nil }
            }
        }
        return out
    }

    /// Strides for reading `shape` broadcast to `target` (0 where broadcast), length target.count.
    public static func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
        let own = strides(shape)
        let pad = target.count - shape.count
        return (0..<target.count).map { i in
            i < pad ? 0 : (shape[i - pad] == 1 && target[i] != 1 ? 0 : own[i - pad])
        }
    }

    /// Normalizes a possibly negative axis into 0..<rank, or nil if out of range.
    public static func axis(_ a: Int, rank: Int) -> Int? {
        let v = a < 0 ? a + rank : a
        return (0..<max(rank, 1)).contains(v) ? v : nil
    }

    /// Number of elements, or nil if any dimension is negative or the product overflows.
    /// The most elements a tensor may hold (2^40, 4 TB of fp32): shapes beyond it are model errors,
    /// and byte sizes (× 8), strides and index sums of valid shapes stay far from Int overflow.
    public static let maxElements = 1 << 40

    public static func checkedCount(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (m, o) = n.multipliedReportingOverflow(by: d)
            if o { return nil }
            n = m
        }
        return n
    }
}
