// Plan-time layout pass for CPU-style devices: values that flow only between convolutions (and the
// residual Adds joining them) are kept channel-blocked, [N][ceil(C/16)][H][W][16], instead of NCHW.
// In NCHW the register-blocked kernels vectorize over 16 output channels but must store each
// channel's pixels as scalars (a transpose per tile), and the depthwise kernels vectorize along
// rows that on 7×7–28×28 planes leave most lanes idle; in the blocked layout every store is one
// float16 per pixel and a depthwise tap is one vector multiply-add whatever the plane size.
//
// No reorder node is ever added: a convolution reads its input and fused residual in whichever
// layout their producers wrote and writes its output in the layout all its consumers accept
// (ai.gpuinfer::BlockedConv carries the three flags). A value is blocked exactly when its producer
// is a convertible convolution, an Add of two blocked values, a 2-D MaxPool / AveragePool of a
// blocked value (ai.gpuinfer::BlockedPool), or a channel Concat / Split of blocked values, and
// every consumer accepts it: a convertible convolution (as its input, or as its fused residual),
// or an Add, pool, Concat or Split whose outputs are blocked. Graph outputs and
// every other op see NCHW. Value names are kept; blocked values have the 5-D shape.
// Concat and Split run unchanged on the 5-D values along axis 1 (the channel blocks) when every
// part but the last holds a multiple of 16 channels: the parts are then whole blocks, and the
// last part's padding lanes are the result's. The pass rewrites their axis to 1 and Split's sizes
// to blocks. Channel padding lanes hold 0 and no kernel mixes lanes, so results are those of
// the NCHW graph.
import Foundation

extension Graph {
    /// Whether Conv node `n` runs on the channel-blocked kernels: a 2-D convolution with a constant
    /// weight, either one group (conv2d_blocked, or channel-blocked Winograd where the selector picks
    /// Winograd for its geometry), or depthwise (C = Cout = group), undilated, without a fused residual and with a constant or no bias.
    /// nil when not; else whether it is depthwise.
    func blockedConvKind(_ n: Node, options: ExecutionOptions) -> Bool? {
        guard n.opType == "Conv", n.domain.isEmpty, n.guards.isEmpty, n.outputs.count == 1, n.inputs.count >= 2,
              let w = initializers[n.inputs[1]], w.rank == 4, w.dtype == .float32, !w.shape.contains(0),
              let group = try? n.int("group", default: 1), group >= 1 else { return nil }
        if n.inputs.count > 2, !n.inputs[2].isEmpty, initializers[n.inputs[2]]?.dtype != .float32 { return nil }
        let strides = ((try? n.ints("strides")) ?? nil) ?? [1, 1], dilations = ((try? n.ints("dilations")) ?? nil) ?? [1, 1]
        guard strides.count == 2, dilations.count == 2 else { return nil }
        let kernel = Array(w.shape.suffix(2))
        if group == 1 {
            let pointwise = kernel == [1, 1] && strides == [1, 1]
            if pointwise && options.convPointwise == .gemm { return nil }
            return false
        }
        guard w.shape[1] == 1, w.shape[0] == group, dilations == [1, 1], options.convDepthwise == .auto,
              n.attributes[Conv.residualAttribute] == nil, kernel.allSatisfy({ (1...7).contains($0) }) else { return nil }
        return true
    }

    /// Rewrites the convolutions that read or write blocked values as BlockedConv nodes. Returns the
    /// number rewritten (0: the graph is unchanged).
    @discardableResult
    mutating func useBlockedLayout(options: ExecutionOptions) -> Int {
        // A graph that already has blocked convolutions was rewritten: its layouts are fixed.
        guard options.conv == .auto, !nodes.contains(where: { $0.opType == BlockedConv.opTypes[0] && $0.domain == BlockedConv.domain }) else { return 0 }
        var convKind: [Int: Bool] = [:]  // node index → depthwise
        var channels: [String: Int] = [:]
        var blocked = Set<String>()
        var adds = Set<Int>(), concats = Set<Int>(), pools = Set<Int>()
        var splits: [Int: [Int]] = [:]  // node index → channels per output
        for (i, n) in nodes.enumerated() {
            if let depthwise = blockedConvKind(n, options: options), let w = initializers[n.inputs[1]] {
                convKind[i] = depthwise
                channels[n.outputs[0]] = w.shape[0]
                if !depthwise || blocked.contains(n.inputs[0]) { blocked.insert(n.outputs[0]) }
            } else if n.opType == "Add", n.domain.isEmpty, n.guards.isEmpty, n.inputs.count == 2, n.outputs.count == 1, n.inputs[0] != n.inputs[1],
                      n.inputs.allSatisfy({ blocked.contains($0) }), let c = channels[n.inputs[0]], channels[n.inputs[1]] == c {
                adds.insert(i)
                channels[n.outputs[0]] = c
                blocked.insert(n.outputs[0])
            } else if isBlockedPoolCandidate(n, blocked: blocked), let c = channels[n.inputs[0]] {
                pools.insert(i)
                channels[n.outputs[0]] = c
                blocked.insert(n.outputs[0])
            } else if let parts = blockedConcatChannels(n, blocked: blocked, channels: channels) {
                concats.insert(i)
                channels[n.outputs[0]] = parts.reduce(0, +)
                blocked.insert(n.outputs[0])
            } else if let parts = blockedSplitChannels(n, blocked: blocked, channels: channels) {
                splits[i] = parts
                for (o, c) in zip(n.outputs, parts) where !o.isEmpty {
                    channels[o] = c
                    blocked.insert(o)
                }
            }
        }
        guard !blocked.isEmpty else { return 0 }
        var uses: [String: [(node: Int, input: Int)]] = [:]
        for (i, n) in nodes.enumerated() { for (k, v) in n.inputs.enumerated() where !v.isEmpty { uses[v, default: []].append((i, k)) } }
        var producer: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { for o in n.outputs { producer[o] = i } }
        let graphOutputs = Set(outputs.map(\.name))
        // Whether use (i, k) of a blocked value accepts it, given the current set.
        func accepts(_ i: Int, _ k: Int) -> Bool {
            if let depthwise = convKind[i] {
                if k == 0 { return !depthwise || blocked.contains(nodes[i].outputs[0]) }
                return k == 3
            }
            if adds.contains(i) || concats.contains(i) || pools.contains(i) { return blocked.contains(nodes[i].outputs[0]) }
            if splits[i] != nil { return nodes[i].outputs.allSatisfy { $0.isEmpty || blocked.contains($0) } }
            return false
        }
        var changed = true
        while changed {
            changed = false
            for v in blocked {
                let ok = !graphOutputs.contains(v) && (uses[v] ?? []).allSatisfy { accepts($0.node, $0.input) }
                // An Add's output stays blocked only while both operands are; a depthwise output while its input is.
                let producerOK: Bool = {
                    guard let i = producer[v] else { return false }
                    if adds.contains(i) || concats.contains(i) { return nodes[i].inputs.allSatisfy { blocked.contains($0) } }
                    // A Split's outputs are blocked together, with its input.
                    if splits[i] != nil { return blocked.contains(nodes[i].inputs[0]) && nodes[i].outputs.allSatisfy { $0.isEmpty || blocked.contains($0) } }
                    if convKind[i] == true || pools.contains(i) { return blocked.contains(nodes[i].inputs[0]) }
                    return true
                }()
                if !ok || !producerOK {
                    blocked.remove(v)
                    changed = true
                }
            }
        }
        var rewritten = 0
        for i in convKind.keys.sorted() {
            var n = nodes[i]
            let input = blocked.contains(n.inputs[0]), output = blocked.contains(n.outputs[0])
            let residual = n.inputs.count > 3 && blocked.contains(n.inputs[3])
            guard input || output || residual else { continue }
            n.opType = BlockedConv.opTypes[0]
            n.domain = BlockedConv.domain
            n.attributes[BlockedConv.inputAttribute] = .int(input ? 1 : 0)
            n.attributes[BlockedConv.outputAttribute] = .int(output ? 1 : 0)
            n.attributes[BlockedConv.residualLayoutAttribute] = .int(residual ? 1 : 0)
            n.attributes[BlockedConv.opsetAttribute] = .int(opset)
            nodes[i] = n
            rewritten += 1
        }
        for i in pools.sorted() where blocked.contains(nodes[i].outputs[0]) {
            var n = nodes[i]
            n.attributes[BlockedPool.poolAttribute] = .string(n.opType)
            n.attributes[BlockedPool.channelsAttribute] = .int(channels[n.inputs[0]] ?? 0)
            n.attributes[BlockedPool.opsetAttribute] = .int(opset)
            n.opType = BlockedPool.opTypes[0]
            n.domain = BlockedPool.domain
            nodes[i] = n
        }
        for i in concats.sorted() where blocked.contains(nodes[i].outputs[0]) {
            nodes[i].attributes["axis"] = .int(1)
        }
        for (i, parts) in splits.sorted(by: { $0.key < $1.key }) where blocked.contains(nodes[i].inputs[0]) {
            // Whole blocks per part; the last part takes the padded block.
            let blocks = parts.map { ($0 + 15) / 16 }
            var n = nodes[i]
            n.attributes["axis"] = .int(1)
            n.attributes["num_outputs"] = nil
            if opset < 13 {
                n.attributes["split"] = .ints(blocks)
            } else {
                var name = n.name.isEmpty ? "split_\(i)_blocks" : "\(n.name)_blocks"
                while initializers[name] != nil || producer[name] != nil || inputs.contains(where: { $0.name == name }) { name += "_" }
                initializers[name] = Tensor(shape: [blocks.count], ints: blocks.map(Int64.init))
                if n.inputs.count > 1 { n.inputs[1] = name } else { n.inputs.append(name) }
            }
            nodes[i] = n
        }
        return rewritten
    }

    /// Whether a pooling node may run on blocked values (BlockedPool): a 2-D MaxPool or AveragePool
    /// without the Indices output, as Pool itself parses it, of a blocked candidate.
    func isBlockedPoolCandidate(_ n: Node, blocked: Set<String>) -> Bool {
        guard Pool.opTypes.contains(n.opType), n.domain.isEmpty, n.guards.isEmpty, n.inputs.count == 1, blocked.contains(n.inputs[0]),
              n.outputs.count == 1 || n.outputs.dropFirst().allSatisfy(\.isEmpty),
              let op = try? Pool(node: n, opset: opset), !op.wantIndices, op.window.kernelShape?.count == 2 else { return false }
        return true
    }

    /// The channels of a Concat's inputs when it may run on blocked values: a Concat along the
    /// channel axis of a 4-D value (as Concat itself reads its axis) of values that are all blocked
    /// candidates, every one but the last a whole number of blocks.
    func blockedConcatChannels(_ n: Node, blocked: Set<String>, channels: [String: Int]) -> [Int]? {
        guard n.opType == "Concat", n.domain.isEmpty, n.guards.isEmpty, n.outputs.count == 1, !n.inputs.isEmpty,
              n.inputs.allSatisfy({ blocked.contains($0) }),
              let op = try? Concat(node: n, opset: opset), (try? op.context.axis(op.axis, rank: 4)) == 1 else { return nil }
        let parts = n.inputs.compactMap { channels[$0] }
        guard parts.count == n.inputs.count, parts.dropLast().allSatisfy({ $0 % 16 == 0 }) else { return nil }
        return parts
    }

    /// The channels of a Split's outputs when it may run on a blocked value: a Split along the
    /// channel axis of a blocked candidate into sizes known at load time, as Split itself computes
    /// them (`Split.sizes`: a constant `split` input, the attribute before opset 13, `num_outputs`,
    /// or equal parts), every part but the last a whole number of blocks.
    func blockedSplitChannels(_ n: Node, blocked: Set<String>, channels: [String: Int]) -> [Int]? {
        guard n.opType == "Split", n.domain.isEmpty, n.guards.isEmpty, !n.outputs.isEmpty, let x = n.inputs.first, blocked.contains(x),
              let c = channels[x], let op = try? Split(node: n, opset: opset) else { return nil }
        var split: [Int]?
        if opset >= 13, n.inputs.count > 1, !n.inputs[1].isEmpty {
            // Sizes computed at run time cannot be rewritten into blocks.
            guard let t = initializers[n.inputs[1]], t.dtype == .int64, t.rank == 1 else { return nil }
            split = t.ints.map { Int($0) }
        }
        guard let (axis, parts) = try? op.sizes([1, c, 1, 1], split), axis == 1, parts.dropLast().allSatisfy({ $0 % 16 == 0 }) else { return nil }
        return parts
    }
}

extension Model {
    /// This model with the channel-blocked layout between its CPU-style convolutions
    /// (`Graph.useBlockedLayout`), or nil when no convolution changes.
    func withBlockedLayout(options: ExecutionOptions) throws -> Model? {
        var g = graph
        let count = g.useBlockedLayout(options: options)
        guard count > 0 else { return nil }
        let m = try Model(graph: g, path: path, options: LoadOptions(useFusedKernels: true, foldBatchNorm: false, fuseActivations: false, fuseResiduals: false))
        m.report = report
        m.report.blockedConvs = count
        return m
    }
}
