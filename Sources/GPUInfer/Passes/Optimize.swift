// Load-time graph passes: constant folding, BatchNormalization folded into a preceding Conv,
// and dead-node removal. Each pass keeps the graph's outputs and values unchanged.

extension Graph {
    /// Evaluates every node whose inputs are all constants (on the reference backend) and turns
    /// its outputs into initializers. Returns the number of nodes folded.
    @discardableResult
    mutating func foldConstants(maxElements: Int = 1 << 24) throws -> Int {
        var kept: [Node] = []
        var folded = 0
        let graphInputs = Set(runtimeInputs.map(\.name))
        for node in nodes {
            let inputsConstant = node.inputs.allSatisfy { $0.isEmpty || (initializers[$0] != nil && !graphInputs.contains($0)) }
            // Nodes of an If branch run only when it is taken: never folded ahead of the condition.
            guard inputsConstant, node.guards.isEmpty, node.domain.isEmpty, OpRegistry.supports(node.opType) else {
                kept.append(node)
                continue
            }
            let op = try OpRegistry.make(node, opset: opset)
            let inputs = node.inputs.map { $0.isEmpty ? nil : initializers[$0] }
            let inputCount = inputs.reduce(0) { $0 + ($1?.count ?? 0) }
            // Big constant subgraphs stay as nodes only if folding would create huge tensors.
            let types = try op.inferTypes(inputs.map { $0.map { TensorType($0.dtype, $0.shape) } }, constants: inputs)
            let outputCount = types.reduce(0) { $0.addingReportingOverflow($1.count).overflow ? Int.max : $0 + $1.count }
            guard outputCount <= max(maxElements, inputCount) else {
                kept.append(node)
                continue
            }
            let outputs = try op.reference(inputs)
            for (name, value) in zip(node.outputs, outputs) where !name.isEmpty { initializers[name] = value }
            folded += 1
        }
        nodes = kept
        return folded
    }

    /// How many times each value is used (node inputs, and graph outputs count once each), and the
    /// index of the node producing each value.
    func valueUses() -> (consumers: [String: Int], producer: [String: Int]) {
        var consumers: [String: Int] = [:]
        for n in nodes { for i in n.inputs { consumers[i, default: 0] += 1 } }
        for o in outputs { consumers[o.name, default: 0] += 1 }
        var producer: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { for o in n.outputs { producer[o] = i } }
        return (consumers, producer)
    }

    /// Folds `BatchNormalization(Conv(x, W, b))` into the Conv when the Conv output has no other
    /// consumer and all BN parameters are constants:
    /// W'[o] = W[o]·γ[o]/√(σ²[o]+ε),  b'[o] = (b[o]−μ[o])·γ[o]/√(σ²[o]+ε) + β[o].
    /// Returns the number of BatchNormalization nodes folded.
    @discardableResult
    mutating func foldBatchNormIntoConv() -> Int {
        let (consumers, producer) = valueUses()
        var removed = Set<Int>()
        for (bi, bn) in nodes.enumerated() where bn.opType == "BatchNormalization" && bn.domain.isEmpty {
            guard bn.inputs.count == 5, bn.outputs.count == 1 || bn.outputs.dropFirst().allSatisfy(\.isEmpty),
                  let ci = producer[bn.inputs[0]], !removed.contains(ci), nodes[ci].opType == "Conv", nodes[ci].domain.isEmpty,
                  consumers[bn.inputs[0]] == 1,
                  let w = initializers[nodes[ci].inputs.count > 1 ? nodes[ci].inputs[1] : ""], w.dtype == .float32, w.rank >= 3,
                  let gamma = initializers[bn.inputs[1]], let beta = initializers[bn.inputs[2]],
                  let mean = initializers[bn.inputs[3]], let variance = initializers[bn.inputs[4]]
            else { continue }
            let outC = w.shape[0]
            guard [gamma, beta, mean, variance].allSatisfy({ $0.count == outC && $0.dtype == .float32 }) else { continue }
            let eps = (try? bn.float("epsilon", default: 1e-5)) ?? 1e-5
            let conv = nodes[ci]
            var bias = [Float](repeating: 0, count: outC)
            if conv.inputs.count > 2, !conv.inputs[2].isEmpty {
                guard let b = initializers[conv.inputs[2]], b.count == outC, b.dtype == .float32 else { continue }
                bias = b.floats
            }
            let perOut = w.count / max(outC, 1)
            var nw = w.floats
            var nb = bias
            for o in 0..<outC {
                let scale = gamma.floats[o] / (variance.floats[o] + eps).squareRoot()
                for k in 0..<perOut { nw[o * perOut + k] *= scale }
                nb[o] = (bias[o] - mean.floats[o]) * scale + beta.floats[o]
            }
            let wName = conv.label + "/bn_folded_weight"
            let bName = conv.label + "/bn_folded_bias"
            initializers[wName] = Tensor(shape: w.shape, floats: nw)
            initializers[bName] = Tensor(shape: [outC], floats: nb)
            var fused = conv
            fused.inputs = [conv.inputs[0], wName, bName]
            fused.outputs = [bn.outputs[0]]
            nodes[ci] = fused
            removed.insert(bi)
        }
        nodes = nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        return removed.count
    }

    /// The activation `a` computes, when the conv kernels can apply it at their store
    /// (`FusedActivation.of`: the node's operator type, constant parameters only).
    func fusableActivation(_ a: Node) -> FusedActivation? {
        FusedActivation.of(a, opset: opset) { initializers[$0] }
    }

    /// Whether node `ci` applies an activation at its store and has none yet: a Conv without a
    /// fused residual, a Gemm or a MatMul (all run their kernels' `act`).
    private func acceptsActivation(_ ci: Int) -> Bool {
        let c = nodes[ci]
        guard c.domain.isEmpty, c.outputs.count == 1, !FusedActivation.isFused(c) else { return false }
        return c.opType == "Conv" ? c.attributes[Conv.residualAttribute] == nil : ["Gemm", "MatMul"].contains(c.opType)
    }

    /// Whether node `ci` is a Conv that can take a fused activation (none yet, no fused residual).
    private func isPlainConv(_ ci: Int) -> Bool { nodes[ci].opType == "Conv" && acceptsActivation(ci) }

    /// The HardSwish that paddle2onnx and other exporters write as
    /// `Div(Mul(t, Clip(Add(t, a), 0, h)), h)` (either operand order of the Add and the Mul), starting
    /// at the Add `ai`, where t is the output of a node that takes a fused activation, consumed only
    /// by the Add and the Mul, every intermediate value has one consumer, and a, 0, h, h are
    /// constants: the producer, the four nodes, the chain's output and the activation
    /// (`hardSwishDiv`, the same fp32 operations), or nil.
    private func hardSwishDivChain(_ ai: Int, consumers: [String: Int], producer: [String: Int], users: [String: [Int]])
        -> (producer: Int, nodes: [Int], output: String, activation: FusedActivation)? {
        let add = nodes[ai]
        guard add.opType == "Add", add.domain.isEmpty, add.inputs.count == 2, add.outputs.count == 1, consumers[add.outputs[0]] == 1 else { return nil }
        func scalar(_ name: String) -> Float? {
            guard let t = initializers[name], t.count == 1, t.dtype == .float32, t.floats[0].isFinite else { return nil }
            return t.floats[0]
        }
        guard let j = add.inputs.indices.first(where: { producer[add.inputs[$0]] != nil && scalar(add.inputs[1 - $0]) != nil }),
              let offset = scalar(add.inputs[1 - j]) else { return nil }
        let t = add.inputs[j]
        guard let ci = producer[t], acceptsActivation(ci), consumers[t] == 2 else { return nil }
        // The one consumer of a value, by index.
        func only(_ value: String) -> Int? {
            guard consumers[value] == 1, let u = users[value], u.count == 1 else { return nil }
            return u[0]
        }
        guard let clipIndex = only(add.outputs[0]), nodes[clipIndex].opType == "Clip", nodes[clipIndex].inputs.first == add.outputs[0],
              let bounds = fusableActivation(nodes[clipIndex]), bounds.kind == .clamp, bounds.lo == 0, bounds.hi.isFinite, bounds.hi > 0,
              let mulIndex = only(nodes[clipIndex].outputs[0]), nodes[mulIndex].opType == "Mul", nodes[mulIndex].domain.isEmpty,
              nodes[mulIndex].inputs.count == 2, Set(nodes[mulIndex].inputs) == [t, nodes[clipIndex].outputs[0]],
              let divIndex = only(nodes[mulIndex].outputs[0]), nodes[divIndex].opType == "Div", nodes[divIndex].domain.isEmpty,
              nodes[divIndex].inputs.count == 2, nodes[divIndex].inputs[0] == nodes[mulIndex].outputs[0],
              scalar(nodes[divIndex].inputs[1]) == bounds.hi, nodes[divIndex].outputs.count == 1 else { return nil }
        return (ci, [ai, clipIndex, mulIndex, divIndex], nodes[divIndex].outputs[0], FusedActivation(.hardSwishDiv, alpha: offset, beta: bounds.hi))
    }

    /// Folds into a Conv, Gemm or MatMul the activation that is the only consumer of its output (Relu, Clip with
    /// constant bounds, LeakyRelu, scalar PRelu, HardSigmoid, HardSwish, Sigmoid, Tanh, Mish: see
    /// `FusedActivation.of`), the gated pattern `Mul(t, gate(t))` with gate Sigmoid (SiLU) or
    /// HardSigmoid (HardSwish) where the gate and the Mul are the output's only two consumers, and
    /// the exporters' `Div(Mul(t, Clip(Add(t, 3), 0, 6)), 6)` HardSwish (`hardSwishDivChain`).
    /// The fused node takes the last node's output name and its place stays (its inputs are all defined
    /// before it). Returns the number of activation patterns fused.
    mutating func fuseConvActivation() -> Int {
        let (consumers, producer) = valueUses()
        // The nodes consuming each value (each node once), for the multi-node patterns.
        var users: [String: [Int]] = [:]
        for (i, n) in nodes.enumerated() { for v in Set(n.inputs) where !v.isEmpty { users[v, default: []].append(i) } }
        var removed = Set<Int>()
        var fusedCount = 0
        // Node `ci` takes `activation` and the output of the last fused node; `fusedNodes` go.
        func fuse(into ci: Int, _ activation: FusedActivation, output: String, removing fusedNodes: [Int]) {
            var fused = nodes[ci]
            activation.attach(to: &fused)
            fused.outputs = [output]
            nodes[ci] = fused
            removed.formUnion(fusedNodes)
            fusedCount += 1
        }
        for (ai, a) in nodes.enumerated() where !removed.contains(ai) {
            if let chain = hardSwishDivChain(ai, consumers: consumers, producer: producer, users: users), !removed.contains(chain.producer),
               chain.nodes.allSatisfy({ !removed.contains($0) }) {
                fuse(into: chain.producer, chain.activation, output: chain.output, removing: chain.nodes)
                continue
            }
            guard let activation = fusableActivation(a), let input = a.inputs.first, let ci = producer[input], !removed.contains(ci),
                  acceptsActivation(ci) else { continue }
            if consumers[input] == 1 {
                fuse(into: ci, activation, output: a.outputs[0], removing: [ai])
                continue
            }
            // x * gate(x): the gate's output feeds only a Mul whose other operand is x.
            guard let gated = activation.gated, consumers[input] == 2, consumers[a.outputs[0]] == 1,
                  let mi = users[a.outputs[0]]?.first(where: { i in
                      !removed.contains(i) && nodes[i].opType == "Mul" && nodes[i].domain.isEmpty && nodes[i].outputs.count == 1
                          && nodes[i].inputs.count == 2 && Set(nodes[i].inputs) == [input, a.outputs[0]]
                  }) else { continue }
            fuse(into: ci, gated, output: nodes[mi].outputs[0], removing: [ai, mi])
        }
        nodes = nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        return fusedCount
    }

    /// Folds a residual `Add(Conv(x), r)` (either operand order), and a Relu or constant-bound Clip
    /// that is the Add's only consumer, into the Conv: the Conv gets `r` as a fourth input and the
    /// attribute `gpuinfer.residual`, and computes act((Σ w·x + b) + r), the very fp32 operations
    /// of the unfused nodes. The Conv's output must have no other consumer and the Conv no fused
    /// activation of its own (act-then-add differs). The fused node takes the Add's place in the
    /// node order, after the producer of `r`. Returns the number of Add nodes fused.
    mutating func fuseConvResidual() -> Int {
        let (consumers, producer) = valueUses()
        var removed = Set<Int>()
        var fusedCount = 0
        for (ai, add) in nodes.enumerated() where add.opType == "Add" && add.domain.isEmpty {
            guard add.inputs.count == 2, add.outputs.count == 1, add.inputs[0] != add.inputs[1], !add.inputs.contains("") else { continue }
            // The operand produced by a fusable Conv (the first one if both are).
            let pick = add.inputs.indices.first { j in
                guard let ci = producer[add.inputs[j]], !removed.contains(ci) else { return false }
                let c = nodes[ci]
                return isPlainConv(ci) && consumers[add.inputs[j]] == 1 && c.inputs.count >= 2 && c.inputs.count <= 3
                    && initializers[add.inputs[1 - j]] == nil
            }
            guard let j = pick, let ci = producer[add.inputs[j]] else { continue }
            var fused = nodes[ci]
            let bias = fused.inputs.count > 2 ? fused.inputs[2] : ""
            fused.inputs = [fused.inputs[0], fused.inputs[1], bias, add.inputs[1 - j]]
            fused.attributes[Conv.residualAttribute] = .int(1)
            fused.outputs = add.outputs
            // An activation that is the Add's only consumer joins as the fused activation.
            if consumers[add.outputs[0]] == 1,
               let ri = nodes.indices.first(where: { !removed.contains($0) && nodes[$0].inputs.first == add.outputs[0] }),
               let activation = fusableActivation(nodes[ri]) {
                activation.attach(to: &fused)
                fused.outputs = nodes[ri].outputs
                removed.insert(ri)
            }
            nodes[ai] = fused
            removed.insert(ci)
            fusedCount += 1
        }
        nodes = nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        return fusedCount
    }

    /// Removes nodes whose outputs reach no graph output, and initializers nothing uses.
    @discardableResult
    mutating func removeDeadNodes() -> Int {
        var needed = Set(outputs.map(\.name))
        var keep = [Bool](repeating: false, count: nodes.count)
        for i in stride(from: nodes.count - 1, through: 0, by: -1) where nodes[i].outputs.contains(where: { needed.contains($0) }) {
            keep[i] = true
            for inp in nodes[i].inputs { needed.insert(inp) }
        }
        let before = nodes.count
        nodes = nodes.enumerated().filter { keep[$0.offset] }.map(\.element)
        for name in Array(initializers.keys) where !needed.contains(name) {
            initializers[name] = nil
            // Older exporters also list initializers as graph inputs: drop those entries too, or
            // the model would ask the caller for a weight nothing uses.
            inputs.removeAll { $0.name == name }
        }
        return before - nodes.count
    }
}
