// Host tensors: a shape, an element type and C-order data. The reference backend computes on
// these; the device backend uploads and downloads them.

/// A dense C-order tensor on the host.
public struct Tensor: Sendable, Equatable, CustomStringConvertible {
    public var dtype: DType
    public var shape: [Int]
    /// Elements when `dtype.isFloat`, else empty.
    public var floats: [Float]
    /// Elements when `!dtype.isFloat` (integers and bools, widened), else empty.
    public var ints: [Int64]

    /// Number of elements (1 for a scalar).
    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }

    public init(shape: [Int], floats: [Float]) {
        precondition(shape.reduce(1, *) == floats.count, "Tensor: \(floats.count) floats for shape \(shape)")
        self.dtype = .float32
        self.shape = shape
        self.floats = floats
        self.ints = []
    }

    public init(shape: [Int], ints: [Int64], dtype: DType = .int64) {
        precondition(!dtype.isFloat && shape.reduce(1, *) == ints.count, "Tensor: \(ints.count) ints for shape \(shape)")
        self.dtype = dtype
        self.shape = shape
        self.floats = []
        self.ints = dtype == .int64 ? ints : ints.map(dtype.wrap)
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int], dtype: DType = .float32) {
        let n = shape.reduce(1, *)
        self.dtype = dtype
        self.shape = shape
        self.floats = dtype.isFloat ? [Float](repeating: 0, count: n) : []
        self.ints = dtype.isFloat ? [] : [Int64](repeating: 0, count: n)
    }

    public static func scalar(_ v: Float) -> Tensor { Tensor(shape: [], floats: [v]) }
    public static func scalar(_ v: Int64, dtype: DType = .int64) -> Tensor { Tensor(shape: [], ints: [v], dtype: dtype) }

    /// Element i as Double, whatever the type.
    @inline(__always) public func double(at i: Int) -> Double {
        dtype.isFloat ? Double(floats[i]) : Double(ints[i])
    }

    /// All elements as Int64 (floats truncated toward zero).
    public var int64Values: [Int64] {
        dtype.isFloat ? floats.map { $0.isFinite ? Int64(clamping: Int64(exactly: $0.rounded(.towardZero)) ?? 0) : 0 } : ints
    }

    /// All elements as Float.
    public var floatValues: [Float] { dtype.isFloat ? floats : ints.map { Float($0) } }

    /// The same data with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var t = self
        t.shape = newShape
        return t
    }

    /// This tensor converted to `type` (ONNX Cast semantics: float→int truncates toward zero).
    public func cast(to type: DType) -> Tensor {
        if type == dtype { return self }
        if type.isFloat { return Tensor(shape: shape, floats: floatValues) }
        if dtype.isFloat {
            let v: [Int64] = floats.map { f in
                if type == .bool { return f != 0 ? 1 : 0 }
                guard f.isFinite else { return 0 }
                let t = f.rounded(.towardZero)
                return t >= 9.2e18 ? Int64.max : (t <= -9.2e18 ? Int64.min : Int64(t))
            }
            return Tensor(shape: shape, ints: v, dtype: type)
        }
        return Tensor(shape: shape, ints: ints, dtype: type)
    }

    public var description: String {
        let values = dtype.isFloat ? floats.prefix(8).map { "\($0)" } : ints.prefix(8).map { "\($0)" }
        return "Tensor<\(dtype)>\(shape)[\(values.joined(separator: ", "))\(count > 8 ? ", …" : "")]"
    }
}

/// Element type and concrete shape of a value.
public struct TensorType: Sendable, Equatable, CustomStringConvertible {
    public var dtype: DType
    public var shape: [Int]
    public init(_ dtype: DType, _ shape: [Int]) {
        self.dtype = dtype
        self.shape = shape
    }
    /// The element count; Int.max for a shape whose count overflows (or has a negative dim), so
    /// that no size computed from a hostile shape traps: every limit check refuses it.
    public var count: Int { Shape.checkedCount(shape) ?? Int.max }
    public var description: String { "\(dtype)\(shape)" }
}
