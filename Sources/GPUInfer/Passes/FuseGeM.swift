// The GeM pattern exporters write for generalized-mean pooling — `Clip(x, min=eps)` or
// `Max(x, eps)` → `Pow(·, p)` → `GlobalAveragePool` or `ReduceMean(axes=[2,3], keepdims=1)` →
// `Pow(·, q)` (torch.onnx.export of `x.clamp(min=eps).pow(p)` … `.pow(1./p)`, q folded from
// `Div(1, p)` or `Mul(Reciprocal(p), 1)`), or with the whole-map `AveragePool` a static-shape
// export writes — replaced by one `ai.gpuinfer::GeM` node (Ops/Fused/GeM.swift).

extension Graph {
    /// A scalar float initializer's value.
    private func scalarConstant(_ name: String) -> Float? {
        guard let t = initializers[name], t.count == 1, t.dtype.isFloat, t.floats[0].isFinite else { return nil }
        return t.floats[0]
    }

    /// The clamp's input and minimum when `n` is `Clip(x, min)` with no maximum or `Max(x, eps)`.
    private func lowerClamp(_ n: Node) -> (input: String, eps: Float)? {
        guard n.domain.isEmpty, n.outputs.count == 1 else { return nil }
        if n.opType == "Clip" {
            if opset < 11 {
                guard n.attributes["max"] == nil, let lo = try? n.float("min", default: .nan), lo.isFinite else { return nil }
                return (n.inputs[0], lo)
            }
            guard n.inputs.count >= 2, let lo = scalarConstant(n.inputs[1]), n.inputs.count < 3 || n.inputs[2].isEmpty else { return nil }
            return (n.inputs[0], lo)
        }
        if n.opType == "Max", n.inputs.count == 2 {
            if let lo = scalarConstant(n.inputs[1]), initializers[n.inputs[0]] == nil { return (n.inputs[0], lo) }
            if let lo = scalarConstant(n.inputs[0]), initializers[n.inputs[1]] == nil { return (n.inputs[1], lo) }
        }
        return nil
    }

    /// Whether `n` averages its input over the spatial dims keeping them: GlobalAveragePool (any
    /// rank), ReduceMean over axes [2, 3] / [−2, −1] with keepdims (rank 4), or an AveragePool
    /// without pads whose window is the whole map (what torch.onnx.export writes for
    /// `avg_pool2d(x, (H, W))`; the window is checked against the input when planning). Returns
    /// the rank the input must have (0: any) and the window.
    private func spatialMean(_ n: Node) -> (rank: Int, window: [Int]?)? {
        guard n.domain.isEmpty, n.outputs.count == 1 else { return nil }
        if n.opType == "GlobalAveragePool" { return (0, nil) }
        if n.opType == "AveragePool" {
            guard case let .ints(kernel)? = n.attributes["kernel_shape"], !kernel.isEmpty, kernel.allSatisfy({ $0 >= 1 }) else { return nil }
            if case let .ints(pads)? = n.attributes["pads"], pads.contains(where: { $0 != 0 }) { return nil }
            if case let .string(autoPad)? = n.attributes["auto_pad"], autoPad != "NOTSET" && autoPad != "VALID" { return nil }
            if case let .ints(d)? = n.attributes["dilations"], d.contains(where: { $0 != 1 }) { return nil }
            // Strides do not matter when the window covers the map: there is one position.
            return (2 + kernel.count, kernel)
        }
        guard n.opType == "ReduceMean", (try? n.int("keepdims", default: 1)) == 1 else { return nil }
        var axes: [Int]?
        if case let .ints(a)? = n.attributes["axes"] { axes = a }
        if n.inputs.count > 1, !n.inputs[1].isEmpty, let t = initializers[n.inputs[1]], !t.dtype.isFloat { axes = t.ints.map { Int($0) } }
        guard let axes, Set(axes) == [2, 3] || Set(axes) == [-2, -1] else { return nil }
        return (4, nil)
    }

    /// Replaces every GeM pattern whose intermediate values have no other consumer by one
    /// `ai.gpuinfer::GeM` node (x, p, q; `eps`), in the final Pow's place. Returns the number fused.
    mutating func fuseGeM() -> Int {
        let (consumers, producer) = valueUses()
        var removed = Set<Int>()
        var replacements: [Int: Node] = [:]
        for (di, d) in nodes.enumerated() where d.opType == "Pow" && d.domain.isEmpty && d.inputs.count == 2 && d.outputs.count == 1 {
            guard scalarConstant(d.inputs[1]) != nil,
                  let ci = producer[d.inputs[0]], consumers[d.inputs[0]] == 1, let mean = spatialMean(nodes[ci]),
                  let bi = producer[nodes[ci].inputs[0]], consumers[nodes[ci].inputs[0]] == 1,
                  nodes[bi].opType == "Pow", nodes[bi].domain.isEmpty, nodes[bi].inputs.count == 2, scalarConstant(nodes[bi].inputs[1]) != nil,
                  let ai = producer[nodes[bi].inputs[0]], consumers[nodes[bi].inputs[0]] == 1, let clamp = lowerClamp(nodes[ai]),
                  Set([ai, bi, ci, di]).isDisjoint(with: removed), [ai, bi, ci, di].allSatisfy({ nodes[$0].guards == d.guards })
            else { continue }
            var attributes: [String: Attribute] = ["eps": .float(clamp.eps)]
            if mean.rank > 0 { attributes[GeM.rankAttribute] = .int(mean.rank) }
            if let window = mean.window { attributes[GeM.windowAttribute] = .ints(window) }
            replacements[di] = Node(name: d.name, opType: "GeM", domain: GeM.domain, inputs: [clamp.input, nodes[bi].inputs[1], d.inputs[1]],
                                    outputs: d.outputs, attributes: attributes, guards: d.guards)
            removed.formUnion([ai, bi, ci])
        }
        guard !replacements.isEmpty else { return 0 }
        for (i, n) in replacements { nodes[i] = n }
        nodes = nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        if opsets[GeM.domain] == nil { opsets[GeM.domain] = 1 }
        return replacements.count
    }
}
