// Unique: the distinct elements (or slices along an axis), their first indices, the inverse
// map and the counts (Kernels/unique.cl) — outputs whose shapes depend on the data.

/// ONNX `Unique` (opset 11). Without `axis` the input is flattened; with one, whole slices along
/// it are compared. `sorted` = 1 (the default) orders Y ascending, slices lexicographically in C
/// order of the other dimensions (as onnxruntime and NumPy do); 0 keeps first-occurrence order.
/// Outputs: Y, indices (first occurrence of each Y entry), inverse_indices (the Y entry of each
/// input element or slice), counts. For floats NaN equals NaN and sorts after every number, and
/// −0 equals +0 (the first occurrence is kept).
///
/// The number of distinct entries U is data-dependent (`hasDataDependentShape`). The device
/// compares every pair of slices (O(m²·L) for m slices of L elements, one work-item per slice):
/// Unique runs on small tensors (labels, class ids) in the graphs that use it, not on feature maps.
struct Unique: Operator {
    static let opTypes = ["Unique"]
    static let hasDataDependentShape = true
    /// indices, inverse_indices and counts are 1-D; Y varies in its rows only without an axis or along axis 0.
    func onlyRowsDependOnData(output: Int) -> Bool { output != 0 || axis == nil || axis == 0 }
    let axis: Int?
    let sorted: Bool
    let label: String

    init(node: Node, opset: Int) throws {
        axis = node.attributes["axis"] == nil ? nil : try node.int("axis", default: 0)
        let s = try node.int("sorted", default: 1)
        guard s == 0 || s == 1 else { throw node.attributeError("sorted", "must be 0 or 1, got \(s)") }
        sorted = s == 1
        label = node.label
    }

    /// The input viewed as m slices of L elements: slice i, element t = (o, k) at (o·m + i)·inner + k.
    struct Geometry {
        var outer: Int, m: Int, inner: Int, axis: Int?
        var length: Int { outer * inner }
        func address(_ i: Int, _ t: Int) -> Int { ((t / inner) * m + i) * inner + t % inner }
        func shape(_ x: [Int], _ u: Int) -> [Int] {
            guard let axis else { return [u] }
            var s = x
            s[axis] = u
            return s
        }
    }

    func geometry(_ x: [Int]) throws -> Geometry {
        guard let axis else { return Geometry(outer: 1, m: x.reduce(1, *), inner: 1, axis: nil) }
        guard axis >= -x.count, axis < x.count else {
            throw GPUInferError.shapeMismatch(node: label, op: "Unique", reason: "axis \(axis) is out of range for rank \(x.count)")
        }
        let a = axis < 0 ? axis + x.count : axis
        return Geometry(outer: x[..<a].reduce(1, *), m: x[a], inner: x[(a + 1)...].reduce(1, *), axis: a)
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, "Unique")
        let g = try geometry(x.shape)
        return [TensorType(x.dtype, g.shape(x.shape, g.m)), TensorType(.int64, [g.m]), TensorType(.int64, [g.m]), TensorType(.int64, [g.m])]
    }

    /// The comparison of the kernels: NaN equals NaN and sorts last.
    static func order(_ a: Double, _ b: Double) -> Int {
        if a.isNaN || b.isNaN { return a.isNaN == b.isNaN ? 0 : (a.isNaN ? 1 : -1) }
        return a < b ? -1 : (a > b ? 1 : 0)
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, "Unique")
        let g = try geometry(x.shape)
        func value(_ i: Int, _ t: Int) -> Double { x.dtype.isFloat ? Double(x.floats[g.address(i, t)]) : Double(x.ints[g.address(i, t)]) }
        func compare(_ i: Int, _ j: Int) -> Int {
            if !x.dtype.isFloat {
                for t in 0..<g.length {
                    let a = x.ints[g.address(i, t)], b = x.ints[g.address(j, t)]
                    if a != b { return a < b ? -1 : 1 }
                }
                return 0
            }
            for t in 0..<g.length {
                let c = Self.order(value(i, t), value(j, t))
                if c != 0 { return c }
            }
            return 0
        }
        // Slices sorted (ties by position), so equal slices form runs whose first member is the
        // first occurrence: O(m log m) comparisons, not one per pair.
        let byValue = (0..<g.m).sorted { let c = compare($0, $1); return c != 0 ? c < 0 : $0 < $1 }
        var firsts: [Int] = []  // in sorted order
        var firstOf = [Int](repeating: 0, count: g.m)
        var k = 0
        while k < byValue.count {
            var e = k + 1
            while e < byValue.count && compare(byValue[k], byValue[e]) == 0 { e += 1 }
            for j in k..<e { firstOf[byValue[j]] = byValue[k] }
            firsts.append(byValue[k])
            k = e
        }
        let order = sorted ? firsts : firsts.sorted()
        var rank = [Int](repeating: 0, count: g.m)
        for (r, i) in order.enumerated() { rank[i] = r }
        var counts = [Int64](repeating: 0, count: order.count)
        for i in 0..<g.m { counts[rank[firstOf[i]]] += 1 }
        var source: [Int] = []
        for o in 0..<g.outer {
            for i in order { for k in 0..<g.inner { source.append((o * g.m + i) * g.inner + k) } }
        }
        let y = x.picking(g.shape(x.shape, order.count), source)
        return [y, Tensor(shape: [order.count], ints: order.map { Int64($0) }),
                Tensor(shape: [g.m], ints: (0..<g.m).map { Int64(rank[firstOf[$0]]) }), Tensor(shape: [order.count], ints: counts)]
    }

    static let maxDeviceSlices = 1 << 16

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, "Unique")
        let g = try geometry(x.type.shape)
        guard x.count <= Int(Int32.max) else { throw ctx.error("\(x.count) elements exceed the 32-bit index range of the Unique kernels") }
        // The kernels compare every pair of slices (one work-item per slice): m² comparisons. Past
        // 65,536 slices (4·10⁹ comparisons) a run would take minutes to hours: refused, not hung.
        guard g.m <= Self.maxDeviceSlices else {
            throw GPUInferError.unsupportedOp(op: "Unique", domain: "", node: ctx.node.label, opset: 11,
                                              reason: "\(g.m) slices: the device kernels compare every pair, at most \(Self.maxDeviceSlices) slices (the cpu reference sorts)")
        }
        let slots = try (0..<4).map { try ctx.outputShape($0) }
        let scratch = try ctx.scratch(bytes: (3 * g.m + 1) * 4)  // first, rank, count per slice; U
        let dims = g.shape(x.type.shape, 0)
        let options = "-DT=\(clType(x.type.dtype))" + (x.type.dtype.isFloat ? " -DT_IS_FLOAT" : "")
        let geometry: [KernelArg] = [.value(x), .int(g.m), .int(g.inner), .int(g.length)]
        try ctx.launch1D(try ctx.kernel("unique_first", file: "unique", options: options), geometry + [.buffer(scratch)], count: g.m)
        try ctx.launch1D(try ctx.kernel("unique_rank", file: "unique", options: options), geometry + [.buffer(scratch), .int(sorted ? 1 : 0)], count: g.m)
        try ctx.launch1D(try ctx.kernel("unique_count", file: "unique", options: options),
                         [.int(g.m), .buffer(scratch), .buffer(slots[0].buffer), .buffer(try ctx.constants(dims)), .int(dims.count), .int(g.axis ?? 0),
                          .ints(slots.map(\.offset))], count: 1)
        try ctx.launch1D(try ctx.kernel("unique_write", file: "unique", options: options),
                         geometry + [.buffer(scratch)] + outputs.map { .value($0) }, count: g.m)
    }
}
