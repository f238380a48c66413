// Winograd 3×3 convolution (Kernels/conv_winograd.cl): the transform matrices against the direct
// sum on the host, and the device kernels against the Conv reference with a derived error bound.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct ConvWinogradTests {
    /// One [N, C, H, W] ⊛ [Cout, C, 3, 3] problem with ONNX pads [top, left, bottom, right].
    struct Case {
        var x: [Int], cout: Int, pads: [Int], bias = true, relu = false
    }

    /// Σ_ij M[i][p]·M[j][q]·v over an a×a array (M's rows give the output index).
    static func sandwich(_ m: [[Double]], _ v: [Double], _ a: Int) -> [Double] {
        let r = m.count
        var out = [Double](repeating: 0, count: r * r)
        for i in 0..<r {
            for j in 0..<r {
                var s = 0.0
                for p in 0..<a { for q in 0..<a { s += m[i][p] * m[j][q] * v[p * a + q] } }
                out[i * r + j] = s
            }
        }
        return out
    }

    /// Winograd F(m, 3) on the host in double: the value (to check the matrices) and the rounding
    /// bound of the fp32 kernels (see `deviceTolerance`) for every output element.
    static func hostWinograd(_ x: Tensor, _ w: Tensor, pads: [Int], m: Int) -> (y: [Double], bound: [Double]) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]), cout = w.shape[0]
        let oh = h + pads[0] + pads[2] - 2, ow = wd + pads[1] + pads[3] - 2, a = m + 2
        let g = Winograd.g(m), bt = Winograd.bt(m), at = Winograd.at(m)
        let absG = g.map { $0.map(abs) }, absBt = bt.map { $0.map(abs) }, absAt = at.map { $0.map(abs) }
        // U = G g Gᵀ and |G||g||G|ᵀ for every (k, c).
        var u = [[Double]](), uAbs = [[Double]]()
        for kc in 0..<(cout * c) {
            let gw = (0..<9).map { Double(w.floats[kc * 9 + $0]) }
            u.append(sandwich(g, gw, 3))
            uAbs.append(sandwich(absG, gw.map(abs), 3))
        }
        var y = [Double](repeating: 0, count: n * cout * oh * ow), bound = y
        for b in 0..<n {
            for th in stride(from: 0, to: oh, by: m) {
                for tw in stride(from: 0, to: ow, by: m) {
                    var v = [[Double]](), vAbs = [[Double]]()
                    for ci in 0..<c {
                        var d = [Double](repeating: 0, count: a * a)
                        for i in 0..<a {
                            for j in 0..<a {
                                let ih = th - pads[0] + i, iw = tw - pads[1] + j
                                if ih >= 0 && ih < h && iw >= 0 && iw < wd { d[i * a + j] = Double(x.floats[((b * c + ci) * h + ih) * wd + iw]) }
                            }
                        }
                        v.append(sandwich(bt, d, a))
                        vAbs.append(sandwich(absBt, d.map(abs), a))
                    }
                    for k in 0..<cout {
                        var prod = [Double](repeating: 0, count: a * a), prodAbs = prod
                        for ci in 0..<c {
                            for p in 0..<(a * a) {
                                prod[p] += u[k * c + ci][p] * v[ci][p]
                                prodAbs[p] += uAbs[k * c + ci][p] * vAbs[ci][p]
                            }
                        }
                        let o = sandwich(at, prod, a), oAbs = sandwich(absAt, prodAbs, a)
                        for i in 0..<m where th + i < oh {
                            for j in 0..<m where tw + j < ow {
                                let idx = ((b * cout + k) * oh + th + i) * ow + tw + j
                                y[idx] = o[i * m + j]
                                bound[idx] = oAbs[i * m + j]
                            }
                        }
                    }
                }
            }
        }
        return (y, bound)
    }

    /// Σ_{c,taps} |w|·|x| for every output element (the direct sum's magnitude).
    static func directMagnitude(_ x: Tensor, _ w: Tensor, pads: [Int]) throws -> [Float] {
        let absX = Tensor(shape: x.shape, floats: x.floats.map(abs)), absW = Tensor(shape: w.shape, floats: w.floats.map(abs))
        let conv = try Conv(node: Node(name: "abs", opType: "Conv", inputs: ["x", "w"], outputs: ["y"], attributes: attrs(["pads": pads])), opset: 17)
        return try conv.reference([absX, absW])[0].floats
    }

    /// Per-element tolerance of the device (Winograd, fp32) against the reference (direct, fp32).
    /// Both approximate the exact y. Standard rounding-error analysis (Higham, γ_k = k·u/(1 − k·u),
    /// u = 2⁻²⁴) of each: the direct reference sums 9·C products in order, |ŷ − y| ≤ γ_{9C}·Σ|w||x|;
    /// Winograd computes V = Bᵀ d B (two 1-D passes of ≤ 5 terms), U = G g Gᵀ (double, then one
    /// rounding), the products, the C-term sum per transform point and Aᵀ M A (two passes of ≤ 6
    /// terms): |ŷ − y| ≤ γ_{C+24}·|Aᵀ|(Σ_c |G||g_c||G|ᵀ ⊙ |Bᵀ||d_c||B|)|A| (the `bound` of
    /// hostWinograd), which is much larger than Σ|w||x| for F(4,3) (Bᵀ has entries up to 5, Aᵀ up
    /// to 8): the error grows with C and with the transform's magnitudes, not with |y|. Bias and
    /// the clamp add one rounding of |y| + |b|. These are worst-case bounds (typical errors are
    /// ~√C smaller; observed errors are at most 2% of it), so a kernel that mis-indexes a tap or a
    /// channel (an error of order |w||x| ≈ 0.1–1 here) still fails: the bound is 5e-6–4e-3 for
    /// C ≤ 3 (where every pad and tail case is also run) and ≤ 0.22 for C = 64 with |y| up to 33.
    static func deviceTolerance(c: Int, winogradBound: Double, direct: Float, y: Float, bias: Float) -> Float {
        let u = 0x1p-24
        func gamma(_ k: Int) -> Double { Double(k) * u / (1 - Double(k) * u) }
        return Float(gamma(c + 24) * winogradBound + gamma(9 * c + 1) * Double(direct) + 2 * u * (Double(abs(y)) + Double(abs(bias))))
    }

    /// Options that run every applicable convolution through Winograd F(m×m) (CPU style, the
    /// family Winograd belongs to), with `chunk` tiles per chunk when given.
    static func winograd(_ m: Int, chunk: Int? = nil, profile: CPUProfile.ISA? = nil, block: ExecutionOptions.Tile? = nil) -> ExecutionOptions {
        var options = ExecutionOptions()
        options.kernelStyle = .cpu
        options.winograd = m == 4 ? .f4 : .f2
        options.winogradChunkTiles = chunk
        options.cpuProfile = profile
        options.winogradTile = block
        return options
    }

    /// Runs the case through the Winograd kernels (tile m, optional tiles per chunk) on the device
    /// and compares every element with the Conv reference within `deviceTolerance`.
    func check(_ t: Case, m: Int, chunk: Int? = nil, profile: CPUProfile.ISA? = nil, block: ExecutionOptions.Tile? = nil, seed: UInt64,
               sourceLocation: SourceLocation = #_sourceLocation) throws {
        var rng = TestRandom(seed: seed)
        let c = t.x[1]
        let x = rng.tensor(t.x), w = rng.tensor([t.cout, c, 3, 3]), b = rng.tensor([t.cout])
        var a: [String: Any] = ["pads": t.pads]
        if t.relu { a[FusedActivation.minAttribute] = Float(0) }
        let inputs: [Tensor?] = [x, w] + (t.bias ? [b] : [])
        let model = try singleNodeModel("Conv", attributes: attrs(a), inputs: inputs, constant: [1, 2])
        let reference = try ReferenceExecutor().run(model, inputs: ["in0": x])["out0"]!
        let device = try Session(model: model, runtime: try TestDevice.require(sourceLocation: sourceLocation), options: Self.winograd(m, chunk: chunk, profile: profile, block: block))
            .run(["in0": x])["out0"]!
        guard device.shape == reference.shape else {
            Issue.record("shape \(device.shape) != \(reference.shape)", sourceLocation: sourceLocation)
            return
        }
        let perPlane = reference.count / (t.x[0] * t.cout)
        try Self.expectWithinBound(device, reference, x: x, w: w, pads: t.pads, m: m, what: "F(\(m),3) \(t)", sourceLocation: sourceLocation) { i in
            t.bias ? abs(b.floats[(i / perPlane) % t.cout]) : 0
        }
    }

    /// Every element of `device` within `deviceTolerance` of `reference` (Conv of x and w with
    /// `pads`, F(m) bound); `extra(i)`: the magnitudes added after the convolution at element i
    /// (|bias|, and |residual|), which enter the tolerance's last term. Prints the largest error as
    /// a share of its bound; records the element furthest past its bound.
    static func expectWithinBound(_ device: Tensor, _ reference: Tensor, x: Tensor, w: Tensor, pads: [Int], m: Int, what: String,
                                  sourceLocation: SourceLocation, extra: (Int) -> Float) throws {
        let host = hostWinograd(x, w, pads: pads, m: m)
        let direct = try directMagnitude(x, w, pads: pads)
        var worst: (i: Int, ratio: Float) = (-1, 1)
        var largest: Float = 0, widest: Float = 0  // the largest error / bound and the largest bound, reported
        for i in 0..<reference.count {
            let tol = deviceTolerance(c: x.shape[1], winogradBound: host.bound[i], direct: direct[i], y: reference.floats[i], bias: extra(i))
            let err = abs(device.floats[i] - reference.floats[i])
            if tol > 0 { largest = max(largest, err / tol) }
            widest = max(widest, tol)
            if !(err <= tol), err / max(tol, .leastNormalMagnitude) > worst.ratio || !err.isFinite { worst = (i, err.isFinite ? err / tol : .infinity) }
        }
        print("Winograd \(what): largest error \(String(format: "%.3g", largest)) of the bound, largest bound \(String(format: "%.3g", widest)), largest |y| \(String(format: "%.3g", reference.floats.map(abs).max() ?? 0))")
        if worst.i >= 0 {
            let i = worst.i
            Issue.record("\(what): element \(i): \(device.floats[i]) vs reference \(reference.floats[i]) (error \(worst.ratio)× the bound)",
                         sourceLocation: sourceLocation)
        }
    }

    /// The operand layouts of a channel-blocked (BlockedConv) Winograd convolution.
    struct Layout: CustomStringConvertible {
        var input: Bool, output: Bool, residual: Bool
        var description: String { "in \(input ? "c16" : "nchw") out \(output ? "c16" : "nchw") res \(residual ? "c16" : "nchw")" }
    }

    /// Runs the case as a BlockedConv through the channel-blocked Winograd kernels
    /// (winograd_*_c16) with the given operand layouts, a fused residual when `residual`, and
    /// `clipMin` as a fused Clip(min, 6) (0.25: act(0) ≠ 0, so padding lanes must be masked), and
    /// compares every element with the Conv reference within `deviceTolerance`. The residual Add
    /// rounds once more: fl(fl(s + b) + r) is off by at most u·|s + b| + u·|y| ≤ 2u·|y| + u·|r|, so
    /// |r| joins |b| in the tolerance's last term (2u(|y| + |b| + |r|)); Clip is 1-Lipschitz.
    /// Blocked outputs are also checked for zeros in the lanes past Cout.
    func checkBlocked(_ t: Case, m: Int, layout: Layout, residual: Bool, clipMin: Float? = nil, chunk: Int? = nil, tile: ExecutionOptions.Tile? = nil,
                      profile: CPUProfile.ISA? = nil, seed: UInt64, sourceLocation: SourceLocation = #_sourceLocation) throws {
        var rng = TestRandom(seed: seed)
        let c = t.x[1]
        let x = rng.tensor(t.x), w = rng.tensor([t.cout, c, 3, 3]), b = rng.tensor([t.cout])
        let out = [t.x[0], t.cout, t.x[2] + t.pads[0] + t.pads[2] - 2, t.x[3] + t.pads[1] + t.pads[3] - 2]
        let r = rng.tensor(out)
        var a: [String: Attribute] = ["pads": .ints(t.pads)]
        if t.relu || clipMin != nil { a[FusedActivation.minAttribute] = .float(clipMin ?? 0) }
        if clipMin != nil { a[FusedActivation.maxAttribute] = .float(6) }
        if residual { a[Conv.residualAttribute] = .int(1) }
        let inputs = ["x", "w", t.bias ? "b" : ""] + (residual ? ["r"] : [])
        var inits = ["w": w]
        if t.bias { inits["b"] = b }
        func graph(_ node: Node, _ feeds: [String: Tensor]) -> Graph {
            Graph(nodes: [node], inputs: feeds.keys.sorted().map { ValueInfo(name: $0, dtype: .float32, dims: feeds[$0]!.shape.map { $0 }) },
                  outputs: [ValueInfo(name: "y", dtype: nil, dims: nil)], initializers: inits, opset: 17)
        }
        let plainFeeds = residual ? ["x": x, "r": r] : ["x": x]
        let plain = try Model(graph: graph(Node(name: "conv", opType: "Conv", inputs: inputs, outputs: ["y"], attributes: a), plainFeeds))
        let reference = try #require(try ReferenceExecutor().run(plain, inputs: plainFeeds)["y"])
        var blocked = a
        blocked[BlockedConv.inputAttribute] = .int(layout.input ? 1 : 0)
        blocked[BlockedConv.outputAttribute] = .int(layout.output ? 1 : 0)
        blocked[BlockedConv.residualLayoutAttribute] = .int(residual && layout.residual ? 1 : 0)
        blocked[BlockedConv.opsetAttribute] = .int(17)
        var feeds = ["x": layout.input ? BlockedConv.block(x) : x]
        if residual { feeds["r"] = layout.residual ? BlockedConv.block(r) : r }
        let model = try Model(graph: graph(Node(name: "conv", opType: "BlockedConv", domain: "ai.gpuinfer", inputs: inputs, outputs: ["y"],
                                                attributes: blocked), feeds))
        var options = Self.winograd(m, chunk: chunk, profile: profile)
        options.winogradBlockedTile = tile
        let raw = try #require(try Session(model: model, runtime: try TestDevice.require(sourceLocation: sourceLocation), options: options).run(feeds)["y"])
        let device = layout.output ? BlockedConv.unblock(raw, channels: t.cout) : raw
        guard device.shape == reference.shape else {
            Issue.record("shape \(device.shape) != \(reference.shape)", sourceLocation: sourceLocation)
            return
        }
        if layout.output {
            #expect(BlockedLayoutTests.paddingLanesAreZero(raw, channels: t.cout), "lanes past Cout are 0", sourceLocation: sourceLocation)
        }
        let perPlane = reference.count / (t.x[0] * t.cout)
        try Self.expectWithinBound(device, reference, x: x, w: w, pads: t.pads, m: m, what: "blocked F(\(m),3) \(t) \(layout) residual \(residual)",
                                   sourceLocation: sourceLocation) { i in
            (t.bias ? abs(b.floats[(i / perPlane) % t.cout]) : 0) + (residual ? abs(r.floats[i]) : 0)
        }
    }

    /// The channel-blocked Winograd kernels in every operand layout, with and without a fused
    /// residual, F(2×2) and F(4×4): channel counts that leave partial blocks (17, 33, 7), pads on
    /// every side and none, batch 2, act(0) ≠ 0.
    @Test(arguments: [2, 4]) func blockedLayoutsMatchReference(m: Int) throws {
        let cases = [Case(x: [2, 17, 9, 11], cout: 33, pads: [1, 1, 1, 1]),
                     Case(x: [1, 33, 7, 6], cout: 7, pads: [2, 0, 1, 3], bias: false),
                     Case(x: [1, 1, 1, 1], cout: 1, pads: [1, 1, 1, 1])]
        var seed: UInt64 = 80
        for t in cases {
            for bits in 0..<8 {
                let layout = Layout(input: bits & 1 != 0, output: bits & 2 != 0, residual: bits & 4 != 0)
                for residual in bits & 4 != 0 ? [true] : [false, true] {
                    try checkBlocked(t, m: m, layout: layout, residual: residual, clipMin: seed % 2 == 0 ? 0.25 : nil, seed: seed)
                    seed += 1
                }
            }
        }
    }

    /// The channel-blocked GEMM's register blocks under both profiles (defaults 1×5 and 2×12, and
    /// forced ones: channel blocks not dividing the output's, tiles not dividing the chunk's),
    /// several chunks, and a 64-channel layer.
    @Test(arguments: [CPUProfile.ISA.avx2, .avx512]) func blockedTilesAndChunks(profile: CPUProfile.ISA) throws {
        let all = Layout(input: true, output: true, residual: true)
        try checkBlocked(Case(x: [2, 20, 28, 13], cout: 19, pads: [1, 0, 1, 2], relu: true), m: 2, layout: all, residual: true, chunk: 48,
                         profile: profile, seed: 90)
        try checkBlocked(Case(x: [1, 64, 13, 13], cout: 64, pads: [1, 1, 1, 1]), m: 2, layout: all, residual: false, profile: profile, seed: 91)
        for tile in [ExecutionOptions.Tile(1, 1), .init(2, 3), .init(3, 7), .init(4, 24), .init(2, 12)] {
            try checkBlocked(Case(x: [2, 9, 21, 10], cout: 26, pads: [1, 1, 1, 1], bias: false), m: 2, layout: all, residual: false, chunk: 64,
                             tile: tile, profile: profile, seed: 92)
            try checkBlocked(Case(x: [1, 20, 9, 9], cout: 50, pads: [1, 1, 1, 1], relu: true), m: 4, layout: all, residual: true,
                             tile: tile, profile: profile, seed: 93)
        }
    }

    /// The host transforms in double equal the direct sum (so G, Bᵀ and Aᵀ are right, and
    /// the bound in `deviceTolerance` is computed from the right matrices).
    @Test(arguments: [2, 4]) func transformMatricesMatchDirectSum(m: Int) throws {
        var rng = TestRandom(seed: 11)
        let x = rng.tensor([2, 3, 7, 6]), w = rng.tensor([5, 3, 3, 3])
        for pads in [[0, 0, 0, 0], [1, 1, 1, 1], [2, 0, 1, 3]] {
            let host = Self.hostWinograd(x, w, pads: pads, m: m)
            let conv = try Conv(node: Node(name: "c", opType: "Conv", inputs: ["x", "w"], outputs: ["y"], attributes: attrs(["pads": pads])), opset: 17)
            let y = try conv.reference([x, w])[0]
            #expect(y.count == host.y.count)
            // The reference sums 27 fp32 products of values in [-1, 1]: |error| ≤ 27·27·2⁻²⁴ < 1e-4.
            let err = zip(y.floats, host.y).map { abs(Double($0) - $1) }.max() ?? 0
            #expect(err < 1e-4, "pads \(pads): max |reference − host Winograd| = \(err)")
        }
    }

    static let cases: [Case] = [
        Case(x: [1, 1, 1, 1], cout: 1, pads: [1, 1, 1, 1]),
        Case(x: [2, 3, 2, 3], cout: 7, pads: [1, 1, 1, 1], relu: true),
        Case(x: [1, 17, 5, 7], cout: 33, pads: [0, 0, 0, 0], bias: false),
        Case(x: [2, 17, 5, 7], cout: 7, pads: [2, 0, 1, 3], relu: true),
        Case(x: [1, 64, 13, 13], cout: 33, pads: [1, 1, 1, 1]),
        Case(x: [2, 3, 28, 28], cout: 33, pads: [0, 1, 2, 1], bias: false, relu: true),
        Case(x: [2, 64, 28, 28], cout: 7, pads: [1, 1, 1, 1], relu: true),
        Case(x: [1, 1, 13, 13], cout: 1, pads: [0, 0, 0, 0]),
    ]

    @Test(arguments: [2, 4]) func deviceMatchesReference(m: Int) throws {
        for (i, t) in Self.cases.enumerated() { try check(t, m: m, seed: UInt64(20 + i)) }
    }

    /// Several chunks of 16 tiles (the workspace reused by every chunk, the last one partial).
    @Test(arguments: [2, 4]) func chunkedTiles(m: Int) throws {
        try check(Case(x: [2, 17, 28, 28], cout: 33, pads: [1, 1, 1, 1], relu: true), m: m, chunk: 16, seed: 40)
        try check(Case(x: [1, 3, 13, 13], cout: 7, pads: [2, 1, 0, 1]), m: m, chunk: 32, seed: 41)
    }

    /// The GEMM's register blocks: each CPU profile's default (AVX2 6×1, AVX-512 8×2) and forced
    /// awkward ones (R not dividing Cout, V panels not dividing the tiles, one chunk and several).
    @Test(arguments: [CPUProfile.ISA.avx2, .avx512]) func gemmBlocksOfEachProfile(profile: CPUProfile.ISA) throws {
        try check(Case(x: [2, 17, 9, 11], cout: 33, pads: [1, 1, 1, 1], relu: true), m: 2, profile: profile, seed: 60)
        try check(Case(x: [1, 20, 28, 13], cout: 19, pads: [1, 0, 1, 2]), m: 2, chunk: 48, profile: profile, seed: 61)
        try check(Case(x: [1, 5, 13, 13], cout: 7, pads: [1, 1, 1, 1]), m: 4, profile: profile, seed: 62)
        for block in [ExecutionOptions.Tile(5, 3), .init(12, 2), .init(24, 1), .init(1, 4)] {
            try check(Case(x: [2, 9, 21, 10], cout: 26, pads: [1, 1, 1, 1], bias: false), m: 2, chunk: 64, profile: profile, block: block, seed: 63)
        }
    }

    /// Two Winograd convolutions in one plan share the workspace (the second needs more of it, so
    /// it grows while the first keeps its buffers), and the plan's memory counts it.
    @Test func nodesShareTheWorkspace() throws {
        // Small integers: with F(2×2) every intermediate is a multiple of 1/4 far below 2²² (G has
        // entries 0, ±1/2, 1; Bᵀ and Aᵀ are integer), so Winograd and the direct sum are both exact.
        var rng = TestRandom(seed: 50)
        func ints(_ shape: [Int]) -> Tensor { Tensor(shape: shape, floats: (0..<shape.reduce(1, *)).map { _ in Float(Int(rng.next() % 5) - 2) }) }
        let w1 = ints([8, 3, 3, 3]), w2 = ints([40, 8, 3, 3]), x = ints([2, 3, 13, 11])
        let pads = Attribute.ints([1, 1, 1, 1])
        let graph = Graph(nodes: [Node(name: "a", opType: "Conv", inputs: ["x", "w1"], outputs: ["h"], attributes: ["pads": pads]),
                                  Node(name: "b", opType: "Conv", inputs: ["h", "w2"], outputs: ["y"], attributes: ["pads": pads])],
                          inputs: [ValueInfo(name: "x", dtype: .float32, dims: [2, 3, 13, 11])],
                          outputs: [ValueInfo(name: "y", dtype: nil, dims: nil)], initializers: ["w1": w1, "w2": w2], opset: 17)
        let model = try Model(graph: graph)
        let reference = try ReferenceExecutor().run(model, inputs: ["x": x])["y"]!
        let session = Session(model: model, runtime: try TestDevice.require(), options: Self.winograd(2))
        let (y, bytes) = (try session.run(["x": x])["y"]!, try session.activationBytes(for: ["x": x]))
        // Activations h and y (2·8·13·11 and 2·40·13·11 floats) plus V and M for 2·7·6 = 84 F(2)
        // tiles (one chunk of 96): 16·96·(8 + 40)·4 bytes for the second node, which the first fits in.
        #expect(bytes >= (2 * 8 * 13 * 11 + 2 * 40 * 13 * 11 + 16 * 96 * 48) * 4)
        assertClose(y, reference, rtol: 0, atol: 0)
    }

    /// The default rule: Winograd only for 3×3 stride-1 group-1 convolutions with enough channels.
    @Test func ruleAndApplicability() throws {
        func shapes(_ c: Int, _ cout: Int, stride: Int = 1, group: Int = 1, kernel: Int = 3) -> ConvShapes {
            let win = Window(input: [28, 28], kernel: [kernel, kernel], strides: [stride, stride], dilations: [1, 1],
                             padBegin: [1, 1], padEnd: [1, 1], output: [28, 28])
            return ConvShapes(n: 1, c: c, cout: cout, group: group, window: win)
        }
        let avx2 = CPUProfile(.avx2), avx512 = CPUProfile(.avx512)
        // AVX-512: both channel counts at least 64 (CPUProfile.winogradPays).
        #expect(ConvAlgorithm.winogradRule(shapes(64, 64), profile: avx512) == 2)
        #expect(ConvAlgorithm.winogradRule(shapes(64, 512), profile: avx512) == 2)
        #expect(ConvAlgorithm.winogradRule(shapes(32, 32), profile: avx512) == nil)
        #expect(ConvAlgorithm.winogradRule(shapes(32, 256), profile: avx512) == nil)
        #expect(ConvAlgorithm.winogradRule(shapes(32, 32), profile: avx512, forced: true) == 2)
        #expect(ConvAlgorithm.winogradRule(shapes(32, 32), profile: avx2) == 2)
        #expect(ConvAlgorithm.winogradRule(shapes(64, 64), profile: avx2) == 2)
        #expect(ConvAlgorithm.winogradRule(shapes(16, 32), profile: avx2) == 2)
        #expect(ConvAlgorithm.winogradRule(shapes(3, 64), profile: avx2) == nil)
        #expect(ConvAlgorithm.winogradRule(shapes(16, 16), profile: avx2) == nil)
        #expect(ConvAlgorithm.winogradRule(shapes(3, 64), profile: avx2, forced: true) == 2)
        // 7×7: 16 F(2) tiles, one panel: 16·16 multiplies per channel pair against 9·49 direct.
        var small = shapes(512, 512)
        small.window.output = [7, 7]
        #expect(ConvAlgorithm.winogradRule(small, profile: avx2) == 2)
        small.n = 4
        #expect(ConvAlgorithm.winogradRule(small, profile: avx2) == 2)
        // 5×5 at batch 1: one F(2) panel, 16·16 multiplies against 9·25 direct.
        small.n = 1
        small.window.output = [5, 5]
        #expect(ConvAlgorithm.winogradRule(small, profile: avx2) == nil)
        #expect(ConvAlgorithm.winogradRule(small, profile: avx2, forced: true) == 2)
    }
}
