// Shared machinery of the elementwise family: broadcast layouts (host loops and device launches),
// integer narrowing codes and kernel-name suffixes for Kernels/elementwise.cl.
import Foundation

/// A NumPy broadcast of several inputs to one output shape, simplified for iteration: output
/// dimensions of size 1 are dropped and adjacent dimensions are merged wherever every input stays
/// linear across them (so [2,3,1,67]+[1,3,17,1] keeps rank 4, but [8,16,7,7]+[1,16,1,1] becomes
/// [8,16,49] with strides [0,1,0] for the bias).
struct BroadcastLayout {
    /// Output element count.
    let count: Int
    /// Merged output dimensions (empty for a single element).
    let dims: [Int]
    /// Per input, its element stride along each merged dimension (0 where broadcast).
    let strides: [[Int]]

    /// Broadcasts `inputs` to `output` (which must be their broadcast or a shape they broadcast to).
    init(output: [Int], inputs: [[Int]]) {
        count = output.reduce(1, *)
        let full = inputs.map { Shape.broadcastStrides($0, to: output) }
        var d: [Int] = []
        var s = [[Int]](repeating: [], count: inputs.count)
        for k in output.indices where output[k] != 1 {
            if let last = d.indices.last, s.indices.allSatisfy({ s[$0][last] == full[$0][k] * output[k] }) {
                d[last] *= output[k]
                for j in s.indices { s[j][last] = full[j][k] }
            } else {
                d.append(output[k])
                for j in s.indices { s[j].append(full[j][k]) }
            }
        }
        dims = d
        strides = s
    }

    /// Whether every input is read at the output's own flat index (no broadcasting).
    var isContiguous: Bool { dims.count <= 1 && strides.allSatisfy { $0.allSatisfy { $0 == 1 } } }
    /// Length and per-input strides of the innermost merged dimension.
    var inner: Int { dims.last ?? 1 }
    func innerStride(_ input: Int) -> Int { strides[input].last ?? 0 }

    /// Calls `body(offsets)` for each row of the innermost dimension, in output order, with every
    /// input's element offset at the row's start.
    func forEachRow(_ body: ([Int]) throws -> Void) rethrows {
        guard count > 0 else { return }
        let rank = dims.count
        var offsets = [Int](repeating: 0, count: strides.count)
        var index = [Int](repeating: 0, count: max(rank - 1, 0))
        for _ in 0..<(count / inner) {
            try body(offsets)
            var k = rank - 2
            while k >= 0 {
                index[k] += 1
                for j in offsets.indices { offsets[j] += strides[j][k] }
                if index[k] < dims[k] { break }
                for j in offsets.indices { offsets[j] -= strides[j][k] * dims[k] }
                index[k] = 0
                k -= 1
            }
        }
    }

    /// out[i] = f(a[·], b[·]) over the layout of two inputs.
    func map<A, B, R>(_ a: [A], _ b: [B], _ f: (A, B) throws -> R) rethrows -> [R] {
        var out: [R] = []
        out.reserveCapacity(count)
        let n = inner, sa = innerStride(0), sb = innerStride(1)
        try forEachRow { o in
            for j in 0..<n { out.append(try f(a[o[0] + j * sa], b[o[1] + j * sb])) }
        }
        return out
    }

    /// out[i] = f(a[·], b[·], c[·]) over the layout of three inputs.
    func map<A, B, C, R>(_ a: [A], _ b: [B], _ c: [C], _ f: (A, B, C) -> R) -> [R] {
        var out: [R] = []
        out.reserveCapacity(count)
        let n = inner, sa = innerStride(0), sb = innerStride(1), sc = innerStride(2)
        forEachRow { o in
            for j in 0..<n { out.append(f(a[o[0] + j * sa], b[o[1] + j * sb], c[o[2] + j * sc])) }
        }
        return out
    }
}

/// Helpers shared by the elementwise operators.
enum Elementwise {
    /// Kernel-name suffix for a dtype's device storage: `f` (float) or `l` (long).
    static func suffix(_ t: DType) -> String { t.isFloat ? "f" : "l" }

    /// min(max(x, lo), hi), keeping NaN (as `clip_f` in elementwise.cl).
    @inline(__always) static func clip<T: Comparable>(_ x: T, _ lo: T, _ hi: T) -> T {
        let t = x < lo ? lo : x
        return t > hi ? hi : t
    }

    /// log(1 + eˣ) without overflow (as `softplus_f`).
    @inline(__always) static func softplus(_ x: Float) -> Float { x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)) }

    /// The `wrap` argument of the kernels: how a long result narrows to `t` (see `wrap_long`).
    static func wrapCode(_ t: DType) -> Int {
        switch t {
        case .float32, .int64: 0
        case .bool: 1
        case .int8: 8
        case .int16: 16
        case .int32: 32
        case .uint8: -8
        case .uint16: -16
        case .uint32: -32
        }
    }

    /// The NumPy broadcast of `shapes`, or a shape error naming the operator.
    static func broadcast(_ shapes: [[Int]], _ op: String) throws -> [Int] {
        guard let s = Shape.broadcast(shapes) else {
            throw GPUInferError.invalidInput("\(op): shapes \(shapes.map { "\($0)" }.joined(separator: ", ")) do not broadcast")
        }
        return s
    }

    /// Checks that every input is present and stored alike (all float or all integer/bool).
    static func sameStorage(_ types: [TensorType?], _ op: String) throws -> [TensorType] {
        let ts = try types.indices.map { i -> TensorType in try types.required(i, op) }
        if let first = ts.first, ts.contains(where: { $0.dtype.isFloat != first.dtype.isFloat }) {
            throw GPUInferError.invalidInput("\(op): inputs mix element types \(ts.map(\.dtype.description).joined(separator: ", "))")
        }
        return ts
    }

    /// The float8 kernels (Kernels/elementwise.cl BINARY_V8) for binary stems; $GPUINFER_ELEMENTWISE_V8=off disables them.
    static let vector8Stems = ["bin_add_f": "binv8_add_f", "bin_sub_f": "binv8_sub_f", "bin_mul_f": "binv8_mul_f", "bin_div_f": "binv8_div_f"]

    /// Launches `<stem>_c` (all inputs at the output index), `<stem>_b` (two inputs, strided reads,
    /// up to 4 merged dims passed by value) or `<stem>_s` (strided reads through a dims‖strides meta
    /// buffer) over `output`, with the inputs' buffers and a trailing wrap code.
    static func launch(_ ctx: EncodeContext, _ stem: String, inputs: [CLBuffer], shapes: [[Int]], output: DeviceValue) throws {
        let layout = BroadcastLayout(output: output.type.shape, inputs: shapes)
        guard layout.count > 0 else { return }
        // CPU style: float +, −, ×, ÷ whose inputs are each laid out as the output or a single
        // value run binv8_* (8 elements per work-item; the per-element kernels stay on GPUs).
        if let v8 = vector8Stems[stem], inputs.count == 2, output.type.dtype == .float32, !ctx.gpuStyle,
           ctx.options.elementwiseVector8 {
            let counts = shapes.map { $0.reduce(1, *) }
            if counts.allSatisfy({ $0 == layout.count || $0 == 1 }) {
                try ctx.launch1D(ctx.kernel(v8, file: "elementwise"),
                                 [.int(layout.count), .buffer(inputs[0]), .buffer(inputs[1]), .value(output),
                                  .int(counts[0] == layout.count ? 0 : 1), .int(counts[1] == layout.count ? 0 : 1)],
                                 count: (layout.count + 7) / 8)
                return
            }
        }
        let io = inputs.map(KernelArg.buffer) + [.value(output), .int(wrapCode(output.type.dtype))]
        if layout.isContiguous {
            try ctx.launch1D(ctx.kernel(stem + "_c", file: "elementwise"), [.int(layout.count)] + io, count: layout.count)
        } else if inputs.count == 2, layout.dims.count <= 4 {
            // Up to 4 merged dims (a per-channel scale is 2 or 3): the shape by value, not read per element.
            let pad = 4 - layout.dims.count
            let geo = [Int](repeating: 1, count: pad) + layout.dims + [Int](repeating: 0, count: pad) + layout.strides[0]
                + [Int](repeating: 0, count: pad) + layout.strides[1]
            try ctx.launch1D(ctx.kernel(stem + "_b", file: "elementwise"), [.int(layout.count), .ints(geo)] + io, count: layout.count)
        } else {
            let meta = try ctx.constants(layout.dims + layout.strides.flatMap { $0 })
            try ctx.launch1D(ctx.kernel(stem + "_s", file: "elementwise"),
                             [.int(layout.count), .int(layout.dims.count), .buffer(meta)] + io, count: layout.count)
        }
    }

    /// Launches the unary kernel `un_<name>_<f|l>` from `input` to `output`; `params` are its
    /// alpha and beta (float for float outputs, long otherwise), zero when omitted.
    static func launchUnary(_ ctx: EncodeContext, _ name: String, input: CLBuffer, output: DeviceValue,
                            params: [KernelArg]? = nil) throws {
        let t = output.type.dtype
        let ab = params ?? (t.isFloat ? [.float(0), .float(0)] : [.long(0), .long(0)])
        let k = try ctx.kernel("un_\(name)_\(suffix(t))", file: "elementwise")
        try ctx.launch1D(k, [.int(output.count), .buffer(input), .value(output)] + ab + [.int(wrapCode(t))], count: output.count)
    }
}
