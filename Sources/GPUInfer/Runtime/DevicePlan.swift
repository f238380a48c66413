// The OpenCL scheduler: for one set of input shapes it fixes the node order, assigns buffers by
// liveness (values whose lifetimes do not overlap share a buffer), binds every kernel's
// arguments once, and then runs as a list of enqueues on one in-order queue with no host round
// trip between nodes.
import Foundation

/// Time spent in one node, from OpenCL profiling events.
public struct NodeTiming: Sendable {
    public var node: String
    public var op: String
    public var kernels: [String]
    public var nanoseconds: UInt64
    /// Floating-point operations of the node (`Operator.flops`), 0 where it only moves values.
    public var flops: Double = 0
    /// Effective GFLOP/s of the node, nil where it has no arithmetic or took no measurable time.
    public var gflopsPerSecond: Double? { flops > 0 && nanoseconds > 0 ? flops / Double(nanoseconds) : nil }
}

final class DevicePlan: @unchecked Sendable {
    enum Source {
        case device(DeviceValue)
        /// A value whose dimension 0 is an upper bound: rows from the first one starting with −1 are dropped.
        case bounded(DeviceValue)
        case constant(Tensor)
        case input(String)
    }

    let runtime: CLRuntime
    private(set) var steps: [(node: Int, step: PlanStep)] = []
    private(set) var inputs: [String: DeviceValue] = [:]
    private(set) var outputs: [(name: String, source: Source)] = []
    /// Every value's device storage (all of them in `keepAll` mode), for node-by-node checks.
    private(set) var values: [String: DeviceValue] = [:]
    private var retained: [CLBuffer] = []
    private let lock = NSLock()
    let model: Model
    let spec: Specialization
    /// Values whose dimension 0 is only an upper bound (see `Operator.outputRowsAreUpperBound`).
    private(set) var boundedValues = Set<String>()
    /// Bytes of activation memory after buffer reuse, plus the workspace the nodes share.
    private(set) var activationBytes = 0
    /// The tunable kernel parameters every node was built with, in node order.
    private(set) var tuningChoices: [TuningChoice] = []
    /// Floating-point operations per node (by node index) and in all, for one run.
    private(set) var nodeFlops: [Int: Double] = [:]
    var flops: Double { nodeFlops.values.reduce(0, +) }
    /// Kernel launches per run (host-driven steps such as CLBlast calls not counted).
    var kernelLaunches: Int { steps.reduce(0) { n, s in if case .kernel = s.step { return n + 1 } else { return n } } }

    /// Plans `model` for the inputs' shapes. `constantBuffer` uploads (and caches) constants.
    init(model: Model, inputs sample: [String: Tensor], runtime: CLRuntime, keepAll: Bool, options: ExecutionOptions = ExecutionOptions(),
         shared: SharedConstants? = nil, tuning: TuningDatabase? = nil, constantBuffer: (String, Tensor) throws -> DeviceValue) throws {
        self.runtime = runtime
        self.model = model
        spec = try model.specialize(sample)
        nodeFlops = model.nodeFlops(spec)
        let nodes = model.graph.nodes
        let live = spec.liveNodes

        // Storage classes: every value produced by a live node, with aliases merged.
        var storageOf: [String: Int] = [:]
        var storageBytes: [Int] = []
        var storageExternal: [Int: DeviceValue] = [:]  // graph inputs and constants
        func deviceInput(_ name: String) throws -> Int {
            if let s = storageOf[name] { return s }
            let value: DeviceValue
            if let c = spec.constants[name] {
                value = try constantBuffer(name, c)
            } else if let t = spec.types[name], sample[name] != nil {
                value = DeviceValue(buffer: try runtime.buffer(bytes: t.count * t.dtype.deviceByteSize), type: t)
                inputs[name] = value
                retained.append(value.buffer)
            } else {
                throw GPUInferError.invalidModel(location: "value '\(name)'", reason: "has no producer on the device")
            }
            let s = storageBytes.count
            storageBytes.append(value.buffer.bytes)
            storageExternal[s] = value
            storageOf[name] = s
            return s
        }
        var firstDef: [Int: Int] = [:]
        var lastUse: [Int: Int] = [:]
        let graphOutputs = Set(model.graph.outputs.map(\.name))
        for (pos, i) in live.enumerated() {
            let node = nodes[i]
            let op = model.operators[i]
            let constIdx = Set(type(of: op).constantInputs)
            for (j, name) in node.inputs.enumerated() where !name.isEmpty && !constIdx.contains(j) {
                let s = try deviceInput(name)
                lastUse[s] = max(lastUse[s] ?? pos, pos)
            }
            for (o, name) in node.outputs.enumerated() where !name.isEmpty {
                guard let t = spec.types[name] else { continue }
                if let src = op.aliases[o], src < node.inputs.count, let s = storageOf[node.inputs[src]] {
                    storageOf[name] = s
                    storageBytes[s] = max(storageBytes[s], t.count * t.dtype.deviceByteSize)
                } else {
                    let s = storageBytes.count
                    storageBytes.append(t.count * t.dtype.deviceByteSize)
                    storageOf[name] = s
                    firstDef[s] = pos
                }
                lastUse[storageOf[name]!] = max(lastUse[storageOf[name]!] ?? pos, pos)
                if graphOutputs.contains(name) || keepAll { lastUse[storageOf[name]!] = Int.max }
            }
        }

        // Greedy best-fit assignment of storages to physical buffers.
        var slotBytes: [Int] = []
        var slotOfStorage: [Int: Int] = [:]
        var free: [Int] = []
        var releaseAt: [Int: [Int]] = [:]
        for (s, end) in lastUse where storageExternal[s] == nil && end != Int.max { releaseAt[end, default: []].append(s) }
        var definedAt: [Int: [Int]] = [:]
        for (s, pos) in firstDef { definedAt[pos, default: []].append(s) }
        for pos in 0..<live.count {
            for s in (definedAt[pos] ?? []).sorted() {
                let need = storageBytes[s]
                let fit = free.filter { slotBytes[$0] >= need }.min { slotBytes[$0] < slotBytes[$1] }
                    ?? free.max { slotBytes[$0] < slotBytes[$1] }
                if let slot = fit {
                    free.removeAll { $0 == slot }
                    slotBytes[slot] = max(slotBytes[slot], need)
                    slotOfStorage[s] = slot
                } else {
                    slotOfStorage[s] = slotBytes.count
                    slotBytes.append(need)
                }
            }
            for s in releaseAt[pos] ?? [] { if let slot = slotOfStorage[s] { free.append(slot) } }
        }
        let slots = try slotBytes.map { try runtime.buffer(bytes: $0) }
        retained += slots
        activationBytes = slotBytes.reduce(0, +)

        func value(_ name: String) -> DeviceValue? {
            guard let s = storageOf[name], let t = spec.types[name] else { return nil }
            if let ext = storageExternal[s] { return DeviceValue(buffer: ext.buffer, type: t) }
            guard let slot = slotOfStorage[s] else { return nil }
            return DeviceValue(buffer: slots[slot], type: t)
        }

        let workspace = PlanWorkspace()
        for i in live {
            let node = nodes[i]
            let op = model.operators[i]
            let constIdx = Set(type(of: op).constantInputs)
            if let j = node.inputs.firstIndex(where: { boundedValues.contains($0) }) {
                throw GPUInferError.unsupportedOp(op: node.opType, domain: node.domain, node: node.label, opset: model.graph.opset,
                                                  reason: "input \(j) ('\(node.inputs[j])') has a data-dependent number of rows, which the device plan cannot consume (only a graph output can have one)")
            }
            if type(of: op).outputRowsAreUpperBound { boundedValues.formUnion(node.outputs.filter { !$0.isEmpty }) }
            let ins: [DeviceValue?] = node.inputs.enumerated().map { j, name in
                name.isEmpty || constIdx.contains(j) ? nil : value(name)
            }
            let consts = node.inputs.map { $0.isEmpty ? nil : spec.constants[$0] }
            var outs: [DeviceValue] = []
            for name in node.outputs {
                if let v = value(name) { outs.append(v) } else if let t = spec.types[name] {
                    // An unused optional output still needs somewhere to go.
                    let b = try runtime.buffer(bytes: t.count * t.dtype.deviceByteSize)
                    retained.append(b)
                    outs.append(DeviceValue(buffer: b, type: t))
                }
            }
            let ctx = EncodeContext(runtime: runtime, node: node, options: options, shared: shared, workspace: workspace, tuning: tuning)
            try op.encode(ctx, inputs: ins, constants: consts, outputs: outs)
            steps += ctx.steps.map { (i, $0) }
            tuningChoices += ctx.tuningChoices
            retained += ctx.retained
        }
        // The programs built in the background while the nodes were encoded: wait for them and
        // create every kernel object now, so a build error surfaces here, not at the first run.
        for (_, step) in steps {
            if case let .kernel(k, _, _) = step { try k.materialize() }
        }
        retained += workspace.retained
        activationBytes += workspace.retained.reduce(0) { $0 + $1.bytes }
        for name in Set(storageOf.keys) { if let v = value(name) { values[name] = v } }
        for o in model.graph.outputs {
            if let c = spec.constants[o.name] {
                outputs.append((o.name, .constant(c)))
            } else if let v = value(o.name) {
                outputs.append((o.name, boundedValues.contains(o.name) ? .bounded(v) : .device(v)))
            } else if sample[o.name] != nil {
                outputs.append((o.name, .input(o.name)))
            } else {
                throw GPUInferError.invalidModel(location: "output '\(o.name)'", reason: "is not computed by the plan")
            }
        }
    }

    /// Runs the plan. With `profile` (and a profiling queue) per-node timings are returned too.
    func run(_ feeds: [String: Tensor], profile: Bool = false) throws -> (outputs: [String: Tensor], timings: [NodeTiming]) {
        lock.lock()
        defer { lock.unlock() }
        for (name, buffer) in inputs {
            guard let t = feeds[name] else { throw GPUInferError.invalidInput("missing input '\(name)'") }
            guard t.shape == buffer.type.shape else {
                throw GPUInferError.invalidInput("input '\(name)' has shape \(t.shape), the plan was built for \(buffer.type.shape)")
            }
            if buffer.type.dtype.isFloat { try runtime.write(buffer.buffer, t.floats) } else { try runtime.write(buffer.buffer, t.ints) }
        }
        var events: [(Int, String, CLEvent)] = []
        for (node, step) in steps {
            if let e = try step.enqueue(on: runtime, timed: profile && runtime.profiling) { events.append((node, step.name, e)) }
        }
        var result: [String: Tensor] = [:]
        for (name, source) in outputs {
            switch source {
            case let .constant(t): result[name] = t
            case let .device(v): result[name] = try read(v)
            case let .bounded(v): result[name] = try readRows(v)
            case let .input(n): result[name] = feeds[n]
            }
        }
        var timings: [NodeTiming] = []
        if profile {
            try runtime.finish()
            var byNode: [Int: NodeTiming] = [:]
            var order: [Int] = []
            for (node, kernel, e) in events {
                let ns = try e.durationNanoseconds()
                if byNode[node] == nil {
                    order.append(node)
                    byNode[node] = NodeTiming(node: model.graph.nodes[node].label, op: model.graph.nodes[node].opType, kernels: [], nanoseconds: 0,
                                               flops: nodeFlops[node] ?? 0)
                }
                byNode[node]!.nanoseconds += ns
                if !byNode[node]!.kernels.contains(kernel) { byNode[node]!.kernels.append(kernel) }
            }
            timings = order.compactMap { byNode[$0] }
        }
        return (result, timings)
    }

    /// Reads a value whose rows past the data-dependent count start with −1, without those rows.
    func readRows(_ v: DeviceValue) throws -> Tensor {
        let t = try read(v)
        guard let rows = v.type.shape.first, rows > 0, !t.dtype.isFloat else { return t }
        let width = t.count / rows
        var used = 0
        while used < rows && t.ints[used * width] != -1 { used += 1 }
        return Tensor(shape: [used] + v.type.shape.dropFirst(), ints: Array(t.ints.prefix(used * width)), dtype: t.dtype)
    }

    /// Reads a device value back into a host tensor.
    func read(_ v: DeviceValue) throws -> Tensor {
        if v.type.dtype.isFloat {
            return Tensor(shape: v.type.shape, floats: try runtime.read(v.buffer, count: v.count, as: Float.self))
        }
        return Tensor(shape: v.type.shape, ints: try runtime.read(v.buffer, count: v.count, as: Int64.self), dtype: v.type.dtype)
    }
}

extension PlanStep {
    /// The kernel's name, or the custom step's.
    var name: String {
        switch self {
        case let .kernel(k, _, _): k.name
        case let .custom(name, _): name
        }
    }

    /// Enqueues this step on `runtime`'s in-order queue — the one enqueue path of plans
    /// (`DevicePlan.run`) and of single nodes (the tuner's `NodeBench`, stage tests). With `timed`
    /// it returns the kernel's profiling event (custom steps return none).
    func enqueue(on runtime: CLRuntime, timed: Bool) throws -> CLEvent? {
        switch self {
        case let .kernel(k, global, local): return try runtime.enqueue(k, global: global, local: local, wantEvent: timed)
        case let .custom(_, body):
            try body(runtime)
            return nil
        }
    }
}
