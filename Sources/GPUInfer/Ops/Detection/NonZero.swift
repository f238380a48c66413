// NonZero: the indices of the non-zero elements, [rank, count] int64 in C order — an output
// whose shape depends on the data (Kernels/nonzero.cl).

/// ONNX `NonZero` (opset 9/13) on float, integer and bool tensors. NaN counts as non-zero and
/// −0 as zero, as in NumPy and onnxruntime. A scalar gives a `[0, 0]` or `[0, 1]` result.
///
/// The count is data-dependent (`hasDataDependentShape`): shape inference gives the bound
/// `[rank, elements]`; the device counts per chunk, scans the counts, writes the indices packed
/// for the real count and that count to the plan's shape slot.
struct NonZero: Operator {
    static let opTypes = ["NonZero"]
    static let hasDataDependentShape = true
    let label: String

    init(node: Node, opset: Int) throws { label = node.label }

    /// Elements per work-item in the counting and writing kernels.
    static let chunk = 256

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, "NonZero")
        return [TensorType(.int64, [x.shape.count, x.shape.isEmpty ? 1 : x.count])]
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, "NonZero")
        var hits: [Int] = []
        if x.dtype.isFloat {
            for (i, v) in x.floats.enumerated() where v != 0 { hits.append(i) }
        } else {
            for (i, v) in x.ints.enumerated() where v != 0 { hits.append(i) }
        }
        let rank = x.shape.count
        var out = [Int64](repeating: 0, count: rank * hits.count)
        for (k, flat) in hits.enumerated() {
            var r = flat
            for d in stride(from: rank - 1, through: 0, by: -1) {
                out[d * hits.count + k] = Int64(r % x.shape[d])
                r /= x.shape[d]
            }
        }
        return [Tensor(shape: [rank, hits.count], ints: out)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, "NonZero")
        let shape = try ctx.outputShape(0)
        let n = x.count, rank = x.type.shape.count
        guard n <= Int(Int32.max) / 2 else { throw ctx.error("\(n) elements exceed the 32-bit index range of the NonZero kernels") }
        let chunks = max(1, (n + Self.chunk - 1) / Self.chunk)
        let counts = try ctx.scratch(bytes: (chunks + 1) * 4)
        let dims = try ctx.constants(x.type.shape.isEmpty ? [1] : x.type.shape)
        let options = "-DT=\(clType(x.type.dtype)) -DCHUNK=\(Self.chunk)"
        try ctx.launch1D(try ctx.kernel("nonzero_count", file: "nonzero", options: options), [.value(x), .int(n), .buffer(counts), .int(chunks)], count: chunks)
        try ctx.launch1D(try ctx.kernel("nonzero_scan", file: "nonzero", options: options),
                         [.buffer(counts), .int(chunks), .buffer(shape.buffer), .int(shape.offset), .int(rank)], count: 1)
        try ctx.launch1D(try ctx.kernel("nonzero_write", file: "nonzero", options: options),
                         [.value(x), .int(n), .buffer(counts), .int(chunks), .buffer(dims), .int(rank), .value(outputs[0])], count: chunks)
    }
}
