// Elementwise family: the broadcast layout (dimension merging, row iteration) and a test helper
// that gets integer and bool inputs onto the device.
import Testing
@testable import GPUInfer

/// Like `checkOp`, but every non-constant integer/bool input is fed as a float graph input and
/// cast to its type on the device (the planner folds nodes whose inputs are all integers from
/// graph inputs, so the integer kernels would otherwise never run). Integer values must be exact
/// in float32. Checks the reference against `expected` (when given) and the device against the
/// reference, and returns the reference output.
@discardableResult
func checkElementwise(_ opType: String, attributes: [String: Attribute] = [:], inputs: [Tensor?], constant: Set<Int> = [],
                      opset: Int = 17, expected: Tensor? = nil, rtol: Float = 0, atol: Float = 0,
                      sourceLocation: SourceLocation = #_sourceLocation) throws -> Tensor {
    var nodes: [Node] = []
    var graphInputs: [ValueInfo] = []
    var initializers: [String: Tensor] = [:]
    var feeds: [String: Tensor] = [:]
    var names: [String] = []
    for (i, t) in inputs.enumerated() {
        guard let t else { names.append(""); continue }
        let name = "in\(i)"
        names.append(name)
        if constant.contains(i) {
            initializers[name] = t
        } else if t.dtype.isFloat {
            graphInputs.append(ValueInfo(name: name, dtype: .float32, dims: t.shape))
            feeds[name] = t
        } else {
            graphInputs.append(ValueInfo(name: "f\(i)", dtype: .float32, dims: t.shape))
            feeds["f\(i)"] = t.cast(to: .float32)
            nodes.append(Node(name: "cast\(i)", opType: "Cast", inputs: ["f\(i)"], outputs: [name],
                              attributes: ["to": .int(t.dtype.rawValue)]))
        }
    }
    nodes.append(Node(name: "node", opType: opType, inputs: names, outputs: ["out0"], attributes: attributes))
    let graph = Graph(nodes: nodes, inputs: graphInputs, outputs: [ValueInfo(name: "out0", dtype: nil, dims: nil)],
                      initializers: initializers, opset: opset)
    let model = try Model(graph: graph)
    let reference = try #require(try ReferenceExecutor().run(model, inputs: feeds)["out0"], sourceLocation: sourceLocation)
    if let expected {
        assertClose(reference, expected, rtol: rtol, atol: atol, "\(opType) reference vs expected", sourceLocation: sourceLocation)
        #expect(reference.dtype == expected.dtype, "\(opType) output dtype", sourceLocation: sourceLocation)
    }
    let session = Session(model: model, runtime: try TestDevice.require(sourceLocation: sourceLocation))
    let device = try #require(try session.run(feeds)["out0"], sourceLocation: sourceLocation)
    assertClose(device, reference, rtol: rtol, atol: atol, "\(opType) OpenCL vs reference", sourceLocation: sourceLocation)
    #expect(device.dtype == reference.dtype, "\(opType) device dtype", sourceLocation: sourceLocation)
    return reference
}

/// Tensor literals for the elementwise tests.
enum EW {
    static func ints(_ shape: [Int], _ v: [Int64], _ dtype: DType = .int64) -> Tensor { Tensor(shape: shape, ints: v, dtype: dtype) }
    static func bools(_ shape: [Int], _ v: [Bool]) -> Tensor { Tensor(shape: shape, ints: v.map { $0 ? 1 : 0 }, dtype: .bool) }
    static func floats(_ shape: [Int], _ v: [Float]) -> Tensor { Tensor(shape: shape, floats: v) }
}

@Suite struct ElementwiseSupportTests {
    @Test func layoutMergesDimensionsThatStayLinear() {
        // Bias over channels: [8,16,7,7] + [1,16,1,1] → [8,16,49], bias strides [0,1,0].
        let l = BroadcastLayout(output: [8, 16, 7, 7], inputs: [[8, 16, 7, 7], [1, 16, 1, 1]])
        #expect(l.dims == [8, 16, 49])
        #expect(l.strides == [[784, 49, 1], [0, 1, 0]])
        #expect(!l.isContiguous)
        // Same shapes collapse to one dimension; size-1 dims disappear.
        let same = BroadcastLayout(output: [2, 1, 3, 5], inputs: [[2, 1, 3, 5], [2, 1, 3, 5]])
        #expect(same.dims == [30] && same.isContiguous)
        // A scalar is a stride-0 read.
        let scalar = BroadcastLayout(output: [4, 6], inputs: [[4, 6], []])
        #expect(scalar.dims == [24] && scalar.strides == [[1], [0]])
        // Broadcast both ways keeps every dimension.
        let both = BroadcastLayout(output: [2, 3, 17, 67], inputs: [[2, 3, 1, 67], [1, 3, 17, 1]])
        #expect(both.dims == [2, 3, 17, 67])
        #expect(both.strides == [[201, 67, 0, 1], [0, 17, 1, 0]])
        // All-ones output: one element, contiguous.
        let one = BroadcastLayout(output: [1, 1], inputs: [[1], [1, 1]])
        #expect(one.dims.isEmpty && one.isContiguous && one.count == 1)
    }

    @Test func layoutMapMatchesNaiveBroadcast() {
        var rng = TestRandom(seed: 7)
        for (sa, sb) in [([2, 3, 1, 5], [1, 3, 4, 1]), ([5], [3, 1]), ([], [2, 2]), ([3, 1, 2], [3, 1, 2]), ([0, 3], [1, 3])] {
            let out = Shape.broadcast([sa, sb])!
            let a = rng.tensor(sa), b = rng.tensor(sb)
            let got = BroadcastLayout(output: out, inputs: [sa, sb]).map(a.floats, b.floats) { $0 - 2 * $1 }
            let ta = Shape.broadcastStrides(sa, to: out), tb = Shape.broadcastStrides(sb, to: out)
            var want: [Float] = []
            forEachIndex(out) { _, idx in
                let oa = zip(idx, ta).map(*).reduce(0, +), ob = zip(idx, tb).map(*).reduce(0, +)
                want.append(a.floats[oa] - 2 * b.floats[ob])
            }
            #expect(got == want, "\(sa) ⊗ \(sb)")
        }
    }
}
