// Malformed and hostile inputs: each must give the right GPUInferError case with a message that
// says what and where, never a crash. Bad models are built here from the ONNX protobuf types and
// serialized, so these tests need no generated files.
import Foundation
import ONNXProto
import SwiftProtobuf
import Testing
@testable import GPUInfer

/// Small ONNX models built from protobuf messages, to be broken on purpose.
enum BadModel {
    static func valueInfo(_ name: String, _ dims: [Int64]) -> Onnx_ValueInfoProto {
        var vi = Onnx_ValueInfoProto()
        vi.name = name
        var tt = Onnx_TypeProto.Tensor()
        tt.elemType = 1
        tt.shape.dim = dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            dim.dimValue = d
            return dim
        }
        vi.type.tensorType = tt
        return vi
    }

    static func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String = "", domain: String = "") -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.input = inputs
        n.output = outputs
        n.name = name
        n.domain = domain
        return n
    }

    static func floats(_ name: String, _ dims: [Int64], _ values: [Float]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = 1
        t.dims = dims
        t.rawData = values.withUnsafeBytes { Data($0) }
        return t
    }

    /// X [1,4] → Identity → Y, plus a [4,4] float initializer W that `mutate` may break.
    static func model(opset: Int64 = 13, _ mutate: (inout Onnx_ModelProto) -> Void = { _ in }) -> Onnx_ModelProto {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var o = Onnx_OperatorSetIdProto()
        o.version = opset
        m.opsetImport = [o]
        m.graph.name = "bad"
        m.graph.input = [valueInfo("X", [1, 4])]
        m.graph.output = [valueInfo("Y", [1, 4])]
        m.graph.node = [node("Identity", ["X"], ["Y"], name: "id")]
        m.graph.initializer = [floats("W", [4, 4], (0..<16).map(Float.init))]
        mutate(&m)
        return m
    }

    static func bytes(_ m: Onnx_ModelProto) throws -> Data { try m.serializedBytes() }

    /// Makes the initializer W an external tensor read from `location`.
    static func makeExternal(_ m: inout Onnx_ModelProto, location: String) {
        m.graph.initializer[0].clearRawData()
        m.graph.initializer[0].dataLocation = .external
        var e = Onnx_StringStringEntryProto()
        e.key = "location"
        e.value = location
        m.graph.initializer[0].externalData = [e]
    }

    /// Loads `m` from memory (structure checks) and builds a Model (op checks).
    static func load(_ m: Onnx_ModelProto, baseDirectory: URL? = nil) throws {
        _ = try Model(graph: ONNXLoader.load(data: bytes(m), name: "bad.onnx", baseDirectory: baseDirectory))
    }

    /// A temporary folder, removed by the caller.
    static func tempDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

private func isInvalidModel(_ e: GPUInferError) -> Bool { if case .invalidModel = e { true } else { false } }
private func isIO(_ e: GPUInferError) -> Bool { if case .io = e { true } else { false } }

@Suite struct BadInputTests {
    @Test func validBaseModelLoads() throws {
        try BadModel.load(BadModel.model())
    }

    @Test func missingFile() {
        expectGPUInferError("missing file", mentions: ["/nonexistent/model.onnx", "no such file"], isIO) {
            _ = try Model(path: "/nonexistent/model.onnx")
        }
        expectGPUInferError("directory", mentions: ["directory"], isIO) { _ = try Model(path: NSTemporaryDirectory()) }
    }

    /// The first half of a model: the graph message is cut in the middle.
    @Test func truncatedModel() throws {
        var files: [Data] = [try BadModel.bytes(BadModel.model { m in
            m.graph.initializer.append(BadModel.floats("big", [64, 64], (0..<4096).map { Float($0) }))
        })]
        let sample = GeneratedData.url("sample_cnn.onnx").path
        if let data = FileManager.default.contents(atPath: sample) { files.append(data) }
        let dir = try BadModel.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (i, data) in files.enumerated() {
            let path = dir.appendingPathComponent("truncated\(i).onnx").path
            try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
            expectGPUInferError("truncated model \(i)", mentions: ["truncated\(i).onnx", "truncated or corrupt"], isInvalidModel) {
                _ = try Model(path: path)
            }
        }
    }

    @Test func randomBytes() {
        var rng = TestRandom(seed: 99)
        let data = Data((0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        expectGPUInferError("random bytes", mentions: ["random.onnx"], isInvalidModel) {
            _ = try ONNXLoader.load(data: data, name: "random.onnx")
        }
        expectGPUInferError("empty file", mentions: ["no graph"], isInvalidModel) {
            _ = try ONNXLoader.load(data: Data(), name: "empty.onnx")
        }
    }

    @Test func graphWithCycle() {
        let m = BadModel.model { m in
            m.graph.node = [BadModel.node("Identity", ["X", "B"], ["A"], name: "first"),
                            BadModel.node("Identity", ["A"], ["B"], name: "second"),
                            BadModel.node("Identity", ["B"], ["Y"], name: "last")]
        }
        expectGPUInferError("cycle", mentions: ["cycle"], isInvalidModel) { try BadModel.load(m) }
        let dangling = BadModel.model { m in m.graph.node = [BadModel.node("Identity", ["nowhere"], ["Y"], name: "id")] }
        expectGPUInferError("dangling input", mentions: ["nowhere", "'id'"], isInvalidModel) { try BadModel.load(dangling) }
        let twice = BadModel.model { m in m.graph.node.append(BadModel.node("Identity", ["X"], ["Y"], name: "again")) }
        expectGPUInferError("value produced twice", mentions: ["'Y'", "more than once"], isInvalidModel) { try BadModel.load(twice) }
    }

    @Test func initializerSizeMismatch() {
        let raw = BadModel.model { m in m.graph.initializer[0].rawData = Data(count: 20) }
        expectGPUInferError("raw data size", mentions: ["'W'", "20 bytes", "64"], isInvalidModel) { try BadModel.load(raw) }
        let typed = BadModel.model { m in
            m.graph.initializer[0].clearRawData()
            m.graph.initializer[0].floatData = [1, 2, 3]
        }
        expectGPUInferError("float_data count", mentions: ["'W'", "3 values"], isInvalidModel) { try BadModel.load(typed) }
    }

    @Test func negativeAndHugeDims() {
        let negative = BadModel.model { m in m.graph.initializer[0].dims = [-4, -4] }
        expectGPUInferError("negative initializer dim", mentions: ["'W'", "negative"], isInvalidModel) { try BadModel.load(negative) }
        let negativeInput = BadModel.model { m in m.graph.input = [BadModel.valueInfo("X", [1, -4])] }
        expectGPUInferError("negative input dim", mentions: ["'X'", "-4"], isInvalidModel) { try BadModel.load(negativeInput) }
        // -1 is Paddle2ONNX's spelling of a dynamic dim (onnxruntime accepts it): not an error.
        let dynamic = BadModel.model { m in m.graph.input = [BadModel.valueInfo("X", [-1, 4])] }
        #expect(throws: Never.self) {
            let g = try ONNXLoader.load(data: BadModel.bytes(dynamic))
            #expect(g.inputs.first?.dims == [nil, 4])
        }
        let huge = BadModel.model { m in
            m.graph.initializer[0].dims = [1 << 40]
            m.graph.initializer[0].clearRawData()
        }
        expectGPUInferError("2^40-element dim", mentions: ["'W'", "too large"], isInvalidModel) { try BadModel.load(huge) }
        // Each dim is small; the product (2^40) overflows the element limit.
        let product = BadModel.model { m in
            m.graph.initializer[0].dims = [1 << 20, 1 << 20]
            m.graph.initializer[0].clearRawData()
        }
        expectGPUInferError("2^20 × 2^20 elements", mentions: ["'W'", "too many elements"], isInvalidModel) { try BadModel.load(product) }
    }

    @Test func unsupportedOpNamesOpNodeAndOpset() {
        let m = BadModel.model(opset: 17) { m in m.graph.node = [BadModel.node("FrobnicateV2", ["X"], ["Y"], name: "my_node")] }
        let e = expectGPUInferError("unsupported op", mentions: ["FrobnicateV2", "my_node", "17"], {
            if case .unsupportedOp(op: "FrobnicateV2", domain: "", node: "my_node", opset: 17, reason: _) = $0 { true } else { false }
        }) { try BadModel.load(m) }
        #expect(e != nil)
        let custom = BadModel.model { m in
            var o = Onnx_OperatorSetIdProto()
            o.domain = "com.example"
            o.version = 1
            m.opsetImport.append(o)
            m.graph.node = [BadModel.node("Relu", ["X"], ["Y"], name: "custom_relu", domain: "com.example")]
        }
        expectGPUInferError("op in another domain", mentions: ["com.example", "custom_relu"], {
            if case .unsupportedOp(op: "Relu", domain: "com.example", node: _, opset: _, reason: _) = $0 { true } else { false }
        }) { try BadModel.load(custom) }
    }

    @Test func externalDataEscapingTheFolder() throws {
        let dir = try BadModel.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inside = dir.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: inside, withIntermediateDirectories: true)
        // A real file outside the model folder, so only the path check can refuse it.
        try Data(count: 64).write(to: dir.appendingPathComponent("x"))
        for location in ["../x", "/etc/passwd", "sub/../../x"] {
            let m = BadModel.model { BadModel.makeExternal(&$0, location: location) }
            let path = inside.appendingPathComponent("model.onnx")
            try BadModel.bytes(m).write(to: path)
            expectGPUInferError("external data '\(location)'", mentions: [location, "refused"], isInvalidModel) {
                _ = try Model(path: path.path)
            }
        }
    }

    /// Only regular files are read: a FIFO (whose plain open blocks until a writer appears) or a
    /// directory as model, .npy input, TensorProto or external data is a typed io error that says
    /// what the path is, at once (a hang would time the suite out).
    @Test func fifosAndDirectoriesAreRefusedWithoutBlocking() throws {
        let dir = try BadModel.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("pipe").path, folder = dir.appendingPathComponent("folder").path
        #expect(mkfifo(fifo, 0o600) == 0)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (path, kind) in [(fifo, "FIFO"), (folder, "directory")] {
            expectGPUInferError("model", mentions: [path, kind, "model"], isIO) { _ = try Model(path: path) }
            expectGPUInferError(".npy", mentions: [path, kind], isIO) { _ = try Npy.read(path: path) }
            expectGPUInferError("TensorProto", mentions: [path, kind], isIO) { _ = try ONNXLoader.loadTensor(path: path) }
            let name = (path as NSString).lastPathComponent
            let m = BadModel.model { BadModel.makeExternal(&$0, location: name) }
            let model = dir.appendingPathComponent("external_\(kind).onnx")
            try BadModel.bytes(m).write(to: model)
            expectGPUInferError("external data", mentions: [name, kind, "external data"], isIO) { _ = try Model(path: model.path) }
        }
        #expect(RegularFile.problem(fifo)?.contains("FIFO") == true && RegularFile.problem(dir.appendingPathComponent("nothing").path) == "no such file")
        #expect(RegularFile.problem(dir.appendingPathComponent("external_FIFO.onnx").path) == nil)
    }

    /// A tensor larger than the memory there is: on the reference backend a typed out-of-memory
    /// error naming the node and the shape (it used to abort on the allocation), on the device the
    /// device's own typed error. A Pad to 200004² (160 GB of fp32) and a Resize by 10⁵ per side (640 GB; beyond 2^40 elements it would be a shape error at load).
    @Test func referenceBackendRefusesTensorsBeyondMemory() throws {
        var rng = TestRandom(seed: 4)
        let x = rng.tensor([1, 1, 4, 4])
        func isOOM(_ e: GPUInferError) -> Bool { if case .outOfMemory = e { true } else { false } }
        let pad = try singleNodeModel("Pad", inputs: [x, Tensor(shape: [8], ints: [0, 0, 100_000, 100_000, 0, 0, 100_000, 100_000])], constant: [1])
        let resize = try singleNodeModel("Resize", attributes: ["mode": .string("nearest")],
                                         inputs: [x, nil, Tensor(shape: [4], floats: [1, 1, 100_000, 100_000])], constant: [2])
        for (name, model) in [("Pad", pad), ("Resize", resize)] {
            expectGPUInferError("\(name) on the reference backend", mentions: ["reference backend", "node"], isOOM) {
                _ = try ReferenceExecutor().run(model, inputs: ["in0": x])
            }
            expectGPUInferError("\(name) on the device", isOOM) { _ = try Session(model: model, runtime: try TestDevice.require()).run(["in0": x]) }
        }
        // An element count past Int.max counts as too large, not as a trap.
        expectGPUInferError("uncountable", mentions: ["more elements than can be counted"], isOOM) {
            try HostMemory.check(TensorType(.float32, [1 << 32, 1 << 32]), node: "n", available: Int.max)
        }
        try HostMemory.check(TensorType(.float32, [1 << 20]), node: "small", available: 0)
    }

    /// Hostile values in valid files: shape arithmetic that would overflow (and trap) is a typed
    /// shape error naming the node, at load or plan time, on both backends; a Slice step of
    /// Int64.min or Int64.max runs (one element, as onnxruntime gives).
    @Test func hostileShapeValuesAreTypedErrors() throws {
        var rng = TestRandom(seed: 8)
        let x = rng.tensor([1, 2, 5, 5])
        func isShape(_ e: GPUInferError) -> Bool { if case .shapeMismatch = e { true } else { false } }
        let huge = 1 << 62
        let cases: [(String, () throws -> Model)] = [
            ("Conv dilations 2^62", { try singleNodeModel("Conv", attributes: ["dilations": .ints([huge, 1])], inputs: [x, rng.tensor([3, 2, 3, 3])], constant: [1]) }),
            ("Conv pads 2^62", { try singleNodeModel("Conv", attributes: ["pads": .ints([huge, 0, 0, 0])], inputs: [x, rng.tensor([3, 2, 3, 3])], constant: [1]) }),
            ("Tile repeats 2^62", { try singleNodeModel("Tile", inputs: [x, Tensor(shape: [4], ints: [1, 1, Int64(huge), 4])], constant: [1]) }),
            ("ConstantOfShape [2^62]", { try singleNodeModel("ConstantOfShape", inputs: [Tensor(shape: [1], ints: [Int64(huge)])], constant: [0]) }),
            ("ConstantOfShape [2^33, 2^33]", { try singleNodeModel("ConstantOfShape", inputs: [Tensor(shape: [2], ints: [1 << 33, 1 << 33])], constant: [0]) }),
            ("Reshape to [2^62, 4, -1]", { try singleNodeModel("Reshape", inputs: [x, Tensor(shape: [3], ints: [Int64(huge), 4, -1])], constant: [1]) }),
        ]
        for (what, make) in cases {
            // Static input shapes are planned at load; otherwise the first run plans.
            expectGPUInferError(what, mentions: ["node"], isShape) {
                let m = try make()
                let feeds = m.inputs.isEmpty ? [:] : ["in0": x]
                _ = try ReferenceExecutor().run(m, inputs: feeds)
                _ = try Session(model: m, runtime: try TestDevice.require()).run(feeds)
            }
        }
        for step in [Int64.min, Int64.max, -(1 << 62)] {
            let m = try singleNodeModel("Slice", inputs: [x, Tensor(shape: [1], ints: [2]), Tensor(shape: [1], ints: [step > 0 ? 5 : -6]),
                                                          Tensor(shape: [1], ints: [3]), Tensor(shape: [1], ints: [step])], constant: [1, 2, 3, 4])
            let reference = try #require(try ReferenceExecutor().run(m, inputs: ["in0": x])["out0"])
            #expect(reference.shape == [1, 2, 5, 1])
            #expect(reference.floats == (0..<10).map { x.floats[$0 * 5 + 2] }, "step \(step): column 2")
            assertClose(try #require(try Session(model: m, runtime: try TestDevice.require()).run(["in0": x])["out0"]), reference, rtol: 0, atol: 0, "Slice step \(step) on the device")
        }
    }

    /// What the structure-aware fuzzer (gpuinfer-fuzz models, seed 1) found, each reduced to one
    /// node: a trap or abort before, a typed error naming the node now, on both backends.
    @Test func structureAwareFuzzFindingsAreTypedErrors() throws {
        var rng = TestRandom(seed: 11)
        let x = rng.tensor([1, 2, 3, 3])
        func isShape(_ e: GPUInferError) -> Bool { if case .shapeMismatch = e { true } else { false } }
        func isOOM(_ e: GPUInferError) -> Bool { if case .outOfMemory = e { true } else { false } }
        func isModel(_ e: GPUInferError) -> Bool { if case .invalidModel = e { true } else { false } }
        let scalar = Tensor(shape: [], floats: [1.5])
        let cases: [(String, [String], (GPUInferError) -> Bool, () throws -> Model)] = [
            // Index out of range: an int8 bias read as floats.
            ("InstanceNormalization with an int8 bias", ["node", "bias"], isShape, {
                try singleNodeModel("InstanceNormalization", inputs: [x, rng.tensor([2]), Tensor(shape: [2], ints: [1, 2], dtype: .int8)], constant: [1, 2]) }),
            // Index out of range: limit read as ints.
            ("Range of int64 start, float limit", ["node", "one type"], isShape, {
                try singleNodeModel("Range", inputs: [Tensor(shape: [], ints: [0]), Tensor(shape: [], floats: [5]), Tensor(shape: [], ints: [1])], constant: [0, 1, 2]) }),
            // Overflow trap: Int64.min / -1.
            ("Range 0 ..< Int64.min by -1", ["node", "too long"], isShape, {
                try singleNodeModel("Range", inputs: [Tensor(shape: [], ints: [0]), Tensor(shape: [], ints: [Int64.min]), Tensor(shape: [], ints: [-1])], constant: [0, 1, 2]) }),
            // Index out of range: the axis of a scalar.
            ("ArgMax of a scalar", ["node", "rank"], isShape, { try singleNodeModel("ArgMax", inputs: [scalar], constant: [0]) }),
            ("ArgMax of a scalar input", ["node", "rank"], isShape, { try singleNodeModel("ArgMax", inputs: [scalar]) }),
            // Overflow trap: sampling_ratio² samples.
            ("RoiAlign sampling_ratio 2^32 - 1", ["sampling_ratio"], isModel, {
                try singleNodeModel("RoiAlign", attributes: ["sampling_ratio": .int(4_294_967_295)],
                                    inputs: [rng.tensor([1, 1, 4, 4]), Tensor(shape: [1, 4], floats: [0, 0, 2, 2]), Tensor(shape: [1], ints: [0])]) }),
            // Abort ("failed to allocate 64 GB"): constant folding at load allocated without the budget.
            ("ConstantOfShape [2^34] folded at load", ["node", "cpu reference backend"], isOOM, {
                try singleNodeModel("ConstantOfShape", inputs: [Tensor(shape: [1], ints: [1 << 34])], constant: [0]) }),
            // Overflow traps in output-size arithmetic.
            ("Pad by Int64.max", ["node", "overflows"], isShape, {
                try singleNodeModel("Pad", inputs: [x, Tensor(shape: [8], ints: [0, 0, Int64.max, 0, 0, 0, 1, 0])], constant: [1]) }),
            ("ConvTranspose strides 2^63 - 2", ["node", "overflows"], isShape, {
                try singleNodeModel("ConvTranspose", attributes: ["strides": .ints([Int(Int64.max - 1), 2])], inputs: [x, rng.tensor([2, 3, 3, 3])], constant: [1]) }),
            // Overflow trap: blocksize².
            ("DepthToSpace blocksize 2^40", ["node", "overflows"], isShape, {
                try singleNodeModel("DepthToSpace", attributes: ["blocksize": .int(1 << 40)], inputs: [x]) }),
            // Division by zero: channels % channels with no channel.
            ("InstanceNormalization of 0 channels", ["node", "channel"], isShape, {
                try singleNodeModel("InstanceNormalization", inputs: [Tensor(shape: [1, 0, 1, 3], floats: []), Tensor(shape: [0], floats: []), Tensor(shape: [], floats: [1])], constant: [0, 1, 2]) }),
        ]
        // Index out of range in the device plan (all 32 crashes of the first 100,000-mutant run):
        // a node that names fewer outputs than its op computes, or leaves one unnamed. The plan
        // gives those scratch buffers; the named outputs equal the reference exactly.
        let rows = rng.tensor([2, 7])
        for outputs in [["values"], ["", "indices"]] {
            let node = Node(name: "topk", opType: "TopK", inputs: ["x", "k"], outputs: outputs, attributes: [:])
            let graph = Graph(nodes: [node], inputs: [ValueInfo(name: "x", dtype: .float32, dims: [2, 7])],
                              outputs: outputs.filter { !$0.isEmpty }.map { ValueInfo(name: $0, dtype: nil, dims: nil) },
                              initializers: ["k": Tensor(shape: [1], ints: [3])], opset: 17)
            let m = try Model(graph: graph)
            let want = try ReferenceExecutor().run(m, inputs: ["x": rows])
            let got = try Session(model: m, runtime: try TestDevice.require()).run(["x": rows])
            for name in outputs where !name.isEmpty {
                let a = try #require(got[name]), e = try #require(want[name])
                #expect(tensorMismatch(a, e, rtol: 0, atol: 0) == nil, "TopK outputs \(outputs): '\(name)'")
            }
        }

        // A hang: pooling with a kernel of 2^31 − 1 under SAME_UPPER walked every tap of the window on
        // both backends. Windows now walk only their taps inside the input. On [1, 2, 4, 5] with
        // kernel [2, 2^31 − 1] the pads are [0, 2^30 − 1, 1, 2^30], so output (oh, ow) pools rows
        // oh…min(oh + 1, 3) over every column: checked by hand on the reference, and the device
        // equal to the reference (the same additions in the same order: 1e-6 is rounding slack).
        let planes = rng.tensor([1, 2, 4, 5])
        for op in ["MaxPool", "AveragePool"] {
            let m = try singleNodeModel(op, attributes: ["kernel_shape": .ints([2, 2_147_483_647]), "auto_pad": .string("SAME_UPPER")], inputs: [planes])
            let want = try #require(try ReferenceExecutor().run(m, inputs: ["in0": planes])["out0"])
            var byHand: [Float] = []
            for c in 0..<2 {
                for oh in 0..<4 {
                    let window = (oh...min(oh + 1, 3)).flatMap { h in (0..<5).map { planes.floats[(c * 4 + h) * 5 + $0] } }
                    let v = op == "MaxPool" ? window.max()! : window.reduce(0, +) / Float(window.count)
                    byHand += [Float](repeating: v, count: 5)
                }
            }
            #expect(want.shape == [1, 2, 4, 5])
            assertClose(want, Tensor(shape: [1, 2, 4, 5], floats: byHand), rtol: 1e-6, atol: 1e-6, "\(op) kernel 2^31 − 1 on the reference")
            for style in [ExecutionOptions.KernelStyle.cpu, .gpu] {
                let session = Session(model: m, runtime: try TestDevice.require(), options: OpVariants.style(style))
                let got = try #require(try session.run(["in0": planes])["out0"])
                assertClose(got, want, rtol: 1e-6, atol: 1e-6, "\(op) kernel 2^31 − 1 on the device, \(style) kernels")
            }
        }

        // An abort ("failed to allocate 64 GB"): Resize to sizes [1, 1, 0, 2^33] — an empty output
        // whose last axis alone asked for 2^33 taps. Now an empty tensor on both backends.
        let resize = try singleNodeModel("Resize", attributes: ["mode": .string("nearest")],
                                         inputs: [x, nil, nil, Tensor(shape: [4], ints: [1, 2, 0, 1 << 33])], constant: [3], opset: 18)
        let empty = try ReferenceExecutor().run(resize, inputs: ["in0": x])["out0"]
        #expect(empty?.shape == [1, 2, 0, 1 << 33] && empty?.floats.isEmpty == true)
        let emptyOnDevice = try Session(model: resize, runtime: try TestDevice.require()).run(["in0": x])["out0"]
        #expect(emptyOnDevice?.shape == [1, 2, 0, 1 << 33])

        // A hang: Unique of 2^20 floats compared every pair on both backends. The reference now
        // sorts (200,000 floats with 2,001 distinct values: its outputs checked); the device, whose
        // kernels stay pairwise, refuses past 65,536 slices.
        let values = (0..<200_000).map { Float(($0 * 7919) % 2001) / 7 }
        let unique = try singleNodeModel("Unique", attributes: ["sorted": .int(1)], inputs: [Tensor(shape: [values.count], floats: values)], outputs: 4)
        let u = try ReferenceExecutor().run(unique, inputs: ["in0": Tensor(shape: [values.count], floats: values)])
        #expect(u["out0"]?.floats == (0..<2001).map { Float($0) / 7 })
        #expect(u["out1"]?.ints.prefix(3) == [0, 1436, 871], "first occurrences of 0, 1/7, 2/7")
        #expect(u["out3"]?.ints.reduce(0, +) == 200_000)
        func isUnsupported(_ e: GPUInferError) -> Bool { if case .unsupportedOp = e { true } else { false } }
        expectGPUInferError("Unique of 200,000 slices on the device", mentions: ["node", "65536"], isUnsupported) {
            _ = try Session(model: unique, runtime: try TestDevice.require()).run(["in0": Tensor(shape: [values.count], floats: values)])
        }
        for (what, mentions, kind, make) in cases {
            expectGPUInferError(what, mentions: mentions, kind) {
                let m = try make()
                let feeds: [String: Tensor] = m.inputs.isEmpty ? [:] : [m.inputs[0].name: m.inputs[0].name == "in0" && what.hasPrefix("ArgMax") ? scalar : x]
                _ = try ReferenceExecutor().run(m, inputs: feeds)
                _ = try Session(model: m, runtime: try TestDevice.require()).run(feeds)
            }
        }
    }

    /// Duplicate and empty names, unknown element types, zero-sized tensors.
    @Test func namesTypesAndZeroDims() {
        let duplicate = BadModel.model { m in m.graph.initializer.append(BadModel.floats("W", [4], [1, 2, 3, 4])) }
        expectGPUInferError("duplicate initializer", mentions: ["'W'", "duplicate"], isInvalidModel) { try BadModel.load(duplicate) }
        let duplicateInput = BadModel.model { m in m.graph.input.append(BadModel.valueInfo("X", [1, 4])) }
        expectGPUInferError("duplicate input", mentions: ["'X'", "duplicate"], isInvalidModel) { try BadModel.load(duplicateInput) }
        let unnamed = BadModel.model { m in m.graph.initializer[0].name = "" }
        expectGPUInferError("unnamed initializer", mentions: ["no name"], isInvalidModel) { try BadModel.load(unnamed) }
        let isUnsupportedDType: (GPUInferError) -> Bool = { if case .unsupportedDType = $0 { true } else { false } }
        for code: Int32 in [0, 99, 16] {  // UNDEFINED, not an ONNX type, bfloat16 (not supported)
            let unknown = BadModel.model { m in m.graph.initializer[0].dataType = code }
            expectGPUInferError("data type \(code)", mentions: ["'W'"], isUnsupportedDType) { try BadModel.load(unknown) }
        }
        // A zero-sized initializer is valid ONNX: it loads as an empty tensor.
        let empty = BadModel.model { m in m.graph.initializer[0] = BadModel.floats("W", [0, 4], []) }
        #expect(throws: Never.self) { try BadModel.load(empty) }
        let emptyButData = BadModel.model { m in m.graph.initializer[0] = BadModel.floats("W", [0, 4], [1]) }
        expectGPUInferError("zero dim with data", mentions: ["'W'", "4 bytes"], isInvalidModel) { try BadModel.load(emptyButData) }
    }

    @Test func opsetOutOfRange() {
        for opset: Int64 in [99, 3] {
            expectGPUInferError("opset \(opset)", mentions: ["opset \(opset)", "supported range"], isInvalidModel) {
                try BadModel.load(BadModel.model(opset: opset))
            }
        }
        let none = BadModel.model { m in m.opsetImport = [] }
        expectGPUInferError("no opset import", mentions: ["opset"], isInvalidModel) { try BadModel.load(none) }
    }

    @Test func unknownDevice() {
        let isDeviceNotFound: (GPUInferError) -> Bool = { if case .deviceNotFound(requested: "99", available: _) = $0 { true } else { false } }
        expectGPUInferError("device 99", mentions: ["99", "gpuinfer devices"], isDeviceNotFound) {
            _ = try DeviceSelection.openCL(99).resolve()
        }
        expectGPUInferError("session on device 99", mentions: ["99"], isDeviceNotFound) {
            _ = try Session(model: try Model(graph: ONNXLoader.load(data: BadModel.bytes(BadModel.model()))), device: .openCL(99))
        }
        expectGPUInferError("device '-3'", mentions: ["-3"], { if case .deviceNotFound = $0 { true } else { false } }) {
            _ = try DeviceSelection(parsing: "-3")
        }
    }

    @Test func wrongRunInputs() throws {
        let model = try Model(graph: ONNXLoader.load(data: BadModel.bytes(BadModel.model())))
        let isInvalidInput: (GPUInferError) -> Bool = { if case .invalidInput = $0 { true } else { false } }
        for session in [Session(model: model, runtime: nil), Session(model: model, runtime: TestDevice.runtime)] {
            expectGPUInferError("missing input", mentions: ["'X'"], isInvalidInput) { _ = try session.run([:]) }
            expectGPUInferError("wrong shape", mentions: ["'X'", "[1, 5]"], isInvalidInput) {
                _ = try session.run(["X": Tensor(zeros: [1, 5])])
            }
            expectGPUInferError("unknown input", mentions: ["'Z'"], isInvalidInput) {
                _ = try session.run(["X": Tensor(zeros: [1, 4]), "Z": Tensor(zeros: [1])])
            }
        }
    }

    @Test func corruptNpy() throws {
        let good = Npy.encode(Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]))
        #expect(try Npy.decode(good).floats == [1, 2, 3, 4, 5, 6])
        var badMagic = good
        badMagic[1] = UInt8(ascii: "X")
        expectGPUInferError("bad magic", mentions: ["bad magic"], isIO) { _ = try Npy.decode(badMagic, name: "a.npy") }
        var fortran = good
        let flag = try #require(good.range(of: Data("'fortran_order': False".utf8)))
        fortran.replaceSubrange(flag, with: Data("'fortran_order': True ".utf8))
        expectGPUInferError("Fortran order", mentions: ["Fortran"], isIO) { _ = try Npy.decode(fortran, name: "f.npy") }
        expectGPUInferError("size mismatch", mentions: ["s.npy", "20 bytes", "needs 24"], isIO) {
            _ = try Npy.decode(good.prefix(good.count - 4), name: "s.npy")
        }
        expectGPUInferError("truncated header", mentions: ["t.npy"], isIO) { _ = try Npy.decode(good.prefix(12), name: "t.npy") }
        expectGPUInferError("missing .npy", mentions: ["/nonexistent/x.npy", "no such file"], isIO) {
            _ = try Npy.read(path: "/nonexistent/x.npy")
        }
    }
}
