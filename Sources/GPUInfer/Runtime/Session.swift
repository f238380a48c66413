// The user-facing entry point: a model bound to a device (an OpenCL device or the reference
// backend), with plans cached per input signature.
import Foundation

/// Which backend runs a model.
public enum DeviceSelection: Sendable, Equatable, CustomStringConvertible {
    /// The pure-Swift reference backend.
    case cpu
    /// OpenCL device by global index (`gpuinfer devices`).
    case openCL(Int)
    /// The first OpenCL GPU, else the first OpenCL device, else the reference backend.
    case automatic

    /// Parses `cpu`, `auto` or a device index.
    public init(parsing text: String) throws {
        switch text.lowercased() {
        case "cpu", "ref", "reference": self = .cpu
        case "auto", "default", "": self = .automatic
        default:
            guard let i = Int(text), i >= 0 else {
                throw GPUInferError.deviceNotFound(requested: text, available: (try? CLDeviceInfo.all().count) ?? 0)
            }
            self = .openCL(i)
        }
    }

    public var description: String {
        switch self {
        case .cpu: "cpu"
        case let .openCL(i): "\(i)"
        case .automatic: "auto"
        }
    }

    /// The OpenCL device this selection names, nil for the reference backend.
    public func resolve() throws -> CLDeviceInfo? {
        switch self {
        case .cpu: return nil
        case let .openCL(i):
            let all = try CLDeviceInfo.all()
            guard i < all.count else { throw GPUInferError.deviceNotFound(requested: "\(i)", available: all.count) }
            return all[i]
        case .automatic:
            let all = (try? CLDeviceInfo.all()) ?? []
            return all.first(where: \.isGPU) ?? all.first
        }
    }
}

/// A model bound to a backend. Safe to use from several threads: runs of one plan are serialised.
public final class Session: @unchecked Sendable {
    public let model: Model
    /// The OpenCL runtime, nil on the reference backend.
    public let runtime: CLRuntime?
    private let lock = NSLock()
    private var plans: [String: DevicePlan] = [:]
    private var deviceConstants: [String: DeviceValue] = [:]
    private let constantsLock = NSLock()
    /// Weights in device form (repacked for a kernel) shared by the plans of every input signature.
    public let sharedConstants = SharedConstants()
    /// Number of plans held (one per input signature seen, at most `maxCachedPlans`).
    public var planCount: Int { lock.withLock { plans.count } }
    /// Input signatures, least recently used first.
    private var planOrder: [String] = []
    private var _maxCachedPlans = 16
    /// At most this many plans (each holding its activation buffers) are kept; the least recently
    /// used one is dropped, with its buffers, when a new input signature needs room. Models with
    /// per-image input sizes (the GLDv2 short-side preprocessing gives dozens of sizes) stay
    /// bounded in memory; weights and compiled programs are shared and never dropped. ≥ 1.
    public var maxCachedPlans: Int {
        get { lock.withLock { _maxCachedPlans } }
        set {
            lock.withLock {
                _maxCachedPlans = max(1, newValue)
                while plans.count > _maxCachedPlans, !planOrder.isEmpty { plans[planOrder.removeFirst()] = nil }
            }
        }
    }
    /// Number of model initializers uploaded to the device (each once per session).
    public var uploadedInitializers: Int { constantsLock.withLock { deviceConstants.count } }
    /// Per-node timings of the last profiled run.
    public private(set) var lastTimings: [NodeTiming] = []

    /// Tuned kernel parameters the plans use (`gpuinfer tune`); nil: the defaults.
    public let tuning: TuningDatabase?
    /// The kernel choices every plan of this session is built with.
    public let options: ExecutionOptions

    /// Binds `model` to `device`. `profiling` enables per-node timing (`run(_:profile:)`).
    /// `options` picks the kernels (`ExecutionOptions.fromEnvironment()` reads the GPUINFER_* variables).
    public init(model: Model, device: DeviceSelection = .automatic, profiling: Bool = false, cache: ProgramCache = .default,
                tuning: TuningDatabase? = .default, options: ExecutionOptions = ExecutionOptions()) throws {
        self.tuning = tuning
        self.options = options
        if let info = try device.resolve() {
            runtime = try CLRuntime(device: info, profiling: profiling, cache: cache, options: options)
        } else {
            runtime = nil
        }
        self.model = Self.planModel(model, runtime: runtime, options: options)
    }

    /// Binds `model` to an already opened OpenCL runtime (sharing its programs), or to the
    /// reference backend when `runtime` is nil.
    public init(model: Model, runtime: CLRuntime?, tuning: TuningDatabase? = .default, options: ExecutionOptions = ExecutionOptions()) {
        self.model = Self.planModel(model, runtime: runtime, options: options)
        self.runtime = runtime
        self.tuning = tuning
        self.options = options
    }

    /// The model the plans run: on CPU-style devices (unless `options.layout` is nchw) with the
    /// channel-blocked layout between convolutions (Passes/BlockedLayout.swift); else `model`.
    static func planModel(_ model: Model, runtime: CLRuntime?, options: ExecutionOptions) -> Model {
        guard let runtime, options.layout != .nchw, options.kernelFamily(for: runtime.device) == .cpu else { return model }
        // The rewritten graph is built from nodes that already passed validation; should building it
        // fail all the same, the NCHW model runs (same results, without the layout's speed).
        return (try? model.withBlockedLayout(options: options)) ?? model
    }

    /// Human-readable backend name.
    public var deviceDescription: String {
        runtime.map { "OpenCL device \($0.device.index): \($0.device.name) (\($0.device.platformName))" } ?? "cpu (Swift reference backend)"
    }

    /// Runs the model. `profile` records per-node device times into `lastTimings`.
    public func run(_ inputs: [String: Tensor], profile: Bool = false) throws -> [String: Tensor] {
        guard runtime != nil else { return try ReferenceExecutor().run(model, inputs: inputs) }
        let plan = try plan(for: inputs, keepAll: false)
        let result = try plan.run(inputs, profile: profile)
        lock.lock()
        if profile { lastTimings = result.timings }
        _lastCuts = plan.chain.lastCuts
        lock.unlock()
        return result.outputs
    }

    private var _lastCuts = CutStatistics()
    /// What the last run spent between plan segments: a graph with data-dependent shapes
    /// (NonMaxSuppression → Gather, NonZero…) runs in segments, each planned for the sizes the
    /// one before it computed; zero cuts for every other graph.
    public var lastCuts: CutStatistics { lock.withLock { _lastCuts } }

    /// Every value of one device run (`runKeepingAll`): intermediate values with their real
    /// shapes, the plan-time constants, and the nodes that ran on the device in order.
    struct KeptValues {
        var values: [String: Tensor]
        var constants: [String: Tensor]
        var nodes: [Int]
    }

    /// Runs on the device keeping every intermediate value; returns them all by name.
    func runKeepingAll(_ inputs: [String: Tensor]) throws -> KeptValues {
        let plan = try plan(for: inputs, keepAll: true)
        let run = try plan.run(inputs)
        guard let last = run.segments.last else { throw GPUInferError.invalidInput("the plan ran no segment") }
        var all: [String: Tensor] = [:]
        for segment in run.segments {
            for (name, v) in segment.values {
                guard let t = last.spec.types[name] else { continue }
                let shape = run.finalShapes[name] ?? t.shape
                all[name] = try segment.read(DeviceValue(buffer: v.buffer, type: TensorType(t.dtype, shape)))
            }
        }
        for (k, v) in last.spec.constants where all[k] == nil { all[k] = v }
        return KeptValues(values: all, constants: last.spec.constants, nodes: run.segments.flatMap(\.spec.liveNodes))
    }

    /// Bytes of activation buffers (and the workspace its nodes share) in the plan for these inputs.
    public func activationBytes(for inputs: [String: Tensor]) throws -> Int {
        try plan(for: inputs, keepAll: false).activationBytes
    }

    /// The tunable kernel parameters each node runs with for these inputs, and where they came
    /// from (defaults, the tuning database, an environment override). Empty on the reference backend.
    public func tuningChoices(for inputs: [String: Tensor]) throws -> [TuningChoice] {
        guard runtime != nil else { return [] }
        return try plan(for: inputs, keepAll: false).tuningChoices
    }

    /// Floating-point operations of one run with these inputs (convolutions, GEMMs and fused
    /// kernels; see `Operator.flops`), for effective GFLOP/s.
    public func flops(for inputs: [String: Tensor]) throws -> Double {
        guard runtime != nil else { return try model.nodeFlops(model.specialize(inputs)).values.reduce(0, +) }
        return try plan(for: inputs, keepAll: false).flops
    }

    /// OpenCL kernel launches of one run with these inputs (0 on the reference backend).
    public func kernelLaunches(for inputs: [String: Tensor]) throws -> Int {
        guard runtime != nil else { return 0 }
        return try plan(for: inputs, keepAll: false).kernelLaunches
    }

    func plan(for inputs: [String: Tensor], keepAll: Bool) throws -> DevicePlan {
        guard let runtime else { throw GPUInferError.invalidInput("no OpenCL device") }
        var key = keepAll ? "all|" : "|"
        for name in inputs.keys.sorted() {
            let t = inputs[name]!
            key += "\(name):\(t.dtype)\(t.shape)"
            if model.isBaked(name, t) { key += "=\(t.ints)\(t.floats)" }
            key += ";"
        }
        lock.lock()
        defer { lock.unlock() }
        if let p = plans[key] {
            if planOrder.last != key, let i = planOrder.firstIndex(of: key) { planOrder.append(planOrder.remove(at: i)) }
            return p
        }
        // Make room first, so the dropped plan's buffers are freed before the new ones are made.
        while plans.count >= _maxCachedPlans, !planOrder.isEmpty { plans[planOrder.removeFirst()] = nil }
        // Continuation segments are planned during runs, outside `lock`: the uploaded
        // initializers have their own lock.
        let p = try DevicePlan(model: model, inputs: inputs, runtime: runtime, keepAll: keepAll, options: options, shared: sharedConstants, tuning: tuning) {
            [model, constantsLock, weak self] name, tensor in
            try constantsLock.withLock {
                if let v = self?.deviceConstants[name], v.type.shape == tensor.shape { return v }
                let buffer = tensor.dtype.isFloat ? try runtime.constantBuffer(tensor.floats) : try runtime.constantBuffer(tensor.ints)
                let v = DeviceValue(buffer: buffer, type: TensorType(tensor.dtype, tensor.shape))
                if model.graph.initializers[name] != nil { self?.deviceConstants[name] = v }
                return v
            }
        }
        plans[key] = p
        planOrder.append(key)
        return p
    }
}
