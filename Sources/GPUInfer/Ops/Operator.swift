// The operator protocol: one type per ONNX operator (or family), holding attribute parsing,
// shape inference, the pure-Swift reference and the OpenCL encoding side by side.
import Foundation

/// An ONNX operator instance, built from one node.
public protocol Operator: Sendable {
    /// ONNX op types this type implements.
    static var opTypes: [String] { get }
    /// Operator domain: "" for standard ONNX ops; a custom domain for fused kernels of
    /// model-local functions (`domain::opType` is then kept as one node instead of inlined).
    static var domain: String { get }
    /// Input indices whose values must be known when a plan is built (shapes, axes, pads…).
    /// The device encoder gets these as host tensors in `constants` and no device buffer.
    static var constantInputs: [Int] { get }
    /// Whether the outputs' shapes depend on input values (NonMaxSuppression, NonZero, Unique…).
    /// `inferTypes` then gives upper bounds of the same rank; the reference returns the real
    /// shapes; `encode` writes each output packed in its real shape at the start of its buffer
    /// and the real dimensions, as `long`s, at `EncodeContext.outputShape(_:)`. The plan reads those
    /// few bytes after the segment that ends with the node and plans the consumers for them.
    static var hasDataDependentShape: Bool { get }
    /// For a data-dependent op: whether dimension 0 is the only one of output `output` that
    /// depends on values (NonMaxSuppression's rows), so row-local consumers can run on its bound.
    func onlyRowsDependOnData(output: Int) -> Bool
    /// Whether each row (index along dimension 0) of every output is computed from the same row of
    /// the inputs that have it and from the other inputs whole — elementwise ops, views, Gather,
    /// Concat, Slice… Such a node runs on inputs whose row count is only bounded on the device
    /// (the rows past the real count hold garbage, which its kernels must read without leaving
    /// their buffers) when its shape inference moves its outputs' dimension 0 with theirs.
    static var isRowLocal: Bool { get }

    /// Parses and validates attributes. Throws `unsupportedOp` for attribute values the engine
    /// does not implement, so that a model fails at load time, not mid-run.
    init(node: Node, opset: Int) throws

    /// Output types from input types. `constants[i]` is the value of input i when known.
    /// Inputs are nil where an optional input is omitted.
    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType]

    /// Computes the outputs on the host: the oracle every kernel is checked against.
    func reference(_ inputs: [Tensor?]) throws -> [Tensor]

    /// Adds the device work for this node to a plan. Buffers are fixed for the plan's lifetime.
    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws

    /// Output index → input index for outputs that are the input's bytes reinterpreted
    /// (Reshape, Flatten, Squeeze, Unsqueeze, Identity): no kernel runs for them.
    var aliases: [Int: Int] { get }

    /// Output values computable from input types alone (Shape, Size), or nil.
    func foldFromTypes(_ inputs: [TensorType?]) -> [Tensor]?

    /// Floating-point operations of one application (a multiply-add counts 2), for the effective
    /// GFLOP/s that `gpuinfer bench` reports. 0 for ops that only move or map values.
    func flops(_ inputs: [TensorType?], outputs: [TensorType]) -> Double
}

public extension Operator {
    static var domain: String { "" }
    static var constantInputs: [Int] { [] }
    static var hasDataDependentShape: Bool { false }
    func onlyRowsDependOnData(output: Int) -> Bool { false }
    static var isRowLocal: Bool { false }
    var aliases: [Int: Int] { [:] }
    func foldFromTypes(_ inputs: [TensorType?]) -> [Tensor]? { nil }
    func flops(_ inputs: [TensorType?], outputs: [TensorType]) -> Double { 0 }
}

/// A value in device memory. Each value owns a whole buffer (offset 0), possibly shared over
/// time with other values whose lifetimes do not overlap.
public struct DeviceValue: @unchecked Sendable {
    public let buffer: CLBuffer
    public let type: TensorType
    public var count: Int { type.count }
}

/// A kernel argument.
public enum KernelArg {
    case buffer(CLBuffer)
    case value(DeviceValue)
    /// An OpenCL `int`.
    case int(Int)
    /// An OpenCL `long`.
    case long(Int64)
    case float(Float)
    /// An OpenCL `int2`/`int4`/`int8`/`int16` by value (zero-padded to the next of those sizes):
    /// shapes a kernel reads per work-item without loading them from memory.
    case ints([Int])
    /// `bytes` of __local memory.
    case local(Int)
}

/// One unit of device work in a plan.
enum PlanStep {
    case kernel(CLKernel, global: [Int], local: [Int]?)
    case custom(String, @Sendable (CLRuntime) throws -> Void)
}

/// What an operator's `encode` uses to add work to a plan.
public final class EncodeContext {
    public let runtime: CLRuntime
    public let node: Node
    var steps: [PlanStep] = []
    var retained: [CLBuffer] = []
    /// Derived constants shared by every plan of one session (nil: owned by this plan).
    let shared: SharedConstants?
    /// Scratch buffers shared by the nodes of one plan (nil: `workspace` falls back to `scratch`).
    let planWorkspace: PlanWorkspace?
    /// Tuned kernel parameters (nil: today's defaults everywhere).
    let tuning: TuningDatabase?
    /// Parameters the tuner is measuring for one key (they replace the database's and the defaults).
    let candidate: (key: TuningKey, parameters: [String: Int])?
    /// The tunable choices this node's encoding made, in order.
    private(set) var tuningChoices: [TuningChoice] = []
    /// The execution options the plan is built with.
    public let options: ExecutionOptions
    /// Where this node's data-dependent output shapes go (`Operator.hasDataDependentShape`): the
    /// plan's shape buffer and the offset, in `long`s, of each output's dimensions.
    var shapeSlots: (buffer: CLBuffer, offsets: [Int])?
    /// Whether every spatial input dimension of the model is fixed (`Model.hasFixedSpatialSize`):
    /// then a tile may follow the plane's size (`CPUProfile.blockedColumns(width:)`); a model whose
    /// images vary in size keeps one program per convolution for every size.
    var fixedSpatialSize = false
    /// The kernel family (`options.kernelFamily(for:)`): every op's kernel choice asks this, never the device type.
    public let family: KernelFamily
    /// Whether the GPU-style (work-group) kernels run.
    public var gpuStyle: Bool { family == .gpu }
    /// What the CPU-style kernels' tiles are sized for (`options.cpuProfile(for:)`).
    public var cpuProfile: CPUProfile { options.cpuProfile(for: runtime.device) }

    init(runtime: CLRuntime, node: Node, options: ExecutionOptions = ExecutionOptions(), shared: SharedConstants? = nil,
         workspace: PlanWorkspace? = nil, tuning: TuningDatabase? = nil, candidate: (key: TuningKey, parameters: [String: Int])? = nil) {
        self.runtime = runtime
        self.node = node
        self.options = options
        self.family = options.kernelFamily(for: runtime.device)
        self.shared = shared
        self.planWorkspace = workspace
        self.tuning = tuning
        self.candidate = candidate
    }

    /// The parameters of a tunable kernel choice: `environment` (an execution option such as
    /// `convTile`, $GPUINFER_CONV_TILE) wins, then the tuner's candidate, then the tuning
    /// database's entry for `key`, then `defaults`. Entries the space rejects (a hand-edited file)
    /// fall back to the defaults. The choice is recorded for `Session.tuningChoices` and the tuner.
    func tunedParameters(_ key: TuningKey, defaults: [String: Int], space: TuningSpace, environment: [String: Int]? = nil) -> [String: Int] {
        var chosen = (defaults, TuningSource.defaults)
        if let environment {
            chosen = (environment, .environment)
        } else if let candidate, candidate.key == key {
            chosen = (candidate.parameters, .candidate)
        } else if let stored = tuning?.parameters(for: key, device: runtime.device), Set(stored.keys) == Set(defaults.keys), space.isValid(stored) {
            chosen = (stored, .database)
        }
        tuningChoices.append(TuningChoice(node: node.label, key: key, parameters: chosen.0, defaults: defaults, source: chosen.1, space: space))
        return chosen.0
    }

    /// Preferred 1-D work-group size.
    public var workGroup: Int { min(64, max(1, runtime.device.maxWorkGroupSize)) }

    /// A new kernel object for `name` in Kernels/<file>.cl, built with `options` (`-D` defines).
    public func kernel(_ name: String, file: String, options: String = "") throws -> CLKernel {
        try runtime.kernel(name, file: file, options: options)
    }

    /// Sets `args` on `kernel` and appends its launch over `global` (rounded up to `local`; without
    /// one, to `fixedLocal`'s where that is not nil).
    public func launch(_ kernel: CLKernel, _ args: [KernelArg], global: [Int], local: [Int]? = nil) throws {
        for (i, a) in args.enumerated() {
            switch a {
            case let .buffer(b): try kernel.set(i, buffer: b)
            case let .value(v): try kernel.set(i, buffer: v.buffer)
            case let .int(v):
                guard let v32 = Int32(exactly: v) else {
                    throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "kernel argument \(i) of \(kernel.name) (\(v)) exceeds the 32-bit range")
                }
                try kernel.set(i, v32)
            case let .long(v): try kernel.set(i, v)
            case let .float(v): try kernel.set(i, v)
            case let .local(bytes): try kernel.setLocal(i, bytes: bytes)
            case let .ints(values):
                guard let width = [2, 4, 8, 16].first(where: { $0 >= values.count }) else {
                    throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "kernel argument \(i) of \(kernel.name): \(values.count) ints exceed an int16")
                }
                var v = [Int32](repeating: 0, count: width)
                for (j, x) in values.enumerated() {
                    guard let x32 = Int32(exactly: x) else {
                        throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "kernel argument \(i) of \(kernel.name) (\(x)) exceeds the 32-bit range")
                    }
                    v[j] = x32
                }
                try kernel.set(i, vector: v)
            }
        }
        if global.contains(0) { return }
        steps.append(.kernel(kernel, global: global, local: local ?? fixedLocal(global)))
    }

    /// The work-group shape of a launch that leaves it to the driver: nil (the driver's choice),
    /// or on drivers that compile a kernel per work-group shape (`compilesPerWorkGroupShape`) one
    /// shape for every launch of the kernel: `shape` where the kernel names one, else 8 work-items
    /// along the first dimension. The global size is rounded up to it; the kernels skip ids past
    /// their ranges.
    func fixedLocal(_ global: [Int], shape: [Int]? = nil) -> [Int]? {
        guard runtime.device.compilesPerWorkGroupShape, !global.isEmpty else { return nil }
        return shape ?? [8] + [Int](repeating: 1, count: global.count - 1)
    }

    /// Launches a 1-D kernel over `count` items; the kernel must ignore ids ≥ its count argument.
    public func launch1D(_ kernel: CLKernel, _ args: [KernelArg], count: Int) throws {
        guard count > 0 else { return }
        try launch(kernel, args, global: [count], local: [workGroup])
    }

    /// A small read-only buffer of Int32 values (shapes and strides for kernels).
    public func constants(_ values: [Int32]) throws -> CLBuffer {
        let b = try runtime.buffer(values.isEmpty ? [0] : values)
        retained.append(b)
        return b
    }

    /// `constants` from Int values, checking the 32-bit range.
    public func constants(_ values: [Int]) throws -> CLBuffer {
        var v: [Int32] = []
        v.reserveCapacity(values.count)
        for x in values {
            guard let y = Int32(exactly: x) else {
                throw GPUInferError.shapeMismatch(node: node.label, op: node.opType, reason: "value \(x) exceeds the 32-bit index range of the kernels")
            }
            v.append(y)
        }
        return try constants(v)
    }

    /// A float buffer owned by the plan.
    public func constants(floats values: [Float]) throws -> CLBuffer {
        let b = try runtime.buffer(values.isEmpty ? [0] : values)
        retained.append(b)
        return b
    }

    /// A float buffer derived from model constants only (for example a repacked weight), uploaded
    /// once per session and shared by the plans of every input shape: `key` must name everything
    /// the values depend on besides the model (the weight's name, the layout); `make` runs only on
    /// the first request. Without a session cache the buffer is owned by the plan.
    public func sharedConstants(key: String, floats make: () -> [Float]) throws -> CLBuffer {
        guard let shared else { return try constants(floats: make()) }
        return try shared.buffer(key) { try runtime.buffer({ let v = make(); return v.isEmpty ? [0] : v }()) }
    }

    /// A scratch buffer owned by the plan.
    public func scratch(bytes: Int) throws -> CLBuffer {
        let b = try runtime.buffer(bytes: bytes)
        retained.append(b)
        return b
    }

    /// Scratch buffer `index` of the plan's workspace, at least `bytes` long, for data that lives
    /// only during this node's steps (it is shared with the other nodes of the plan, which run
    /// before or after on the one in-order queue): intermediate results such as Winograd
    /// transforms then cost the largest node's memory, not the sum over nodes.
    public func workspace(_ index: Int, bytes: Int) throws -> CLBuffer {
        guard let planWorkspace else { return try scratch(bytes: bytes) }
        return try planWorkspace.buffer(index, bytes: bytes, runtime: runtime)
    }

    /// Appends host-driven work (for example a CLBlast call) that runs in queue order.
    public func custom(_ name: String, _ body: @escaping @Sendable (CLRuntime) throws -> Void) {
        steps.append(.custom(name, body))
    }

    /// The buffer and the offset (in `long`s) where a data-dependent node writes output `index`'s
    /// real dimensions (`Operator.hasDataDependentShape`).
    public func outputShape(_ index: Int) throws -> (buffer: CLBuffer, offset: Int) {
        guard let shapeSlots, index < shapeSlots.offsets.count else {
            throw error("output \(index) has no slot for a data-dependent shape (the op does not declare hasDataDependentShape)")
        }
        return (shapeSlots.buffer, shapeSlots.offsets[index])
    }

    /// An error about this node.
    public func error(_ reason: String) -> GPUInferError {
        .shapeMismatch(node: node.label, op: node.opType, reason: reason)
    }
}

/// Device buffers derived from a model's constants, shared by all plans of a session (one per
/// input signature), so a new input shape uploads no weight a second time.
public final class SharedConstants: @unchecked Sendable {
    private let lock = NSLock()
    private var buffers: [String: CLBuffer] = [:]
    private var _uploads = 0

    public init() {}

    /// Number of buffers created (each an upload), for tests and diagnostics.
    public var uploads: Int { lock.withLock { _uploads } }

    func buffer(_ key: String, _ make: () throws -> CLBuffer) throws -> CLBuffer {
        lock.lock()
        defer { lock.unlock() }
        if let b = buffers[key] { return b }
        let b = try make()
        buffers[key] = b
        _uploads += 1
        return b
    }
}

/// Per-plan scratch buffers (`EncodeContext.workspace`), indexed so that one node can hold several
/// at once. A request larger than the current buffer of its index allocates a bigger one for it
/// and later nodes; the smaller one stays alive for the nodes already bound to it.
final class PlanWorkspace {
    private var buffers: [Int: CLBuffer] = [:]
    private(set) var retained: [CLBuffer] = []

    func buffer(_ index: Int, bytes: Int, runtime: CLRuntime) throws -> CLBuffer {
        if let b = buffers[index], b.bytes >= bytes { return b }
        let b = try runtime.buffer(bytes: max(bytes, 4))
        buffers[index] = b
        retained.append(b)
        return b
    }
}

/// OpenCL C type name for a dtype's device storage.
public func clType(_ dtype: DType) -> String { dtype.isFloat ? "float" : "long" }
