// Graphs whose shapes depend on computed values — NonMaxSuppression → Gather, NonZero → GatherND
// → reductions, TopK with a k counted in the graph, Range/ConstantOfShape/Expand over a count,
// Compress, Unique — against onnxruntime (Tests/Models/make_dynamic_fixtures.py), on the
// reference backend and on the device in both kernel styles, where they run as chains of plan
// segments; then the data-dependent ops themselves (device vs reference) on awkward shapes.
//
// Tolerance: every float output is a copy of input values (Gather, GatherND, TopK, Compress) or
// exact arithmetic on small integers (Range · 2, ConstantOfShape 1.5): compared exactly. The one
// exception is `sum`, a ReduceSum of n positive fp32 values, whose rounding depends on the
// summation order: |Δ| ≤ n·2⁻²⁴·Σx (each of the n − 1 additions errs by at most 2⁻²⁴ of a
// partial sum ≤ Σx). And torchvision's SSDlite post-processing (the committed graph
// Tests/data/torchvision/ssdlite320_postprocess.onnx) computes softmax scores and exp()-decoded
// boxes: scores within 1e-6, boxes within 1e-5 relative; labels and the order exactly.
import Foundation
import Testing
@testable import GPUInfer

@Suite(.serialized) struct DataDependentShapeTests {
    static let script = "Tests/Models/make_dynamic_fixtures.py"

    struct Case: Decodable {
        var name: String
        var model: String
        var inputs: [String: String]
        var outputs: [String: String]
    }

    static let names = [
        "nms_gather", "nms_gather_concat", "nonzero_gathernd_reduce", "topk_computed_k", "topk_k_from_nms", "range_from_count",
        "constantofshape_from_count", "compress_mask", "unique_sorted", "unique_axis0", "where_nonzero_topk", "empty_selection",
        "empty_selection_concat", "torchvision_ssdlite_postprocess", "if_then", "if_else_nested", "if_else_nested_other",
    ]

    /// Plan cuts per run of each case.
    static let expectedCuts = [
        "nms_gather": 0, "nms_gather_concat": 1, "nonzero_gathernd_reduce": 1, "topk_computed_k": 0, "topk_k_from_nms": 1,
        "range_from_count": 1, "constantofshape_from_count": 1, "compress_mask": 0, "unique_sorted": 0, "unique_axis0": 0,
        "where_nonzero_topk": 1, "empty_selection": 0, "empty_selection_concat": 1, "torchvision_ssdlite_postprocess": 2,
        "if_then": 1, "if_else_nested": 2, "if_else_nested_other": 2,
    ]

    static func load(_ name: String) throws -> (Model, [String: Tensor], [String: Tensor]) {
        let index = try GeneratedData.require("dynamic/cases.json", script: script)
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: URL(fileURLWithPath: index)))
        let c = try #require(cases.first { $0.name == name }, "case \(name) in \(index)")
        func npy(_ file: String) throws -> Tensor { try Npy.read(path: GeneratedData.url("dynamic/\(file)").path) }
        let feeds = try c.inputs.mapValues(npy)
        let expected = try c.outputs.mapValues(npy)
        return (try Model(path: GeneratedData.url("dynamic/\(c.model)").path), feeds, expected)
    }

    static func check(_ got: [String: Tensor], _ expected: [String: Tensor], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for (name, e) in expected {
            guard let g = got[name] else {
                Issue.record("\(what): no output \(name)", sourceLocation: sourceLocation)
                continue
            }
            // The sum's n is the case's `count` output.
            let terms = expected["count"].map { Float($0.ints.first ?? 0) } ?? 0
            var rtol = name == "sum" ? terms * 0x1p-24 : 0, atol: Float = 0
            if what.hasPrefix("torchvision") {
                // Softmax and the box decoding's exp() round differently from onnxruntime's:
                // scores within 1e-6, boxes within 1e-5 relative (3e-3 px of a 320-px image).
                if name == "scores" { atol = 1e-6 }
                if name == "boxes" { rtol = 1e-5 }
            }
            assertClose(g, e, rtol: rtol, atol: atol, "\(what) \(name)", sourceLocation: sourceLocation)
        }
    }

    /// Reference and device (both kernel styles) give onnxruntime's outputs; the device needs at
    /// least one cut and reads back only sizes (a few bytes per data-dependent node).
    @Test(arguments: names)
    func patternMatchesOnnxRuntime(name: String) throws {
        let (model, feeds, expected) = try Self.load(name)
        Self.check(try ReferenceExecutor().run(model, inputs: feeds), expected, "\(name) reference")
        for options in OpVariants.kernelStyles {
            let session = Session(model: model, runtime: try TestDevice.require(), options: options)
            Self.check(try session.run(feeds), expected, "\(name) device [\(options.summary)]")
            let cuts = session.lastCuts
            // Cuts: none where every consumer of a data-dependent value is row-local (NMS →
            // Gather/GatherND/Slice/Squeeze; Compress, Unique as outputs) or k comes from static
            // shapes; one per level of sizes that shape arithmetic or a plan-time value needs.
            let expectedCuts = Self.expectedCuts[name] ?? -1
            #expect(cuts.cuts == expectedCuts, "\(name): \(cuts)")
            // Sizes only: at most a few dimensions (8 bytes each) per data-dependent node, and
            // the booleans/counts some nodes need at plan time.
            let dynamicNodes = model.graph.nodes.filter { ["NonZero", "NonMaxSuppression", "Compress", "Unique"].contains($0.opType) }.count
            #expect(cuts.bytesRead <= 64 + 64 * dynamicNodes && (dynamicNodes == 0 || cuts.bytesRead > 0), "\(name): \(cuts)")
            // Same sizes again: the continuation segments come from the cache.
            Self.check(try session.run(feeds), expected, "\(name) device, second run [\(options.summary)]")
            #expect(session.lastCuts.plansBuilt == 0 && session.lastCuts.cuts == cuts.cuts, "\(name) second run: \(session.lastCuts)")
        }
    }

    /// If: the loader inlines both branches, guarded; only the taken branch runs, its condition
    /// computed on the device and read back (one boolean), a nested If's from a NonZero count.
    @Test func ifRunsOnlyTheTakenBranch() throws {
        let (model, feeds, expected) = try Self.load("if_else_nested")
        #expect(model.graph.nodes.filter { $0.opType == "If" }.count == 2)
        #expect(model.graph.nodes.contains { $0.opType == "Relu" && $0.guards == [NodeGuard(cond: model.graph.nodes.first { $0.opType == "If" && $0.guards.isEmpty }!.inputs[0], value: true)] })
        let session = Session(model: model, runtime: try TestDevice.require())
        let kept = try session.runKeepingAll(feeds)
        // The then branch (Relu, Mul) never ran: none of its values exist.
        let thenValues = model.graph.nodes.filter { $0.opType == "Relu" }.flatMap(\.outputs)
        #expect(!thenValues.isEmpty && thenValues.allSatisfy { kept.values[$0] == nil })
        Self.check(try session.run(feeds), expected, "if_else_nested")
        // Two reads: the outer condition (a boolean), then the NonZero shape (its nested If's count).
        #expect(session.lastCuts.cuts == 2, "\(session.lastCuts)")
    }

    /// Row-local nodes run on a row bound without a cut: Compress's kept indices (the rows past
    /// the count are never written: garbage) drive a Gather (its kernel clamps indices) and a Mul;
    /// a Softmax over the rows is not row-local and waits for a cut. Device equals reference for
    /// every count, none included.
    @Test func rowLocalConsumersRunOnTheBound() throws {
        let nodes = [
            Node(name: "mask", opType: "Greater", inputs: ["x", "zero"], outputs: ["m"]),
            Node(name: "compress", opType: "Compress", inputs: ["ids", "m"], outputs: ["kept"], attributes: ["axis": .int(0)]),
            Node(name: "gather", opType: "Gather", inputs: ["table", "kept"], outputs: ["rows"], attributes: ["axis": .int(0)]),
            Node(name: "double", opType: "Mul", inputs: ["rows", "two"], outputs: ["doubled"]),
            Node(name: "softmax", opType: "Softmax", inputs: ["rows"], outputs: ["weights"], attributes: ["axis": .int(0)]),
        ]
        let graph = Graph(nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, dims: [50]), ValueInfo(name: "ids", dtype: .int64, dims: [50]),
                                                 ValueInfo(name: "table", dtype: .float32, dims: [61, 3])],
                          outputs: [ValueInfo(name: "doubled", dtype: .float32, dims: nil), ValueInfo(name: "weights", dtype: .float32, dims: nil)],
                          initializers: ["zero": Tensor(shape: [], floats: [0]), "two": Tensor(shape: [], floats: [2])], opset: 17)
        let model = try Model(graph: graph)
        var rng = TestRandom(seed: 21)
        let table = rng.tensor([61, 3])
        for session in OpVariants.kernelStyles.map({ Session(model: model, runtime: try? TestDevice.require(), options: $0) }) {
            for threshold: Float in [-2, 0, 0.9, 2] {
                var x = rng.tensor([50])
                x = Tensor(shape: [50], floats: x.floats.map { $0 - threshold })
                let feeds = ["x": x, "ids": rng.ints([50], -61, 60), "table": table]
                let reference = try ReferenceExecutor().run(model, inputs: feeds)
                let device = try session.run(feeds)
                for name in ["doubled", "weights"] {
                    assertClose(try #require(device[name]), try #require(reference[name]), rtol: 1e-6, atol: 1e-7, "\(name), threshold \(threshold)")
                }
                // One cut, for the Softmax over the rows; the Gather and the Mul ran before it.
                #expect(session.lastCuts.cuts == 1, "\(session.lastCuts)")
            }
        }
    }

    /// New sizes plan new segments on the cached first one; the old sizes still hit the cache,
    /// and results follow the data (the NMS output shrinks to nothing above every score).
    @Test func segmentsArePlannedPerSizeAndCached() throws {
        let (model, feeds, expected) = try Self.load("nms_gather_concat")
        let session = Session(model: model, runtime: try TestDevice.require())
        Self.check(try session.run(feeds), expected, "nms_gather_concat")
        let built = session.lastCuts.plansBuilt
        #expect(built >= 1)
        var fewer = feeds
        let scores = try #require(feeds["scores"])
        fewer["scores"] = Tensor(shape: scores.shape, floats: scores.floats.enumerated().map { $0.offset % 3 == 0 ? $0.element : 0 })
        let reference = try ReferenceExecutor().run(model, inputs: fewer)
        Self.check(try session.run(fewer), reference, "nms_gather_concat, a third of the scores")
        #expect(session.lastCuts.plansBuilt >= 1 && reference["detections"].map { $0.shape[1] < expected["detections"]!.shape[1] } == true)
        Self.check(try session.run(feeds), expected, "nms_gather_concat again")
        #expect(session.lastCuts.plansBuilt == 0, "\(session.lastCuts)")
        #expect(session.planCount == 1)
    }

    /// `gpuinfer verify` checks every node of every segment.
    @Test func verifierCoversEverySegment() throws {
        let (model, feeds, _) = try Self.load("nms_gather_concat")
        let session = Session(model: model, runtime: try TestDevice.require())
        let rows = try Verifier.compare(session, inputs: feeds)
        let ops = Set(rows.map(\.op))
        #expect(ops.contains("NonMaxSuppression") && ops.contains("GatherND") && ops.contains("Concat"), "\(ops.sorted())")
        #expect(rows.allSatisfy { $0.withinTolerance }, "\(rows.filter { !$0.withinTolerance }.map(\.node))")
    }

    /// A plan-time input computed on the device from a large tensor is not a size: refused, naming the node.
    @Test func refusesReadingBackTensors() throws {
        // Reshape's shape from a Cast of a 5000-element input.
        let cast = Node(name: "cast", opType: "Cast", inputs: ["x"], outputs: ["shape"], attributes: ["to": .int(7)])
        let reshape = Node(name: "reshape", opType: "Reshape", inputs: ["y", "shape"], outputs: ["z"])
        let graph = Graph(nodes: [cast, reshape], inputs: [ValueInfo(name: "x", dtype: .float32, dims: [5000]), ValueInfo(name: "y", dtype: .float32, dims: [2])],
                          outputs: [ValueInfo(name: "z", dtype: .float32, dims: nil)], initializers: [:], opset: 17)
        expectGPUInferError("read back", mentions: ["reshape", "too many to read back"], { if case .unsupportedOp = $0 { true } else { false } }) {
            _ = try Model(graph: graph)  // refused at load: the inputs' shapes are static
        }
    }

    // MARK: the data-dependent ops, device vs reference

    /// NonZero on floats (NaN counts, −0 does not), ints and bools, ranks 0–4, sizes across
    /// chunk boundaries (256), all zero and all non-zero.
    @Test func nonZero() throws {
        var rng = TestRandom(seed: 11)
        for shape in [[1], [7], [3, 5], [2, 129, 3], [257], [513, 2], [2, 3, 4, 5]] {
            let x = rng.tensor(shape)
            var f = x.floats.map { $0 > 0.3 ? $0 : 0 }
            if f.count > 2 { f[1] = .nan; f[2] = -0.0 }
            try checkOp("NonZero", inputs: [Tensor(shape: shape, floats: f)], rtol: 0, atol: 0)
            try checkOp("NonZero", inputs: [rng.ints(shape, -2, 2)], rtol: 0, atol: 0)
        }
        try checkOp("NonZero", inputs: [Tensor(zeros: [33, 9])], rtol: 0, atol: 0)
        try checkOp("NonZero", inputs: [Tensor(shape: [300], floats: [Float](repeating: 2, count: 300))], rtol: 0, atol: 0)
        try checkOp("NonZero", inputs: [Tensor(shape: [], floats: [3])], rtol: 0, atol: 0)
        try checkOp("NonZero", inputs: [Tensor(shape: [], floats: [0])], rtol: 0, atol: 0)
        try checkOp("NonZero", inputs: [Tensor(shape: [4, 0, 3], floats: [])], rtol: 0, atol: 0)
    }

    /// Compress along each axis, negative axes, no axis (flattened), conditions shorter than
    /// the axis, all false, all true.
    @Test func compress() throws {
        var rng = TestRandom(seed: 12)
        let x = rng.tensor([3, 7, 5])
        for (axis, length) in [(0, 3), (1, 7), (2, 5), (1, 4), (-1, 2), (-3, 3)] {
            let c = rng.ints([length], 0, 1)
            try checkOp("Compress", attributes: ["axis": .int(axis)], inputs: [x, Tensor(shape: [length], ints: c.ints, dtype: .bool)], rtol: 0, atol: 0)
        }
        try checkOp("Compress", inputs: [x, Tensor(shape: [100], ints: (0..<100).map { Int64($0 % 3 == 0 ? 1 : 0) }, dtype: .bool)], rtol: 0, atol: 0)
        try checkOp("Compress", attributes: ["axis": .int(1)], inputs: [x, Tensor(shape: [7], ints: [Int64](repeating: 0, count: 7), dtype: .bool)], rtol: 0, atol: 0)
        try checkOp("Compress", attributes: ["axis": .int(0)], inputs: [rng.ints([4, 3], -9, 9), Tensor(shape: [4], ints: [1, 1, 1, 1], dtype: .bool)], rtol: 0, atol: 0)
    }

    /// Unique flattened and along axes, sorted and in first-occurrence order, floats with ties,
    /// −0/+0 and NaNs, every element equal, every element distinct.
    @Test func unique() throws {
        var rng = TestRandom(seed: 13)
        for sorted in [0, 1] {
            let a: [String: Attribute] = ["sorted": .int(sorted)]
            try checkOp("Unique", attributes: a, inputs: [rng.ints([301], -20, 20)], outputs: 4, rtol: 0, atol: 0)
            try checkOp("Unique", attributes: a, inputs: [Tensor(shape: [6], floats: [1.5, -0.0, .nan, 0, 1.5, .nan])], outputs: 4, rtol: 0, atol: 0)
            try checkOp("Unique", attributes: a.merging(["axis": .int(0)]) { $1 }, inputs: [rng.ints([37, 3], 0, 2)], outputs: 4, rtol: 0, atol: 0)
            try checkOp("Unique", attributes: a.merging(["axis": .int(1)]) { $1 }, inputs: [rng.ints([2, 9, 2], 0, 1)], outputs: 4, rtol: 0, atol: 0)
            try checkOp("Unique", attributes: a.merging(["axis": .int(-1)]) { $1 }, inputs: [Tensor(shape: [2, 5], floats: [1, 2, 1, 2, 3, 4, 5, 4, 5, 6])],
                        outputs: 4, rtol: 0, atol: 0)
            try checkOp("Unique", attributes: a, inputs: [Tensor(shape: [4, 4], floats: [Float](repeating: 7, count: 16))], outputs: 4, rtol: 0, atol: 0)
            try checkOp("Unique", attributes: a, inputs: [rng.tensor([2, 50])], outputs: 4, rtol: 0, atol: 0)
        }
    }
}
