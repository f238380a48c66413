// The graph IR: nodes in ONNX form (op type, named inputs and outputs, attributes), initializers
// as host tensors, and the declared types of the graph inputs and outputs.

/// An ONNX attribute value.
public enum Attribute: Sendable, Equatable {
    case int(Int)
    case float(Float)
    case string(String)
    case ints([Int])
    case floats([Float])
    case strings([String])
    case tensor(Tensor)
    /// A reference to an attribute of the calling node (inside function bodies).
    case reference(String)
    /// A kind this engine does not read (graphs, sparse tensors, type protos).
    case unsupported(String)
}

/// One operator application.
public struct Node: Sendable, Equatable {
    public var name: String
    public var opType: String
    /// Operator domain; "" is the default ONNX domain.
    public var domain: String
    /// Input value names; "" marks an omitted optional input.
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [String: Attribute]
    /// For a node of an `If` branch (inlined at load): the conditions under which it runs, outermost
    /// first. The node runs when every `cond` is `value`; otherwise it never runs (see `IfOp`).
    public var guards: [NodeGuard] = []

    public init(name: String, opType: String, domain: String = "", inputs: [String], outputs: [String],
                attributes: [String: Attribute] = [:], guards: [NodeGuard] = []) {
        self.guards = guards
        self.name = name
        self.opType = opType
        self.domain = domain == "ai.onnx" ? "" : domain
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
    }

    /// A label for messages: the node name, or its op type and first output.
    public var label: String { name.isEmpty ? "\(opType)->\(outputs.first ?? "?")" : name }
}

/// A condition a node of an `If` branch runs under: the boolean scalar `cond` equals `value`.
public struct NodeGuard: Sendable, Equatable {
    public var cond: String
    public var value: Bool
    public init(cond: String, value: Bool) {
        self.cond = cond
        self.value = value
    }
}

/// Declared type of a graph input or output; `nil` dims are symbolic (dynamic).
public struct ValueInfo: Sendable, Equatable {
    public var name: String
    public var dtype: DType?
    public var dims: [Int?]?
    public var dimNames: [String?]
    public init(name: String, dtype: DType?, dims: [Int?]?, dimNames: [String?] = []) {
        self.name = name
        self.dtype = dtype
        self.dims = dims
        self.dimNames = dimNames
    }
}

/// A model-local function (ONNX FunctionProto).
public struct GraphFunction: Sendable, Equatable {
    public var name: String
    public var domain: String
    public var inputs: [String]
    public var outputs: [String]
    public var attributeNames: [String]
    public var attributeDefaults: [String: Attribute]
    public var nodes: [Node]
    public var opsets: [String: Int]
}

/// A computation graph.
public struct Graph: Sendable {
    public var nodes: [Node]
    public var inputs: [ValueInfo]
    public var outputs: [ValueInfo]
    public var initializers: [String: Tensor]
    /// Default-domain opset version.
    public var opset: Int
    /// Opset versions by domain (including "").
    public var opsets: [String: Int]
    public var functions: [String: GraphFunction]
    /// `metadata_props` of the model.
    public var metadata: [String: String]

    public init(nodes: [Node], inputs: [ValueInfo], outputs: [ValueInfo], initializers: [String: Tensor],
                opset: Int, opsets: [String: Int] = [:], functions: [String: GraphFunction] = [:],
                metadata: [String: String] = [:]) {
        self.nodes = nodes
        self.inputs = inputs
        self.outputs = outputs
        self.initializers = initializers
        self.opset = opset
        self.opsets = opsets.isEmpty ? ["": opset] : opsets
        self.functions = functions
        self.metadata = metadata
    }

    /// Graph inputs that are not initializers: what a caller must supply.
    public var runtimeInputs: [ValueInfo] { inputs.filter { initializers[$0.name] == nil } }

    /// Sorts nodes topologically (stable), or throws naming a node on a cycle or with an
    /// input that nothing produces.
    public mutating func sortTopologically() throws {
        var available = Set(initializers.keys).union(inputs.map(\.name))
        available.insert("")
        var producer: [String: Int] = [:]
        for (i, n) in nodes.enumerated() {
            for o in n.outputs where !o.isEmpty {
                // SSA: a node may not redefine another node's output, a graph input or an
                // initializer (consumers would silently read the other definition; onnxruntime
                // refuses such a model too).
                if producer[o] != nil || available.contains(o) {
                    throw GPUInferError.invalidModel(location: "node '\(n.label)'", reason: "value '\(o)' is produced more than once"
                        + (initializers[o] != nil ? " (it is also an initializer)" : inputs.contains { $0.name == o } ? " (it is also a graph input)" : ""))
                }
                producer[o] = i
            }
        }
        for n in nodes {
            for inp in n.inputs + n.guards.map(\.cond) where !available.contains(inp) && producer[inp] == nil {
                throw GPUInferError.invalidModel(location: "node '\(n.label)' (\(n.opType))", reason: "input '\(inp)' is not produced by any node, initializer or graph input")
            }
        }
        // Kahn's algorithm, keeping the original order among ready nodes.
        // A node of an If branch also depends on the conditions guarding it.
        func dependencies(_ n: Node) -> Set<String> { Set(n.inputs + n.guards.map(\.cond)).subtracting(available) }
        var pending = nodes.map { dependencies($0).count }
        var consumers: [String: [Int]] = [:]
        for (i, n) in nodes.enumerated() {
            for inp in dependencies(n) { consumers[inp, default: []].append(i) }
        }
        var ready = (0..<nodes.count).filter { pending[$0] == 0 }
        var order: [Int] = []
        order.reserveCapacity(nodes.count)
        var head = 0
        while head < ready.count {
            let i = ready[head]
            head += 1
            order.append(i)
            for o in nodes[i].outputs {
                for c in consumers[o] ?? [] {
                    pending[c] -= 1
                    if pending[c] == 0 { ready.append(c) }
                }
            }
        }
        if order.count != nodes.count {
            let stuck = (0..<nodes.count).first { pending[$0] > 0 } ?? 0
            throw GPUInferError.invalidModel(location: "node '\(nodes[stuck].label)' (\(nodes[stuck].opType))", reason: "the graph has a cycle through this node")
        }
        nodes = order.map { nodes[$0] }
    }
}

extension Node {
    func int(_ name: String, default value: Int) throws -> Int {
        switch attributes[name] {
        case nil: return value
        case let .int(v)?: return v
        default: throw attributeError(name, "expected an integer")
        }
    }
    func float(_ name: String, default value: Float) throws -> Float {
        switch attributes[name] {
        case nil: return value
        case let .float(v)?: return v
        case let .int(v)?: return Float(v)
        default: throw attributeError(name, "expected a float")
        }
    }
    func string(_ name: String, default value: String) throws -> String {
        switch attributes[name] {
        case nil: return value
        case let .string(v)?: return v
        default: throw attributeError(name, "expected a string")
        }
    }
    func ints(_ name: String) throws -> [Int]? {
        switch attributes[name] {
        case nil: return nil
        case let .ints(v)?: return v
        case let .int(v)?: return [v]
        default: throw attributeError(name, "expected a list of integers")
        }
    }
    func floats(_ name: String) throws -> [Float]? {
        switch attributes[name] {
        case nil: return nil
        case let .floats(v)?: return v
        case let .float(v)?: return [v]
        default: throw attributeError(name, "expected a list of floats")
        }
    }
    func tensor(_ name: String) throws -> Tensor? {
        switch attributes[name] {
        case nil: return nil
        case let .tensor(t)?: return t
        default: throw attributeError(name, "expected a tensor")
        }
    }
    func attributeError(_ name: String, _ reason: String) -> GPUInferError {
        .invalidModel(location: "node '\(label)' (\(opType)) attribute '\(name)'", reason: reason)
    }
}
