// The OpenCL scheduler: for one set of input shapes it fixes the node order, assigns buffers by
// liveness (values whose lifetimes do not overlap share a buffer), binds every kernel's
// arguments once, and then runs as a list of enqueues on one in-order queue with no host round
// trip between nodes. A graph whose shapes depend on computed values (NonMaxSuppression →
// Gather, NonZero, a TopK whose k is counted on the device) runs as a chain of such plans: each
// segment ends where a shape or a plan-time value must be known, the few bytes that say it are
// read back, and the next segment — planned for those sizes, cached per size — continues on
// the buffers the earlier ones left on the device.
import Foundation

/// What the cuts between plan segments cost in one run (`Session.lastCuts`).
public struct CutStatistics: Sendable {
    /// Segments after the first one that ran.
    public var cuts = 0
    /// Bytes read back to plan them (shapes and plan-time values; no tensor data).
    public var bytesRead = 0
    /// Host time from the device finishing a segment to the next one being ready to enqueue
    /// (the read back and the lookup, or the planning of a size not seen before), summed.
    public var nanosecondsBetween: UInt64 = 0
    /// Segments that had to be planned in this run (sizes not in the cache).
    public var plansBuilt = 0
}

/// What the segments of one chain share: how they are built, their buffer pools and the cache of
/// continuations. Runs of a chain are serialised by `lock`.
final class PlanChain: @unchecked Sendable {
    let model: Model
    let runtime: CLRuntime
    let keepAll: Bool
    let options: ExecutionOptions
    let shared: SharedConstants?
    let tuning: TuningDatabase?
    let constantBuffer: (String, Tensor) throws -> DeviceValue
    let lock = NSLock()
    /// Activation and workspace buffers of the continuation segments, one pool per depth: the
    /// segments of one depth (one per size seen) never run at the same time, so they share them.
    var pools: [Int: (slots: PlanWorkspace, workspace: PlanWorkspace)] = [:]
    /// At most this many continuation segments are cached per segment (least recently used dropped).
    static let maxContinuations = 64
    var lastCuts = CutStatistics()

    init(model: Model, runtime: CLRuntime, keepAll: Bool, options: ExecutionOptions, shared: SharedConstants?, tuning: TuningDatabase?,
         constantBuffer: @escaping (String, Tensor) throws -> DeviceValue) {
        self.model = model
        self.runtime = runtime
        self.keepAll = keepAll
        self.options = options
        self.shared = shared
        self.tuning = tuning
        self.constantBuffer = constantBuffer
    }
}

/// Time spent in one node, from OpenCL profiling events.
public struct NodeTiming: Sendable {
    public var node: String
    public var op: String
    public var kernels: [String]
    public var nanoseconds: UInt64
    /// Device time per kernel name (summed over its launches in this node), and launches.
    public var kernelTimes: [String: (nanoseconds: UInt64, launches: Int)] = [:]
    /// Floating-point operations of the node (`Operator.flops`), 0 where it only moves values.
    public var flops: Double = 0
    /// Effective GFLOP/s of the node, nil where it has no arithmetic or took no measurable time.
    public var gflopsPerSecond: Double? { flops > 0 && nanoseconds > 0 ? flops / Double(nanoseconds) : nil }
}

final class DevicePlan: @unchecked Sendable {
    enum Source {
        case device(DeviceValue)
        case constant(Tensor)
        case input(String)
    }

    let runtime: CLRuntime
    private(set) var steps: [(node: Int, step: PlanStep)] = []
    /// The graph inputs this plan uploads (the first segment only).
    private(set) var inputs: [String: DeviceValue] = [:]
    /// Values computed by earlier segments (and the graph inputs), with their real shapes.
    let external: [String: DeviceValue]
    /// The graph outputs and where to read them (the last segment only).
    private(set) var outputs: [(name: String, source: Source)] = []
    /// The values this segment computes that stay valid after it: graph outputs, values later
    /// segments use (every value in `keepAll` mode, for node-by-node checks).
    private(set) var values: [String: DeviceValue] = [:]
    private var retained: [CLBuffer] = []
    let chain: PlanChain
    var model: Model { chain.model }
    let spec: Specialization
    /// Where the data-dependent nodes of this segment write their outputs' real shapes.
    private(set) var shapeBuffer: CLBuffer?
    private var shapeSlots: [(name: String, offset: Int, rank: Int)] = []
    /// Continuation segments by the sizes and values read back, least recently used first.
    private var continuations: [[Int64]: DevicePlan] = [:]
    private var continuationOrder: [[Int64]] = []
    /// Bytes of activation memory after buffer reuse, plus the workspace the nodes share.
    private(set) var activationBytes = 0
    /// The tunable kernel parameters every node was built with, in node order.
    private(set) var tuningChoices: [TuningChoice] = []
    /// Floating-point operations per node (by node index) and in all, for one run.
    private(set) var nodeFlops: [Int: Double] = [:]
    var flops: Double { nodeFlops.values.reduce(0, +) }
    /// Kernel launches per run (host-driven steps such as CLBlast calls not counted).
    var kernelLaunches: Int { steps.reduce(0) { n, s in if case .kernel = s.step { return n + 1 } else { return n } } }

    /// Plans the first segment of `model` for the inputs' shapes. `constantBuffer` uploads (and caches) constants.
    convenience init(model: Model, inputs sample: [String: Tensor], runtime: CLRuntime, keepAll: Bool, options: ExecutionOptions = ExecutionOptions(),
                     shared: SharedConstants? = nil, tuning: TuningDatabase? = nil,
                     constantBuffer: @escaping (String, Tensor) throws -> DeviceValue) throws {
        let chain = PlanChain(model: model, runtime: runtime, keepAll: keepAll, options: options, shared: shared, tuning: tuning, constantBuffer: constantBuffer)
        try self.init(segment: try model.specialize(sample), sample: sample, external: [:], chain: chain)
    }

    /// Plans one segment: `spec`'s live nodes, reading `external` values left by earlier segments.
    init(segment spec: Specialization, sample: [String: Tensor], external: [String: DeviceValue], chain: PlanChain) throws {
        let model = chain.model, runtime = chain.runtime, keepAll = chain.keepAll
        self.runtime = runtime
        self.chain = chain
        self.spec = spec
        self.external = external
        nodeFlops = model.nodeFlops(spec)
        let constantBuffer = chain.constantBuffer
        let pool = spec.depth > 0 ? chain.pools[spec.depth, default: (PlanWorkspace(), PlanWorkspace())] : nil
        if let pool { chain.pools[spec.depth] = pool }
        let nodes = model.graph.nodes
        let live = spec.liveNodes

        // Storage classes: every value produced by a live node, with aliases merged.
        var storageOf: [String: Int] = [:]
        var storageBytes: [Int] = []
        var storageExternal: [Int: DeviceValue] = [:]  // graph inputs and constants
        func deviceInput(_ input: String) throws -> Int {
            let name = spec.resolve(input)
            if let s = storageOf[name] { return s }
            let value: DeviceValue
            if let c = spec.constants[name] {
                value = try constantBuffer(name, c)
                retained.append(value.buffer)  // a derived constant lives only in this plan
            } else if let v = external[name] {
                value = v
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
        // Values that must outlive this segment: graph outputs, what later segments read.
        var keep = graphOutputs.union(spec.readBack).union(spec.dynamicValues)
        for i in spec.deferred { keep.formUnion(nodes[i].inputs.filter { !$0.isEmpty }) }
        keep = Set(keep.map(spec.resolve))
        // Graph inputs only later segments read are uploaded with the others, by the first one.
        for name in keep.sorted() where sample[name] != nil && spec.constants[name] == nil { _ = try deviceInput(name) }
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
                if keep.contains(name) || keepAll { lastUse[storageOf[name]!] = Int.max }
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
        let slots = try slotBytes.enumerated().map { i, bytes in
            try pool?.slots.buffer(i, bytes: bytes, runtime: runtime) ?? runtime.buffer(bytes: bytes)
        }
        retained += slots
        activationBytes = slotBytes.reduce(0, +)

        func value(_ input: String) -> DeviceValue? {
            let name = spec.resolve(input)
            guard let s = storageOf[name], let t = spec.types[name] else { return nil }
            if let ext = storageExternal[s] { return DeviceValue(buffer: ext.buffer, type: t) }
            guard let slot = slotOfStorage[s] else { return nil }
            return DeviceValue(buffer: slots[slot], type: t)
        }

        let workspace = pool?.workspace ?? PlanWorkspace()
        // One slot of `long`s per dimension of every data-dependent output.
        var slotOffsets: [Int: [Int]] = [:]
        for i in live where type(of: model.operators[i]).hasDataDependentShape {
            var offsets: [Int] = []
            for name in nodes[i].outputs {
                let rank = name.isEmpty ? 0 : spec.types[name]?.shape.count ?? 0
                offsets.append(shapeSlots.reduce(0) { $0 + $1.rank })
                shapeSlots.append((name, offsets.last ?? 0, rank))
            }
            slotOffsets[i] = offsets
        }
        let shapeLongs = shapeSlots.reduce(0) { $0 + $1.rank }
        if shapeLongs > 0 {
            let b = try runtime.buffer(bytes: shapeLongs * 8)
            retained.append(b)
            shapeBuffer = b
        }
        shapeSlots.removeAll { $0.name.isEmpty }
        for i in live {
            let node = nodes[i]
            let op = model.operators[i]
            let constIdx = Set(type(of: op).constantInputs)
            let ins: [DeviceValue?] = node.inputs.enumerated().map { j, name in
                name.isEmpty || constIdx.contains(j) ? nil : value(name)
            }
            let consts = node.inputs.map { $0.isEmpty ? nil : spec.constants[$0] }
            // Outputs by position, one per output the op computes: an unused output, one the node
            // leaves unnamed ("") and one it omits at the end still need somewhere to go.
            // (Their types come from the specialization, `unnamedOutputTypes`.)
            var outs: [DeviceValue] = []
            func scratch(_ t: TensorType) throws -> DeviceValue {
                let b = try runtime.buffer(bytes: t.count * t.dtype.deviceByteSize)
                retained.append(b)
                return DeviceValue(buffer: b, type: t)
            }
            let allTypes = spec.unnamedOutputTypes[i] ?? []
            for (p, name) in node.outputs.enumerated() {
                if let v = value(name) { outs.append(v) } else if let t = spec.types[name] {
                    outs.append(try scratch(t))
                } else if name.isEmpty, let t = allTypes.dropFirst(p).first {
                    outs.append(try scratch(t))
                }
            }
            for t in allTypes.dropFirst(outs.count) { outs.append(try scratch(t)) }
            let ctx = EncodeContext(runtime: runtime, node: node, options: chain.options, shared: chain.shared, workspace: workspace, tuning: chain.tuning)
            ctx.fixedSpatialSize = model.hasFixedSpatialSize
            if let offsets = slotOffsets[i], let shapeBuffer { ctx.shapeSlots = (shapeBuffer, offsets) }
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
        if pool == nil { retained += workspace.retained }
        activationBytes += workspace.retained.reduce(0) { $0 + $1.bytes }
        for i in live {
            for name in nodes[i].outputs where !name.isEmpty && (keepAll || keep.contains(name)) {
                if let v = value(name) { values[name] = v }
            }
        }
        if !spec.continues {
            for o in model.graph.outputs {
                if let c = spec.constants[o.name] {
                    outputs.append((o.name, .constant(c)))
                } else if let v = values[spec.resolve(o.name)] ?? value(o.name) ?? external[spec.resolve(o.name)],
                          !model.inputs.contains(where: { $0.name == spec.resolve(o.name) }) {
                    outputs.append((o.name, .device(v)))
                } else if model.inputs.contains(where: { $0.name == spec.resolve(o.name) }) {
                    outputs.append((o.name, .input(spec.resolve(o.name))))
                } else {
                    throw GPUInferError.invalidModel(location: "output '\(o.name)'", reason: "is not computed by the plan")
                }
            }
        }
    }

    /// Reads this segment's data-dependent shapes and the values later nodes need at plan time:
    /// a few bytes, no tensor data. `key` is every long read (the shape slots' layout is fixed per
    /// segment), then each value's bits: it names the continuation.
    private func readSizes() throws -> (longs: [Int64], values: [String: Tensor], key: [Int64], bytes: Int) {
        var longs: [Int64] = [], values: [String: Tensor] = [:]
        var bytes = 0
        if let shapeBuffer, !shapeSlots.isEmpty {
            longs = try runtime.read(shapeBuffer, count: shapeBuffer.bytes / 8, as: Int64.self)
            bytes += shapeBuffer.bytes
        }
        var key = longs
        for name in spec.readBack {
            guard let v = self.values[name] ?? external[name] ?? inputs[name] else {
                throw GPUInferError.invalidModel(location: "value '\(name)'", reason: "is needed at plan time but no segment kept it")
            }
            let t = try read(v)
            bytes += t.count * (t.dtype.isFloat ? 4 : 8)
            values[name] = t
            key.append(Int64(t.count))
            key += t.dtype.isFloat ? t.floats.map { Int64($0.bitPattern) } : t.ints
        }
        return (longs, values, key, bytes)
    }

    /// The real shapes of this segment's data-dependent values and of the values row-bounded by
    /// them, from the longs of its shape buffer.
    func realShapes(_ longs: [Int64]) -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        for slot in shapeSlots where slot.offset + slot.rank <= longs.count {
            shapes[slot.name] = longs[slot.offset..<slot.offset + slot.rank].map { Int(clamping: $0) }
        }
        for (name, source) in spec.rowBound {
            guard let rows = shapes[source]?.first, let bound = spec.types[name], !bound.shape.isEmpty else { continue }
            shapes[name] = [min(rows, bound.shape[0])] + bound.shape.dropFirst()
        }
        return shapes
    }

    /// The segment after this one for the sizes just read: cached, or planned now.
    private func continuation(longs: [Int64], values readValues: [String: Tensor], key: [Int64], cuts: inout CutStatistics) throws -> DevicePlan {
        if let next = continuations[key] {
            if continuationOrder.last != key, let i = continuationOrder.firstIndex(of: key) { continuationOrder.append(continuationOrder.remove(at: i)) }
            return next
        }
        let nextSpec = try model.continueSpecialization(spec, shapes: realShapes(longs), values: readValues)
        var passed: [String: DeviceValue] = [:]
        for (name, v) in external.merging(inputs, uniquingKeysWith: { a, _ in a }).merging(values, uniquingKeysWith: { _, b in b }) {
            guard let t = nextSpec.types[name] else { continue }
            passed[name] = DeviceValue(buffer: v.buffer, type: t)
        }
        let next = try DevicePlan(segment: nextSpec, sample: [:], external: passed, chain: chain)
        cuts.plansBuilt += 1
        while continuations.count >= PlanChain.maxContinuations, !continuationOrder.isEmpty {
            continuations[continuationOrder.removeFirst()] = nil
        }
        continuations[key] = next
        continuationOrder.append(key)
        return next
    }

    /// The result of one run: the graph outputs, per-node timings (with `profile`), and the
    /// segments that ran, first to last.
    struct RunResult {
        var outputs: [String: Tensor]
        var timings: [NodeTiming]
        var segments: [DevicePlan]
        /// Real shapes of the last segment's data-dependent and row-bounded values.
        var finalShapes: [String: [Int]]
    }

    /// Runs the plan, and the segments its data-dependent shapes lead to. With `profile` (and a
    /// profiling queue) per-node timings are returned too.
    func run(_ feeds: [String: Tensor], profile: Bool = false) throws -> RunResult {
        chain.lock.lock()
        defer { chain.lock.unlock() }
        for (name, buffer) in inputs {
            guard let t = feeds[name] else { throw GPUInferError.invalidInput("missing input '\(name)'") }
            guard t.shape == buffer.type.shape else {
                throw GPUInferError.invalidInput("input '\(name)' has shape \(t.shape), the plan was built for \(buffer.type.shape)")
            }
            if buffer.type.dtype.isFloat { try runtime.write(buffer.buffer, t.floats) } else { try runtime.write(buffer.buffer, t.ints) }
        }
        var events: [(Int, String, CLEvent)] = []
        var segment = self
        var segments = [self]
        var cuts = CutStatistics()
        while true {
            for (node, step) in segment.steps {
                if let e = try step.enqueue(on: runtime, timed: profile && runtime.profiling) { events.append((node, step.name, e)) }
            }
            guard segment.spec.continues else { break }
            try runtime.finish()
            let start = DispatchTime.now().uptimeNanoseconds
            let sizes = try segment.readSizes()
            segment = try segment.continuation(longs: sizes.longs, values: sizes.values, key: sizes.key, cuts: &cuts)
            cuts.cuts += 1
            cuts.bytesRead += sizes.bytes
            cuts.nanosecondsBetween += DispatchTime.now().uptimeNanoseconds - start
            segments.append(segment)
        }
        // Outputs of the last segment's data-dependent nodes (and the values row-bounded by
        // them) are read in their real shapes, which its shape buffer holds.
        var finalShapes: [String: [Int]] = [:]
        if !segment.spec.dynamicValues.isEmpty, let shapeBuffer = segment.shapeBuffer {
            let longs = try runtime.read(shapeBuffer, count: shapeBuffer.bytes / 8, as: Int64.self)
            cuts.bytesRead += shapeBuffer.bytes
            finalShapes = segment.realShapes(longs)
        }
        chain.lastCuts = cuts
        var result: [String: Tensor] = [:]
        for (name, source) in segment.outputs {
            switch source {
            case let .constant(t): result[name] = t
            case let .device(v):
                if let shape = finalShapes[segment.spec.resolve(name)] {
                    result[name] = try read(DeviceValue(buffer: v.buffer, type: TensorType(v.type.dtype, shape)))
                } else {
                    result[name] = try read(v)
                }
            case let .input(n): result[name] = feeds[n]
            }
        }
        var timings: [NodeTiming] = []
        if profile {
            try runtime.finish()
            var byNode: [Int: NodeTiming] = [:]
            var order: [Int] = []
            let flops = segments.reduce(into: [Int: Double]()) { f, s in f.merge(s.nodeFlops) { a, _ in a } }
            for (node, kernel, e) in events {
                let ns = try e.durationNanoseconds()
                if byNode[node] == nil {
                    order.append(node)
                    byNode[node] = NodeTiming(node: model.graph.nodes[node].label, op: model.graph.nodes[node].opType, kernels: [], nanoseconds: 0,
                                               flops: flops[node] ?? 0)
                }
                byNode[node]!.nanoseconds += ns
                byNode[node]!.kernelTimes[kernel, default: (0, 0)].nanoseconds += ns
                byNode[node]!.kernelTimes[kernel, default: (0, 0)].launches += 1
                if !byNode[node]!.kernels.contains(kernel) { byNode[node]!.kernels.append(kernel) }
            }
            timings = order.compactMap { byNode[$0] }
        }
        return RunResult(outputs: result, timings: timings, segments: segments, finalShapes: finalShapes)
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
