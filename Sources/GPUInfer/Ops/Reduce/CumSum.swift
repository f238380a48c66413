// CumSum: running sums along one axis (opset 11/14), inclusive or exclusive, forward or reversed;
// float and integer data. Kernels/cumsum.cl: one work-item per row, or a blocked scan for long rows.

/// CumSum with the axis from the constant input 1 and the `exclusive` and `reverse` attributes.
/// Floats accumulate in fp32 (as onnxruntime does); integers wrap like the stored type.
struct CumSum: Operator {
    static let opTypes = ["CumSum"]
    static let constantInputs = [1]
    let exclusive: Bool
    let reverse: Bool
    let node: Node

    /// The device kernels: `rows` scans each row sequentially in one work-item; `blocked` splits
    /// each row into blocks of `blockLength`, sums the blocks, scans the block sums per row and
    /// then scans every block from its offset, so a single long row runs on many work-items.
    enum Variant: Equatable { case rows, blocked }

    /// Elements per block of the blocked scan.
    static let blockLength = 256

    /// The kernel for `rows` rows of `length`: blocked when a row is long (≥ 2048) and there are
    /// too few rows (< 256) to keep the device busy with one work-item per row.
    static func variant(rows: Int, length: Int) -> Variant {
        length >= 2048 && rows < 256 ? .blocked : .rows
    }

    init(node: Node, opset: Int) throws {
        for name in ["exclusive", "reverse"] {
            let v = try node.int(name, default: 0)
            guard v == 0 || v == 1 else { throw node.attributeError(name, "must be 0 or 1, got \(v)") }
        }
        exclusive = try node.int("exclusive", default: 0) == 1
        reverse = try node.int("reverse", default: 0) == 1
        self.node = node
    }

    /// The rows of `shape` along the axis given by the constant `axisTensor`.
    func rows(_ shape: [Int], axis axisTensor: Tensor?) throws -> AxisRows {
        guard let axisTensor, axisTensor.count == 1, !axisTensor.dtype.isFloat else {
            throw GPUInferError.shapeMismatch(node: node.label, op: "CumSum", reason: "axis must be a plan-time constant integer tensor with one element")
        }
        guard !shape.isEmpty else { throw GPUInferError.shapeMismatch(node: node.label, op: "CumSum", reason: "input must have rank ≥ 1") }
        return AxisRows(shape, axis: try AxisRows.axis(Int(axisTensor.ints[0]), rank: shape.count, node))
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let x: TensorType = try inputs.required(0, "CumSum")
        _ = try rows(x.shape, axis: constants.optional(1))
        return [x]
    }

    /// The order in which row elements are visited: forward, or from the end when reversed.
    func scanOrder(_ length: Int) -> [Int] { reverse ? Array((0..<length).reversed()) : Array(0..<length) }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let x: Tensor = try inputs.required(0, "CumSum")
        let g = try rows(x.shape, axis: inputs.optional(1))
        let order = scanOrder(g.length)
        func scan<T>(_ v: [T], zero: T, add: (T, T) -> T) -> [T] {
            var y = v
            for r in 0..<g.rows {
                let idx = g.indices(r)
                var acc = zero
                for i in order {
                    if exclusive {
                        y[idx[i]] = acc
                        acc = add(acc, v[idx[i]])
                    } else {
                        acc = add(acc, v[idx[i]])
                        y[idx[i]] = acc
                    }
                }
            }
            return y
        }
        if x.dtype.isFloat { return [Tensor(shape: x.shape, floats: scan(x.floats, zero: 0, add: +))] }
        // Tensor(ints:dtype:) wraps into the stored type; a 64-bit wrapping sum wraps the same way.
        return [Tensor(shape: x.shape, ints: scan(x.ints, zero: 0, add: &+), dtype: x.dtype)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let x: DeviceValue = try inputs.required(0, "CumSum")
        let g = try rows(x.type.shape, axis: constants.optional(1))
        try encode(ctx, x: x, y: outputs[0], rows: g, variant: Self.variant(rows: g.rows, length: g.length))
    }

    /// Encodes the scan with a given kernel variant (tests force each one).
    func encode(_ ctx: EncodeContext, x: DeviceValue, y: DeviceValue, rows g: AxisRows, variant: Variant) throws {
        guard x.count > 0 else { return }
        let t = clType(x.type.dtype)
        let flags: [KernelArg] = [.int(exclusive ? 1 : 0), .int(reverse ? 1 : 0)]
        switch variant {
        case .rows:
            let kernel = try ctx.kernel("cumsum_rows", file: "cumsum", options: "-DT=\(t)")
            try ctx.launch1D(kernel, [.value(x), .value(y)] + g.args + flags, count: g.rows)
        case .blocked:
            let b = Self.blockLength, blocks = (g.length + b - 1) / b
            let sums = try ctx.workspace(0, bytes: g.rows * blocks * x.type.dtype.deviceByteSize)
            let options = "-DT=\(t) -DBLOCK=\(b)"
            try ctx.launch1D(try ctx.kernel("cumsum_block_sums", file: "cumsum", options: options),
                             [.value(x), .buffer(sums)] + g.args + [.int(blocks), .int(reverse ? 1 : 0)], count: g.rows * blocks)
            try ctx.launch1D(try ctx.kernel("cumsum_block_offsets", file: "cumsum", options: options),
                             [.buffer(sums), .int(g.rows), .int(blocks)], count: g.rows)
            try ctx.launch1D(try ctx.kernel("cumsum_blocks", file: "cumsum", options: options),
                             [.value(x), .value(y), .buffer(sums)] + g.args + [.int(blocks)] + flags, count: g.rows * blocks)
        }
    }
}
