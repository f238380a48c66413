// Runs an operator's encoding directly on the test device with a kernel variant the test picks
// (ops whose selector would not choose that variant for the shape under test).
import Testing
@testable import GPUInfer

/// Uploads `inputs` (nil entries stay nil), allocates `outputs`, calls `encode` with a fresh
/// `EncodeContext` under `options`, runs its steps and reads the outputs back.
func runEncoded(_ opType: String, inputs: [Tensor?], outputs: [TensorType], options: ExecutionOptions = ExecutionOptions(),
                sourceLocation: SourceLocation = #_sourceLocation,
                _ encode: (EncodeContext, [DeviceValue?], [DeviceValue]) throws -> Void) throws -> [Tensor] {
    let runtime = try TestDevice.require(sourceLocation: sourceLocation)
    let ins: [DeviceValue?] = try inputs.map { t in
        guard let t else { return nil }
        let b = t.dtype.isFloat ? try runtime.buffer(t.floats.isEmpty ? [0] : t.floats) : try runtime.buffer(t.ints.isEmpty ? [0] : t.ints)
        return DeviceValue(buffer: b, type: TensorType(t.dtype, t.shape))
    }
    let outs = try outputs.map { DeviceValue(buffer: try runtime.buffer(bytes: max($0.count, 1) * $0.dtype.deviceByteSize), type: $0) }
    let node = Node(name: "node", opType: opType, inputs: [], outputs: [], attributes: [:])
    let ctx = EncodeContext(runtime: runtime, node: node, options: options)
    try encode(ctx, ins, outs)
    for step in ctx.steps { _ = try step.enqueue(on: runtime, timed: false) }
    return try outs.map { o in
        o.type.dtype.isFloat
            ? Tensor(shape: o.type.shape, floats: try runtime.read(o.buffer, count: o.count, as: Float.self))
            : Tensor(shape: o.type.shape, ints: try runtime.read(o.buffer, count: o.count, as: Int64.self), dtype: o.type.dtype)
    }
}
