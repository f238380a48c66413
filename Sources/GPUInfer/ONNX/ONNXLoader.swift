// Reads an ONNX ModelProto (swift-protobuf) into the graph IR, validating everything that comes
// from the file: tensor sizes, data types, external-data paths, opsets and graph structure.
import Foundation
import ONNXProto
import SwiftProtobuf

/// Reads ONNX files.
public enum ONNXLoader {
    /// Opset range of the default domain that the engine accepts: 7 up to the newest opset of
    /// the onnx release the conformance suite is generated from (1.23.2 → 28). For the ops
    /// implemented here, versions 22–28 only added element types (which are refused by dtype) or,
    /// for Mod-28, defined float fmod=0, which Mod implements; each op parses the attribute and
    /// input forms of every version in the range.
    public static let supportedOpsets = 7...28
    /// Largest element count accepted for one tensor (2^40 elements is refused).
    static let maxElements = 1 << 36

    /// Loads a model file. External data files are resolved relative to the model's folder.
    public static func load(path: String) throws -> Graph {
        let url = URL(fileURLWithPath: path)
        // Only a regular file (a FIFO would block the open; a directory or device is no model).
        try RegularFile.check(path, what: "model")
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw GPUInferError.io(path: path, reason: "cannot read: \(FileSystemErrors.reason(error))")
        }
        return try load(data: data, name: url.lastPathComponent, baseDirectory: url.deletingLastPathComponent(),
                        payloads: .file(try PayloadFile(path: path)))
    }

    /// Loads a serialized model. `baseDirectory` is where external data files live.
    public static func load(data: Data, name: String = "<memory>", baseDirectory: URL? = nil) throws -> Graph {
        try load(data: data, name: name, baseDirectory: baseDirectory, payloads: .memory(data))
    }

    /// Where the bytes of large initializers are read from: the file (pread, so the mapped
    /// model's weight pages are never touched) or the in-memory model.
    enum PayloadSource {
        case file(PayloadFile)
        case memory(Data)

        func read(_ range: Range<Int>, into: UnsafeMutableRawBufferPointer) throws {
            switch self {
            case let .file(f): try f.read(at: range.lowerBound, into: into)
            case let .memory(d):
                d.withUnsafeBytes { src in
                    if let dst = into.baseAddress, let base = src.baseAddress, !range.isEmpty { memcpy(dst, base + range.lowerBound, range.count) }
                }
            }
        }
    }

    static func load(data: Data, name: String, baseDirectory: URL?, payloads source: PayloadSource) throws -> Graph {
        let model: Onnx_ModelProto
        // Large initializer payloads are cut out before decoding and read straight into tensors.
        let payloads = data.withUnsafeBytes { InitializerPayloads.scan($0) }
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            model = try Onnx_ModelProto(serializedBytes: payloads?.stripped ?? data, options: options)
        } catch {
            throw GPUInferError.invalidModel(location: name, reason: "not a valid ONNX protobuf (\(error)); the file may be truncated or corrupt")
        }
        guard model.hasGraph else {
            throw GPUInferError.invalidModel(location: name, reason: "no graph in the model (is this an ONNX file?)")
        }
        var opsets: [String: Int] = [:]
        for o in model.opsetImport {
            let domain = o.domain == "ai.onnx" ? "" : o.domain
            opsets[domain] = Int(clamping: o.version)
        }
        let opset = opsets[""] ?? (model.opsetImport.isEmpty ? 0 : -1)
        guard supportedOpsets.contains(opset) else {
            throw GPUInferError.invalidModel(location: name, reason: "default-domain opset \(opset) is outside the supported range \(supportedOpsets.lowerBound)...\(supportedOpsets.upperBound)")
        }
        let context = Context(name: name, baseDirectory: baseDirectory)
        let g = model.graph
        var initializers: [String: Tensor] = [:]
        for (ordinal, t) in g.initializer.enumerated() {
            guard !t.name.isEmpty else { throw GPUInferError.invalidModel(location: name, reason: "an initializer has no name") }
            guard initializers[t.name] == nil else {
                throw GPUInferError.invalidModel(location: "\(name) initializer '\(t.name)'", reason: "duplicate initializer name")
            }
            initializers[t.name] = try tensor(t, context: context, payload: payloads?.ranges[ordinal].map { ($0, source) })
        }
        if !g.sparseInitializer.isEmpty {
            throw GPUInferError.invalidModel(location: name, reason: "sparse initializers are not supported")
        }
        var seenInputs = Set<String>()
        var inputs: [ValueInfo] = []
        for vi in g.input {
            guard seenInputs.insert(vi.name).inserted else {
                throw GPUInferError.invalidModel(location: "\(name) input '\(vi.name)'", reason: "duplicate graph input")
            }
            inputs.append(try valueInfo(vi, context: context))
        }
        let outputs = try g.output.map { try valueInfo($0, context: context) }
        var nodes: [Node] = []
        for (i, n) in g.node.enumerated() { nodes += try expand(n, index: i, context: context, renames: [:], guards: [], depth: 0) }
        var functions: [String: GraphFunction] = [:]
        for f in model.functions {
            var fopsets: [String: Int] = [:]
            for o in f.opsetImport { fopsets[o.domain == "ai.onnx" ? "" : o.domain] = Int(clamping: o.version) }
            var defaults: [String: Attribute] = [:]
            for a in f.attributeProto { defaults[a.name] = try attribute(a, node: "function \(f.name)", context: context) }
            let fnodes = try f.node.enumerated().map { i, n in try node(n, index: i, context: context) }
            functions[f.domain + "::" + f.name] = GraphFunction(
                name: f.name, domain: f.domain, inputs: f.input, outputs: f.output,
                attributeNames: f.attribute, attributeDefaults: defaults, nodes: fnodes, opsets: fopsets)
        }
        var metadata: [String: String] = [:]
        for p in model.metadataProps { metadata[p.key] = p.value }
        var graph = Graph(nodes: nodes, inputs: inputs, outputs: outputs, initializers: initializers,
                          opset: opset, opsets: opsets, functions: functions, metadata: metadata)
        for o in outputs where o.name.isEmpty {
            throw GPUInferError.invalidModel(location: name, reason: "a graph output has no name")
        }
        try graph.sortTopologically()
        let produced = Set(graph.nodes.flatMap(\.outputs)).union(graph.initializers.keys).union(graph.inputs.map(\.name))
        for o in outputs where !produced.contains(o.name) {
            throw GPUInferError.invalidModel(location: "\(name) output '\(o.name)'", reason: "no node, initializer or input produces this graph output")
        }
        return graph
    }

    struct Context {
        let name: String
        let baseDirectory: URL?
    }

    static func valueInfo(_ vi: Onnx_ValueInfoProto, context: Context) throws -> ValueInfo {
        guard vi.hasType, case .tensorType(let tt)? = vi.type.value else {
            return ValueInfo(name: vi.name, dtype: nil, dims: nil)
        }
        let dtype = DType(onnx: Int(tt.elemType))
        guard tt.hasShape else { return ValueInfo(name: vi.name, dtype: dtype, dims: nil) }
        var dims: [Int?] = []
        var names: [String?] = []
        for d in tt.shape.dim {
            switch d.value {
            case .dimValue(-1)?:
                // Paddle2ONNX (e.g. PaddleOCR models) writes -1 for a dynamic dim; onnxruntime accepts it.
                dims.append(nil)
                names.append(nil)
            case let .dimValue(v)?:
                guard v >= 0, v < maxElements else {
                    throw GPUInferError.invalidModel(location: "\(context.name) value '\(vi.name)'", reason: "dimension \(v) is negative or too large")
                }
                dims.append(Int(v))
                names.append(nil)
            case let .dimParam(p)?:
                dims.append(nil)
                names.append(p)
            case nil:
                dims.append(nil)
                names.append(nil)
            }
        }
        return ValueInfo(name: vi.name, dtype: dtype, dims: dims, dimNames: names)
    }

    static func node(_ n: Onnx_NodeProto, index: Int, context: Context) throws -> Node {
        let label = n.name.isEmpty ? "#\(index) \(n.opType)" : n.name
        var attrs: [String: Attribute] = [:]
        for a in n.attribute {
            guard attrs[a.name] == nil else {
                throw GPUInferError.invalidModel(location: "\(context.name) node '\(label)'", reason: "duplicate attribute '\(a.name)'")
            }
            attrs[a.name] = try attribute(a, node: label, context: context)
        }
        return Node(name: n.name.isEmpty ? "\(n.opType)_\(index)" : n.name, opType: n.opType, domain: n.domain,
                    inputs: n.input, outputs: n.output, attributes: attrs)
    }

    /// Nested `If`s deeper than this are refused (a hostile file could nest thousands).
    static let maxIfDepth = 16

    /// The nodes of one graph node: itself, or for an `If` the nodes of both branches, renamed
    /// into the outer graph and guarded by the condition, then an `If` node that picks the taken
    /// branch's outputs (`IfOp`). `renames` maps names local to enclosing branches.
    static func expand(_ n: Onnx_NodeProto, index: Int, context: Context, renames: [String: String], guards: [NodeGuard], depth: Int) throws -> [Node] {
        var proto = n
        proto.input = n.input.map { renames[$0] ?? $0 }
        let isIf = n.opType == "If" && (n.domain.isEmpty || n.domain == "ai.onnx")
        guard isIf else {
            var node = try node(proto, index: index, context: context)
            node.guards = guards
            return [node]
        }
        let label = n.name.isEmpty ? "If_\(index)" : n.name
        guard depth < maxIfDepth else {
            throw GPUInferError.invalidModel(location: "\(context.name) node '\(label)'", reason: "If branches nested more than \(maxIfDepth) deep")
        }
        guard proto.input.count == 1, !proto.input[0].isEmpty else {
            throw GPUInferError.invalidModel(location: "\(context.name) node '\(label)' (If)", reason: "needs exactly one input, the condition")
        }
        let cond = proto.input[0]
        var nodes: [Node] = []
        var branchOutputs: [[String]] = []
        for (attr, taken) in [("then_branch", true), ("else_branch", false)] {
            guard let a = n.attribute.first(where: { $0.name == attr }), a.hasG else {
                throw GPUInferError.invalidModel(location: "\(context.name) node '\(label)' (If)", reason: "has no \(attr) graph")
            }
            let g = a.g
            let scope = "\(label)/\(taken ? "then" : "else")/"
            var local = renames
            var constants: [Node] = []
            for t in g.initializer {
                local[t.name] = scope + t.name
                // A branch initializer becomes a Constant node of the branch.
                constants.append(Node(name: scope + t.name, opType: "Constant", inputs: [], outputs: [scope + t.name],
                                      attributes: ["value": .tensor(try tensor(t, context: context))], guards: guards + [NodeGuard(cond: cond, value: taken)]))
            }
            for bn in g.node { for o in bn.output where !o.isEmpty { local[o] = scope + o } }
            nodes += constants
            for (i, bn) in g.node.enumerated() {
                var renamed = bn
                renamed.output = bn.output.map { $0.isEmpty ? "" : scope + $0 }
                renamed.name = scope + (bn.name.isEmpty ? "\(bn.opType)_\(i)" : bn.name)
                nodes += try expand(renamed, index: i, context: context, renames: local, guards: guards + [NodeGuard(cond: cond, value: taken)], depth: depth + 1)
            }
            branchOutputs.append(g.output.map { local[$0.name] ?? $0.name })
        }
        guard branchOutputs[0].count == branchOutputs[1].count, branchOutputs[0].count == n.output.count else {
            throw GPUInferError.invalidModel(location: "\(context.name) node '\(label)' (If)",
                                             reason: "the branches have \(branchOutputs[0].count) and \(branchOutputs[1].count) outputs, the node \(n.output.count)")
        }
        nodes.append(Node(name: label, opType: "If", inputs: [cond] + branchOutputs[0] + branchOutputs[1], outputs: n.output, guards: guards))
        return nodes
    }

    static func attribute(_ a: Onnx_AttributeProto, node: String, context: Context) throws -> Attribute {
        if !a.refAttrName.isEmpty { return .reference(a.refAttrName) }
        let ints: () throws -> [Int] = {
            try a.ints.map { v in
                guard let i = Int(exactly: v) else { throw GPUInferError.invalidModel(location: "node '\(node)'", reason: "attribute \(a.name) out of range") }
                return i
            }
        }
        switch a.type {
        case .int: return .int(Int(clamping: a.i))
        case .float: return .float(a.f)
        case .string: return .string(String(decoding: a.s, as: UTF8.self))
        case .ints: return .ints(try ints())
        case .floats: return .floats(a.floats)
        case .strings: return .strings(a.strings.map { String(decoding: $0, as: UTF8.self) })
        case .tensor: return .tensor(try tensor(a.t, context: context))
        case .undefined:
            // Older exporters leave `type` unset; infer it from the fields present.
            if a.hasI { return .int(Int(clamping: a.i)) }
            if a.hasF { return .float(a.f) }
            if a.hasS { return .string(String(decoding: a.s, as: UTF8.self)) }
            if a.hasT { return .tensor(try tensor(a.t, context: context)) }
            if !a.ints.isEmpty { return .ints(try ints()) }
            if !a.floats.isEmpty { return .floats(a.floats) }
            return .unsupported("undefined")
        default:
            return .unsupported("\(a.type)")
        }
    }

    /// Reads a serialized TensorProto file (the `.pb` files of ONNX backend tests).
    public static func loadTensor(path: String) throws -> Tensor {
        let data = try RegularFile.read(path, what: "TensorProto file")
        let proto: Onnx_TensorProto
        do { proto = try Onnx_TensorProto(serializedBytes: data) } catch {
            throw GPUInferError.invalidModel(location: path, reason: "not a TensorProto: \(error)")
        }
        let url = URL(fileURLWithPath: path)
        return try tensor(proto, context: Context(name: url.lastPathComponent, baseDirectory: url.deletingLastPathComponent()))
    }

    /// Converts a TensorProto, checking that its byte size matches its dims.
    public static func tensor(_ t: Onnx_TensorProto, location: String = "<tensor>", baseDirectory: URL? = nil) throws -> Tensor {
        try tensor(t, context: Context(name: location, baseDirectory: baseDirectory))
    }

    /// `payload`: where the tensor's raw_data is when it was cut out of the protobuf.
    static func tensor(_ t: Onnx_TensorProto, context: Context, payload: (Range<Int>, PayloadSource)? = nil) throws -> Tensor {
        let where_ = "\(context.name) tensor '\(t.name)'"
        var shape: [Int] = []
        for d in t.dims {
            guard d >= 0 else { throw GPUInferError.invalidModel(location: where_, reason: "negative dimension \(d)") }
            guard d < maxElements else { throw GPUInferError.invalidModel(location: where_, reason: "dimension \(d) is too large") }
            shape.append(Int(d))
        }
        guard let count = Shape.checkedCount(shape), count <= maxElements else {
            throw GPUInferError.invalidModel(location: where_, reason: "\(shape) has too many elements")
        }
        guard let dtype = DType(onnx: Int(t.dataType)) else {
            throw GPUInferError.unsupportedDType(DType.onnxName(Int(t.dataType)), location: where_)
        }
        if let (range, source) = payload {
            let expected = count * dtype.onnxByteSize
            guard range.count == expected else {
                throw GPUInferError.invalidModel(location: where_, reason: "raw data has \(range.count) bytes, \(dtype)\(shape) needs \(expected)")
            }
            if dtype == .float32 {
                // Little-endian host: the file's bytes are the floats.
                let v = try [Float](unsafeUninitializedCapacity: count) { buf, n in
                    try source.read(range, into: UnsafeMutableRawBufferPointer(buf))
                    n = count
                }
                return Tensor(shape: shape, floats: v)
            }
            var bytes = Data(count: expected)
            try bytes.withUnsafeMutableBytes { try source.read(range, into: $0) }
            return decodeRaw(bytes, dtype: dtype, shape: shape, count: count)
        }
        var raw: Data? = t.hasRawData ? t.rawData : nil
        if t.dataLocation == .external {
            raw = try externalData(t, context: context, where_: where_)
        }
        if let raw {
            let expected = count * dtype.onnxByteSize
            guard raw.count == expected else {
                throw GPUInferError.invalidModel(location: where_, reason: "raw data has \(raw.count) bytes, \(dtype)\(shape) needs \(expected)")
            }
            return decodeRaw(raw, dtype: dtype, shape: shape, count: count)
        }
        func check(_ n: Int) throws {
            guard n == count else {
                throw GPUInferError.invalidModel(location: where_, reason: "has \(n) values, shape \(shape) needs \(count)")
            }
        }
        switch dtype {
        case .float32:
            try check(t.floatData.count)
            return Tensor(shape: shape, floats: t.floatData)
        case .int64:
            try check(t.int64Data.count)
            return Tensor(shape: shape, ints: t.int64Data)
        case .uint32:
            try check(t.uint64Data.count)
            return Tensor(shape: shape, ints: t.uint64Data.map { Int64(truncatingIfNeeded: $0) }, dtype: dtype)
        default:
            try check(t.int32Data.count)
            return Tensor(shape: shape, ints: t.int32Data.map { Int64($0) }, dtype: dtype)
        }
    }

    static func decodeRaw(_ raw: Data, dtype: DType, shape: [Int], count: Int) -> Tensor {
        raw.withUnsafeBytes { (p: UnsafeRawBufferPointer) -> Tensor in
            switch dtype {
            case .float32:
                // Bulk copy (little-endian host); element-wise decoding of 10^8 weights is slow.
                let v = [Float](unsafeUninitializedCapacity: count) { buf, n in
                    if count > 0, let base = p.baseAddress { memcpy(buf.baseAddress!, base, count * 4) }
                    n = count
                }
                return Tensor(shape: shape, floats: v)
            case .int64:
                let v = [Int64](unsafeUninitializedCapacity: count) { buf, n in
                    if count > 0, let base = p.baseAddress { memcpy(buf.baseAddress!, base, count * 8) }
                    n = count
                }
                return Tensor(shape: shape, ints: v)
            case .int32:
                return Tensor(shape: shape, ints: (0..<count).map { Int64(Int32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }, dtype: dtype)
            case .uint32:
                return Tensor(shape: shape, ints: (0..<count).map { Int64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }, dtype: dtype)
            case .int16:
                return Tensor(shape: shape, ints: (0..<count).map { Int64(Int16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * $0, as: Int16.self))) }, dtype: dtype)
            case .uint16:
                return Tensor(shape: shape, ints: (0..<count).map { Int64(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }, dtype: dtype)
            case .int8:
                return Tensor(shape: shape, ints: (0..<count).map { Int64(Int8(bitPattern: p[$0])) }, dtype: dtype)
            case .uint8, .bool:
                return Tensor(shape: shape, ints: (0..<count).map { Int64(p[$0]) }, dtype: dtype)
            }
        }
    }

    /// Reads a tensor's external data, refusing paths that leave the model's folder.
    static func externalData(_ t: Onnx_TensorProto, context: Context, where_: String) throws -> Data {
        var location: String?
        var offset = 0
        var length: Int?
        for e in t.externalData {
            switch e.key {
            case "location": location = e.value
            case "offset":
                guard let v = Int(e.value), v >= 0 else { throw GPUInferError.invalidModel(location: where_, reason: "bad external data offset '\(e.value)'") }
                offset = v
            case "length":
                guard let v = Int(e.value), v >= 0 else { throw GPUInferError.invalidModel(location: where_, reason: "bad external data length '\(e.value)'") }
                length = v
            default: break
            }
        }
        guard let location, !location.isEmpty else {
            throw GPUInferError.invalidModel(location: where_, reason: "external data without a location")
        }
        guard let base = context.baseDirectory else {
            throw GPUInferError.invalidModel(location: where_, reason: "external data '\(location)' but the model was not loaded from a file")
        }
        let components = location.split(separator: "/", omittingEmptySubsequences: true)
        if location.hasPrefix("/") || location.contains("\\") || components.contains("..") || location.contains("\0") {
            throw GPUInferError.invalidModel(location: where_, reason: "external data path '\(location)' leaves the model's folder; refused")
        }
        let url = base.appendingPathComponent(location)
        let resolvedBase = base.resolvingSymlinksInPath().standardizedFileURL.path
        let resolved = url.resolvingSymlinksInPath().standardizedFileURL.path
        guard resolved.hasPrefix(resolvedBase.hasSuffix("/") ? resolvedBase : resolvedBase + "/") else {
            throw GPUInferError.invalidModel(location: where_, reason: "external data path '\(location)' resolves outside the model's folder; refused")
        }
        let (fd, _) = try RegularFile.open(url.path, what: "external data file for \(where_)")
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        defer { try? handle.close() }
        let size = Int((try? handle.seekToEnd()) ?? 0)
        let n = length ?? (size - offset)
        guard offset <= size, n >= 0, offset + n <= size else {
            throw GPUInferError.invalidModel(location: where_, reason: "external data range \(offset)+\(n) is outside '\(location)' (\(size) bytes)")
        }
        try handle.seek(toOffset: UInt64(offset))
        return try handle.read(upToCount: n) ?? Data()
    }
}
