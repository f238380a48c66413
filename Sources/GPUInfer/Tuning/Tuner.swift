// `gpuinfer tune`: searches the tunable kernel parameters of one model's nodes on one device and
// stores the fastest verified ones in the tuning database.
//
// Each distinct tunable (kernel family, shape) is measured in isolation: the node is encoded alone
// on seeded random inputs and the model's weights, run once to warm up, then `repetitions` times
// with OpenCL profiling events; its time is the median. The search is coordinate descent: one
// parameter axis at a time, every value of it with the other parameters at the best found so far.
// Shapes are taken in order of their share of the model's device time (largest first) and the
// search stops when the time budget is spent, keeping what it measured. The winner is measured
// again against the defaults (alternating, median of 3) and kept only if it beats them by the margin. A candidate is kept only
// if its output matches the defaults' output (see `outputsAgree`); it is never stored otherwise.
import Foundation

/// Settings of one tuning run.
public struct TuningOptions: Sendable {
    /// Wall-clock budget of the whole run in seconds (measurements included).
    public var timeLimit: Double = 120
    /// Timed runs per candidate (after one warm-up run); the median counts.
    public var repetitions: Int = 5
    /// Whole-model runs of each configuration for the before/after latency, interleaved.
    public var modelRounds: Int = 5
    /// A candidate must beat the defaults by this fraction to be stored as a change (noise margin).
    public var margin: Double = 0.03
    /// At most this many candidates per shape besides the defaults (nil: the whole search); each
    /// new candidate usually costs a program build, which dominates on CPU devices.
    public var maxCandidates: Int?

    public init(timeLimit: Double = 120, repetitions: Int = 5, modelRounds: Int = 5, maxCandidates: Int? = nil) {
        self.timeLimit = timeLimit
        self.repetitions = repetitions
        self.modelRounds = modelRounds
        self.maxCandidates = maxCandidates
    }
}

/// What the tuner found for one (kernel family, shape).
public struct TunedShape: Sendable {
    public var key: TuningKey
    /// Labels of the model's nodes with this key.
    public var nodes: [String]
    public var defaults: [String: Int]
    public var best: [String: Int]
    public var defaultNanoseconds: UInt64
    public var bestNanoseconds: UInt64
    /// Candidates measured (the defaults included).
    public var measured: Int
    /// Candidates rejected: failed to build or run, or output differing from the defaults'.
    public var rejected: [(parameters: [String: Int], reason: String)]
    /// Whether every candidate of the search was measured (false when the time budget or
    /// `maxCandidates` ended it early).
    public var complete: Bool
    /// Whether an entry was written (the best, or the defaults when nothing beat them by the margin).
    public var stored: Bool
    /// The share of the model's device time this key's nodes took with the defaults.
    public var modelNanoseconds: UInt64
}

/// The outcome of `Tuner.tune`.
public struct TuningReport: Sendable {
    /// Device time the tuned shapes save per run by their isolated node times (Σ nodes × saving).
    public var expectedSaving: Double {
        shapes.reduce(0) { $0 + Double($1.nodes.count) * (Double($1.defaultNanoseconds) - Double($1.bestNanoseconds)) / 1e9 }
    }
    public var device: String
    public var shapes: [TunedShape]
    /// Tunable keys not searched: "key: reason" (an environment override is set, or no time left).
    public var skipped: [String]
    /// Median whole-model wall time with the defaults and with the tuned database (seconds).
    public var latencyBefore: Double
    public var latencyAfter: Double
    public var budgetExhausted: Bool
    public var elapsed: Double
    public var databaseFile: String?
}

/// Searches kernel parameters of one model on one device.
public final class Tuner {
    let model: Model
    let runtime: CLRuntime
    let database: TuningDatabase
    /// The execution options the tuned plans are built with (the kernel style decides which kernels are tuned).
    let options: ExecutionOptions
    /// Progress lines (one per measured shape).
    public var progress: (String) -> Void = { _ in }

    /// `runtime` must have profiling enabled (its events time the candidates).
    public init(model: Model, runtime: CLRuntime, database: TuningDatabase, options: ExecutionOptions = ExecutionOptions()) throws {
        guard runtime.profiling else { throw GPUInferError.invalidInput("tuning needs a runtime with profiling enabled") }
        // The model the sessions run (on CPU style, with the channel-blocked layout): its nodes are the ones measured.
        self.model = Session.planModel(model, runtime: runtime, options: options)
        self.runtime = runtime
        self.database = database
        self.options = options
    }

    /// Tunes the nodes of `model` for `inputs`' shapes, stores the winners in the database, saves it,
    /// and measures the whole model before and after.
    public func tune(inputs: [String: Tensor], options: TuningOptions = TuningOptions()) throws -> TuningReport {
        let clock = ContinuousClock()
        let start = clock.now
        func elapsed() -> Double { (clock.now - start).seconds }
        let before = Session(model: model, runtime: runtime, tuning: nil, options: self.options)
        // Warm-up (builds the programs), then one profiled run: where the time goes.
        _ = try before.run(inputs)
        let runTime = try clock.measure { _ = try before.run(inputs, profile: true) }.seconds
        var nodeTime: [String: UInt64] = [:]
        for t in before.lastTimings { nodeTime[t.node, default: 0] += t.nanoseconds }
        // The after-measurement's share of the budget: both configurations, each warmed up once.
        let reserve = Double(2 * (options.modelRounds + 1)) * runTime
        let deadline = options.timeLimit - reserve

        let choices = try before.tuningChoices(for: inputs)
        var order: [TuningKey] = []
        var byKey: [TuningKey: (choice: TuningChoice, nodes: [String], ns: UInt64)] = [:]
        var skipped: [String] = []
        for c in choices {
            if c.source == .environment {
                skipped.append("\(c.node) \(c.key): an environment override sets its parameters")
                continue
            }
            if byKey[c.key] == nil {
                order.append(c.key)
                byKey[c.key] = (c, [], 0)
            }
            byKey[c.key]!.nodes.append(c.node)
            byKey[c.key]!.ns += nodeTime[c.node] ?? 0
        }
        order.sort { byKey[$0]!.ns > byKey[$1]!.ns }

        let bench = try NodeBench(model: model, runtime: runtime, inputs: inputs, options: self.options)
        var shapes: [TunedShape] = []
        var exhausted = false
        for key in order {
            guard let (choice, nodes, modelNs) = byKey[key] else { continue }
            if elapsed() > deadline {
                exhausted = true
                skipped.append("\(key): time budget spent")
                continue
            }
            guard let node = bench.nodeIndex(label: nodes[0]) else { continue }
            bench.startShape()
            let (defaultNs, reference) = try bench.measure(node: node, key: key, parameters: choice.defaults, repetitions: options.repetitions)
            var shape = TunedShape(key: key, nodes: nodes, defaults: choice.defaults, best: choice.defaults, defaultNanoseconds: defaultNs,
                                   bestNanoseconds: defaultNs, measured: 1, rejected: [], complete: true, stored: false, modelNanoseconds: modelNs)
            var tried: Set<[String: Int]> = [choice.defaults]
            search: for axis in choice.space.axes {
                for v in axis.values {
                    var candidate = shape.best
                    candidate[axis.name] = v
                    guard !tried.contains(candidate), choice.space.isValid(candidate) else { continue }
                    if let limit = options.maxCandidates, tried.count > limit {
                        shape.complete = false
                        break search
                    }
                    tried.insert(candidate)
                    if elapsed() > deadline {
                        exhausted = true
                        shape.complete = false
                        break search
                    }
                    do {
                        let (ns, output) = try bench.measure(node: node, key: key, parameters: candidate, repetitions: options.repetitions)
                        if let problem = Self.outputsAgree(output, reference) {
                            shape.rejected.append((candidate, problem))
                            continue
                        }
                        shape.measured += 1
                        if ns < shape.bestNanoseconds {
                            shape.best = candidate
                            shape.bestNanoseconds = ns
                        }
                    } catch {
                        shape.rejected.append((candidate, "\(error)"))
                    }
                }
            }
            // The minimum over many noisy candidates is biased low: the winner is measured again
            // against the defaults, alternating, and kept only if it still wins by the margin (a
            // win inside the margin keeps the defaults, stored so that the entry says so).
            if shape.best != shape.defaults {
                var d: [UInt64] = [], b: [UInt64] = []
                for _ in 0..<3 {
                    d.append(try bench.measure(node: node, key: key, parameters: shape.defaults, repetitions: options.repetitions).0)
                    b.append(try bench.measure(node: node, key: key, parameters: shape.best, repetitions: options.repetitions).0)
                }
                shape.defaultNanoseconds = d.sorted()[1]
                shape.bestNanoseconds = b.sorted()[1]
            }
            if Double(shape.bestNanoseconds) > Double(shape.defaultNanoseconds) * (1 - options.margin) {
                shape.best = shape.defaults
                shape.bestNanoseconds = shape.defaultNanoseconds
            }
            if shape.measured + shape.rejected.count > 1 || shape.complete {
                database.store(key, parameters: shape.best, defaults: shape.defaults, defaultNanoseconds: shape.defaultNanoseconds,
                               tunedNanoseconds: shape.bestNanoseconds, device: runtime.device)
                shape.stored = true
            }
            progress(String(format: "%@  %@ → %@  %.3f → %.3f ms  (%d measured%@)", key.description, TuningDatabase.format(shape.defaults),
                            TuningDatabase.format(shape.best), Double(shape.defaultNanoseconds) / 1e6, Double(shape.bestNanoseconds) / 1e6, shape.measured,
                            shape.rejected.isEmpty ? "" : ", \(shape.rejected.count) rejected"))
            shapes.append(shape)
        }
        try database.save(device: runtime.device)

        // Before/after, interleaved so that drifting load affects both alike.
        let after = Session(model: model, runtime: runtime, tuning: database, options: self.options)
        _ = try after.run(inputs)
        var a: [Double] = [], b: [Double] = []
        for round in 0..<max(1, options.modelRounds) {
            // Alternate which goes first, so neither always follows the other.
            for tuned in round % 2 == 0 ? [false, true] : [true, false] {
                let t = try clock.measure { _ = try (tuned ? after : before).run(inputs) }.seconds
                if tuned { a.append(t) } else { b.append(t) }
            }
        }
        return TuningReport(device: "\(runtime.device.name) (\(runtime.device.platformName), driver \(runtime.device.driverVersion))",
                            shapes: shapes, skipped: skipped, latencyBefore: median(b), latencyAfter: median(a), budgetExhausted: exhausted,
                            elapsed: elapsed(), databaseFile: database.fileURL(for: runtime.device)?.path)
    }

    /// nil when a candidate's output equals the defaults' within the tolerance, else why not.
    /// Tolerance: |candidate − default| ≤ 1e-3·max|default| + 1e-6 per element. The tuned
    /// parameters change how outputs are tiled over work-items, not the order of each output's sum,
    /// so the two agree up to floating-point contraction (FMA) differences, far below this bound;
    /// a wrong tile (a channel or column skipped or written twice, a read out of range) gives errors
    /// of the order of the values themselves, far above it.
    static func outputsAgree(_ candidate: [Float], _ reference: [Float]) -> String? {
        guard candidate.count == reference.count else { return "output has \(candidate.count) elements, the defaults' \(reference.count)" }
        var scale: Float = 0
        for v in reference where v.isFinite { scale = max(scale, abs(v)) }
        let tol = 1e-3 * scale + 1e-6
        for i in 0..<reference.count {
            let x = candidate[i], y = reference[i]
            if x.isNaN != y.isNaN || (!y.isNaN && abs(x - y) > tol && x != y) {
                return "output element \(i) is \(x), the defaults give \(y) (tolerance \(tol))"
            }
        }
        return nil
    }
}

private func median(_ v: [Double]) -> Double {
    guard !v.isEmpty else { return 0 }
    let s = v.sorted()
    return s[s.count / 2]
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Runs single nodes of a model in isolation on seeded random activations and the model's weights.
final class NodeBench {
    let model: Model
    let runtime: CLRuntime
    let spec: Specialization
    let options: ExecutionOptions
    /// Repacked weights of the current shape (one per channel block tried); dropped per shape.
    private var shared = SharedConstants()
    private var values: [String: DeviceValue] = [:]
    private var random = SplitMix(seed: 0x5EED)

    init(model: Model, runtime: CLRuntime, inputs: [String: Tensor], options: ExecutionOptions = ExecutionOptions()) throws {
        self.model = model
        self.runtime = runtime
        self.options = options
        spec = try model.specialize(inputs)
    }

    /// Frees the previous shape's repacked weights.
    func startShape() { shared = SharedConstants() }

    func nodeIndex(label: String) -> Int? { spec.liveNodes.first { model.graph.nodes[$0].label == label } }

    /// A device value for `name`: the model's constant, or seeded random values in [−1, 1).
    private func value(_ name: String) throws -> DeviceValue? {
        if let v = values[name] { return v }
        guard let t = spec.types[name] else { return nil }
        let v: DeviceValue
        if let c = spec.constants[name] {
            v = DeviceValue(buffer: c.dtype.isFloat ? try runtime.constantBuffer(c.floats) : try runtime.constantBuffer(c.ints), type: t)
        } else if t.dtype.isFloat {
            v = DeviceValue(buffer: try runtime.buffer((0..<t.count).map { _ in random.float() }), type: t)
        } else {
            v = DeviceValue(buffer: try runtime.buffer([Int64](repeating: 0, count: max(t.count, 1))), type: t)
        }
        values[name] = v
        return v
    }

    /// Median device time of node `node` built with `parameters` for `key`, and its first output.
    func measure(node index: Int, key: TuningKey, parameters: [String: Int], repetitions: Int) throws -> (UInt64, [Float]) {
        let node = model.graph.nodes[index]
        let op = model.operators[index]
        let constIdx = Set(type(of: op).constantInputs)
        let ins: [DeviceValue?] = try node.inputs.enumerated().map { j, name in
            name.isEmpty || constIdx.contains(j) ? nil : try value(name)
        }
        let consts = node.inputs.map { $0.isEmpty ? nil : spec.constants[$0] }
        var outs: [DeviceValue] = []
        for name in node.outputs {
            guard let t = spec.types[name] else { continue }
            outs.append(DeviceValue(buffer: try runtime.buffer(bytes: t.count * t.dtype.deviceByteSize), type: t))
        }
        let ctx = EncodeContext(runtime: runtime, node: node, options: options, shared: shared, tuning: nil, candidate: (key, parameters))
        ctx.fixedSpatialSize = model.hasFixedSpatialSize
        try op.encode(ctx, inputs: ins, constants: consts, outputs: outs)
        func run(timed: Bool) throws -> UInt64 {
            var events: [CLEvent] = []
            for step in ctx.steps {
                if let e = try step.enqueue(on: runtime, timed: timed) { events.append(e) }
            }
            try runtime.finish()
            return try events.reduce(0) { $0 + (try $1.durationNanoseconds()) }
        }
        _ = try run(timed: false)
        var times: [UInt64] = []
        for _ in 0..<max(1, repetitions) { times.append(try run(timed: true)) }
        times.sort()
        guard let out = outs.first, out.type.dtype.isFloat else { return (times[times.count / 2], []) }
        return (times[times.count / 2], try runtime.read(out.buffer, count: out.count, as: Float.self))
    }
}

/// Seeded pseudo-random numbers (SplitMix64).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func float() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 23) - 1
    }
}
