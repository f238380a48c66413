// Structure-aware mutation of ONNX models: the mutant is always valid protobuf, and what changes
// is meaning — attribute values pushed to extremes and signs, attribute types and names, tensor
// dims, types, contents and external-data fields, declared input shapes, opset versions and
// domains, op types swapped within a family, and node wiring. Byte-level fuzzing (FuzzTests) rarely
// gets past the protobuf decoder; these mutants reach shape inference, constant folding, the passes,
// both backends' kernels and their allocation.
import Foundation
import ONNXProto
import SwiftProtobuf

/// splitmix64: small, fast and the same on every platform (mutant N of seed S is reproducible).
public struct FuzzRandom: Sendable {
    public private(set) var state: UInt64
    public init(seed: UInt64) { state = seed }
    /// The generator of mutant `mutant` in the run seeded `run`.
    public init(run: UInt64, mutant: Int) {
        state = run &* 0x2545_F491_4F6C_DD1D ^ UInt64(truncatingIfNeeded: mutant) &* 0x9E37_79B9_7F4A_7C15
    }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in 0..<n (n ≥ 1).
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    public mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }
    public mutating func pick<T>(_ values: [T]) -> T { values[below(values.count)] }
    /// A small signed value, -n...n.
    public mutating func small(_ n: Int) -> Int64 { Int64(below(2 * n + 1) - n) }
}

public enum ModelMutator {
    /// Integer values where arithmetic breaks: signs, powers of two at the 32/64-bit edges.
    public static let extremeInts: [Int64] = [
        0, 1, -1, 2, -2, 3, -3, 7, 16, 255, 256, 65_535, 65_536, 1 << 20,
        Int64(Int32.max), Int64(Int32.max) + 1, Int64(Int32.min), Int64(Int32.min) - 1, Int64(UInt32.max),
        1 << 33, -(1 << 33), 1 << 40, 1 << 62, -(1 << 62), Int64.max, Int64.min, Int64.max - 1, Int64.min + 1,
    ]
    public static let extremeFloats: [Float] = [
        0, -0.0, 1, -1, 0.5, 2, -2, 1e-7, 1e6, -1e6, 1e30, -1e30, 1e-30, .nan, -.nan, .infinity, -.infinity,
        .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, .leastNormalMagnitude,
    ]
    static let strings: [String] = [
        "", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", "constant", "reflect", "edge", "wrap", "nearest", "linear",
        "cubic", "bilinear", "half_pixel", "asymmetric", "align_corners", "tf_crop_and_resize", "pytorch_half_pixel",
        "round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "DCR", "CRD", "none", "tanh", "\u{1B}]0;x\u{07}\n",
        "\u{0}", String(repeating: "A", count: 5000), "ÿ\u{FEFF}é",
    ]
    /// Ops that take the same inputs (or nearly): a swap keeps the graph plausible and reaches the
    /// other op's shape inference and kernels with this one's attributes.
    public static let families: [[String]] = [
        ["Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Floor", "Ceil", "Round",
         "Sign", "Erf", "Softplus", "Softsign", "HardSigmoid", "HardSwish", "LeakyRelu", "Elu", "Selu", "Celu",
         "Gelu", "Mish", "Identity", "Not", "IsNaN", "IsInf", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan",
         "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "ThresholdedRelu", "Shrink", "Dropout"],
        ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean", "Sum", "Equal", "Less", "Greater", "LessOrEqual",
         "GreaterOrEqual", "And", "Or", "Xor", "Mod", "PRelu", "BitShift", "MatMul"],
        ["MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "MaxRoiPool"],
        ["Conv", "ConvTranspose", "ConvInteger", "DeformConv"],
        ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
         "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin", "CumSum", "TopK"],
        ["Reshape", "Expand", "Tile", "Slice", "Pad", "ConstantOfShape", "Range", "Resize", "Upsample", "Split",
         "Squeeze", "Unsqueeze", "Flatten", "Transpose", "DepthToSpace", "SpaceToDepth", "Shape", "Size", "OneHot"],
        ["BatchNormalization", "InstanceNormalization", "LayerNormalization", "GroupNormalization",
         "LpNormalization", "MeanVarianceNormalization", "LRN"],
        ["Softmax", "LogSoftmax", "Hardmax"],
        ["Gather", "GatherElements", "GatherND", "ScatterElements", "ScatterND", "Compress", "Where", "NonZero"],
        ["Concat", "Sum", "Max", "Min", "Mean"],
        ["Gemm", "MatMul", "Einsum"],
        ["NonMaxSuppression", "TopK", "RoiAlign"],
        ["Cast", "CastLike", "Clip", "QuantizeLinear", "DequantizeLinear"],
    ]
    static let attributeNames: [String] = [
        "axis", "axes", "kernel_shape", "strides", "pads", "dilations", "group", "perm", "keepdims", "mode", "alpha",
        "beta", "gamma", "epsilon", "transA", "transB", "ceil_mode", "count_include_pad", "auto_pad", "split",
        "num_outputs", "starts", "ends", "value", "to", "coordinate_transformation_mode", "nearest_mode",
        "output_padding", "output_shape", "allowzero", "blocksize", "batch_dims", "largest", "sorted", "k",
        "select_last_index", "exclusive", "reverse", "noop_with_empty_axes", "storage_order", "p", "lambd", "bias",
        "center_point_box", "cubic_coeff_a", "exclude_outside", "extrapolation_value", "scales", "sizes", "size",
        "stash_type", "num_groups", "equation", "seed", "dtype", "approximate", "fmod", "direction",
    ]
    /// ONNX element types, with ones the engine does not take and values that are none.
    static let dataTypes: [Int32] = [1, 1, 7, 7, 6, 9, 2, 3, 4, 5, 10, 11, 12, 13, 16, 8, 0, 99, -1]
    static let opsets: [Int64] = [1, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 99, 0, -1, 1 << 40]

    /// Applies 1–4 mutations to `model`; returns what each did (for a failure's report).
    public static func mutate(_ model: inout Onnx_ModelProto, _ rng: inout FuzzRandom) -> [String] {
        var done: [String] = []
        for _ in 0..<(1 + rng.below(4)) {
            let r = rng.below(100)
            let what: String?
            switch r {
            case 0..<34: what = attributeValue(&model, &rng)
            case 34..<44: what = attributeForm(&model, &rng)
            case 44..<62: what = tensor(&model, &rng)
            case 62..<74: what = inputShape(&model, &rng)
            case 74..<78: what = opset(&model, &rng)
            case 78..<88: what = opType(&model, &rng)
            case 88..<96: what = wiring(&model, &rng)
            default: what = outputs(&model, &rng)
            }
            if let what { done.append(what) }
        }
        return done
    }

    // MARK: - nodes and attributes

    /// Every node path: (function index or -1, node index).
    private static func nodePaths(_ m: Onnx_ModelProto) -> [(Int, Int)] {
        var paths = m.graph.node.indices.map { (-1, $0) }
        for (f, fn) in m.functions.enumerated() { paths += fn.node.indices.map { (f, $0) } }
        return paths
    }

    private static func withNode<R>(_ m: inout Onnx_ModelProto, _ path: (Int, Int), _ body: (inout Onnx_NodeProto) -> R) -> R {
        if path.0 < 0 { return body(&m.graph.node[path.1]) }
        return body(&m.functions[path.0].node[path.1])
    }

    static func attributeValue(_ m: inout Onnx_ModelProto, _ rng: inout FuzzRandom) -> String? {
        let paths = nodePaths(m).filter { p in
            p.0 < 0 ? !m.graph.node[p.1].attribute.isEmpty : !m.functions[p.0].node[p.1].attribute.isEmpty
        }
        guard !paths.isEmpty else { return attributeForm(&m, &rng) }
        let path = rng.pick(paths)
        return withNode(&m, path) { node in
            let a = rng.below(node.attribute.count)
            let before = describe(node.attribute[a])
            mutateValue(&node.attribute[a], &rng)
            return "\(node.opType) '\(node.name)' attribute \(before) → \(describe(node.attribute[a]))"
        }
    }

    static func describe(_ a: Onnx_AttributeProto) -> String {
        switch a.type {
        case .int: return "\(a.name)=\(a.i)"
        case .ints: return "\(a.name)=\(a.ints.prefix(8))"
        case .float: return "\(a.name)=\(a.f)"
        case .floats: return "\(a.name)=\(a.floats.prefix(8))"
        case .string: return "\(a.name)=\"\(String(decoding: a.s.prefix(24), as: UTF8.self).debugDescription)\""
        case .tensor: return "\(a.name)=tensor\(a.t.dims)"
        default: return "\(a.name):\(a.type)"
        }
    }

    static func extremeInt(_ rng: inout FuzzRandom, near v: Int64 = 0) -> Int64 {
        switch rng.below(5) {
        case 0: return v == Int64.min ? v : -v
        case 1: return v &+ rng.small(2)
        case 2: return rng.small(8)
        default: return rng.pick(extremeInts)
        }
    }

    static func mutateInts(_ values: inout [Int64], _ rng: inout FuzzRandom) {
        switch rng.below(7) {
        case 0: values.append(extremeInt(&rng))
        case 1: if !values.isEmpty { values.remove(at: rng.below(values.count)) }
        case 2: values = []
        case 3: values += values
        case 4: values = values.map { $0 == .min ? $0 : -$0 }
        default:
            if values.isEmpty { values = [extremeInt(&rng)] } else {
                let i = rng.below(values.count)
                values[i] = extremeInt(&rng, near: values[i])
            }
        }
    }

    static func mutateFloats(_ values: inout [Float], _ rng: inout FuzzRandom) {
        switch rng.below(4) {
        case 0: values.append(rng.pick(extremeFloats))
        case 1: if !values.isEmpty { values.remove(at: rng.below(values.count)) } else { values = [] }
        default:
            if values.isEmpty { values = [rng.pick(extremeFloats)] } else { values[rng.below(values.count)] = rng.pick(extremeFloats) }
        }
    }

    static func mutateValue(_ a: inout Onnx_AttributeProto, _ rng: inout FuzzRandom) {
        switch a.type {
        case .int: a.i = extremeInt(&rng, near: a.i)
        case .ints: mutateInts(&a.ints, &rng)
        case .float: a.f = rng.chance(0.7) ? rng.pick(extremeFloats) : -a.f
        case .floats: mutateFloats(&a.floats, &rng)
        case .string: a.s = Data(rng.pick(strings).utf8)
        case .strings: if a.strings.isEmpty { a.strings = [Data()] } else { a.strings[rng.below(a.strings.count)] = Data(rng.pick(strings).utf8) }
        case .tensor: _ = mutateTensor(&a.t, &rng)
        case .graph:
            // A subgraph (If/Loop/Scan body): mutate one of its nodes' attributes or drop a node.
            if !a.g.node.isEmpty {
                let n = rng.below(a.g.node.count)
                if rng.chance(0.3) { a.g.node.remove(at: n) } else if !a.g.node[n].attribute.isEmpty {
                    mutateValue(&a.g.node[n].attribute[rng.below(a.g.node[n].attribute.count)], &rng)
                }
            }
        default: a.i = extremeInt(&rng)
        }
    }

    /// An attribute's type, name or presence changed, or a new attribute added.
    static func attributeForm(_ m: inout Onnx_ModelProto, _ rng: inout FuzzRandom) -> String? {
        let paths = nodePaths(m)
        guard !paths.isEmpty else { return nil }
        let path = rng.pick(paths)
        return withNode(&m, path) { node in
            let label = "\(node.opType) '\(node.name)'"
            if node.attribute.isEmpty || rng.chance(0.35) {
                var a = Onnx_AttributeProto()
                a.name = rng.pick(attributeNames)
                randomValue(&a, &rng)
                node.attribute.append(a)
                return "\(label): added \(describe(a))"
            }
            let i = rng.below(node.attribute.count)
            switch rng.below(4) {
            case 0:
                let name = node.attribute[i].name
                node.attribute.remove(at: i)
                return "\(label): removed attribute \(name)"
            case 1:
                node.attribute.append(node.attribute[i])
                return "\(label): duplicated attribute \(node.attribute[i].name)"
            case 2:
                let old = node.attribute[i].name
                node.attribute[i].name = rng.pick(attributeNames)
                return "\(label): renamed attribute \(old) → \(node.attribute[i].name)"
            default:
                let old = describe(node.attribute[i])
                let name = node.attribute[i].name
                node.attribute[i] = Onnx_AttributeProto()
                node.attribute[i].name = name
                randomValue(&node.attribute[i], &rng)
                return "\(label): retyped \(old) → \(describe(node.attribute[i]))"
            }
        }
    }

    static func randomValue(_ a: inout Onnx_AttributeProto, _ rng: inout FuzzRandom) {
        switch rng.below(7) {
        case 0: a.type = .float; a.f = rng.pick(extremeFloats)
        case 1: a.type = .floats; a.floats = (0..<rng.below(5)).map { _ in rng.pick(extremeFloats) }
        case 2: a.type = .string; a.s = Data(rng.pick(strings).utf8)
        case 3:
            a.type = .tensor
            a.t = Onnx_TensorProto()
            a.t.dataType = rng.pick(dataTypes)
            a.t.dims = (0..<rng.below(3)).map { _ in Int64(rng.below(4)) }
            a.t.int64Data = (0..<rng.below(5)).map { _ in extremeInt(&rng) }
        case 4: a.type = .undefined
        case 5: a.type = .ints; a.ints = (0..<rng.below(6)).map { _ in extremeInt(&rng) }
        default: a.type = .int; a.i = extremeInt(&rng)
        }
    }

    // MARK: - tensors

    /// Every tensor in the model: initializers and Constant values.
    static func tensor(_ m: inout Onnx_ModelProto, _ rng: inout FuzzRandom) -> String? {
        var constants: [(Int, Int)] = []
        for (n, node) in m.graph.node.enumerated() {
            for (a, attr) in node.attribute.enumerated() where attr.type == .tensor { constants.append((n, a)) }
        }
        let total = m.graph.initializer.count + constants.count
        guard total > 0 else { return inputShape(&m, &rng) }
        let k = rng.below(total)
        if k < m.graph.initializer.count {
            let name = m.graph.initializer[k].name
            return "initializer '\(name)': " + mutateTensor(&m.graph.initializer[k], &rng)
        }
        let (n, a) = constants[k - m.graph.initializer.count]
        return "\(m.graph.node[n].opType) '\(m.graph.node[n].name)' tensor: " + mutateTensor(&m.graph.node[n].attribute[a].t, &rng)
    }

    static func mutateTensor(_ t: inout Onnx_TensorProto, _ rng: inout FuzzRandom) -> String {
        switch rng.below(10) {
        case 0, 1:
            let old = t.dims
            mutateInts(&t.dims, &rng)
            return "dims \(old) → \(t.dims)"
        case 2:
            let old = t.dataType
            t.dataType = rng.pick(dataTypes)
            return "data type \(old) → \(t.dataType)"
        case 3:
            // Raw bytes cut or extended: the length no longer matches the dims.
            if t.hasRawData, !t.rawData.isEmpty {
                if rng.chance(0.5) { t.rawData = t.rawData.prefix(rng.below(t.rawData.count)) } else { t.rawData.append(contentsOf: [UInt8](repeating: 0xff, count: 1 + rng.below(16))) }
                return "raw data now \(t.rawData.count) bytes"
            }
            if !t.int64Data.isEmpty { t.int64Data.removeLast(); return "int64_data shortened" }
            if !t.floatData.isEmpty { t.floatData.removeLast(); return "float_data shortened" }
            t.int64Data = [extremeInt(&rng)]
            return "int64_data added"
        case 4:
            // External data fields: paths that escape or are devices, offsets and lengths at the edges.
            t.dataLocation = .external
            var entries: [Onnx_StringStringEntryProto] = []
            func entry(_ k: String, _ v: String) { var e = Onnx_StringStringEntryProto(); e.key = k; e.value = v; entries.append(e) }
            entry("location", rng.pick(["missing.bin", "../../../../etc/passwd", "/dev/zero", "/dev/urandom", "/proc/self/mem", "", ".", "/", "a\u{0}b"]))
            if rng.chance(0.6) { entry("offset", rng.pick(["0", "-1", "4096", "9223372036854775807", "18446744073709551615", "1e9", "x"])) }
            if rng.chance(0.6) { entry("length", rng.pick(["0", "-8", "4", "9223372036854775807", "4294967296", "99999999999999999999"])) }
            t.externalData = entries
            t.clearRawData()
            return "external data \(entries.map { "\($0.key)=\($0.value.debugDescription)" })"
        default:
            // Contents: one element pushed to an extreme (shape tensors, axes, indices, pads, scales).
            if !t.int64Data.isEmpty {
                let i = rng.below(t.int64Data.count)
                t.int64Data[i] = extremeInt(&rng, near: t.int64Data[i])
                return "int64_data[\(i)] = \(t.int64Data[i])"
            }
            if !t.floatData.isEmpty {
                let i = rng.below(t.floatData.count)
                t.floatData[i] = rng.pick(extremeFloats)
                return "float_data[\(i)] = \(t.floatData[i])"
            }
            if !t.int32Data.isEmpty {
                let i = rng.below(t.int32Data.count)
                t.int32Data[i] = Int32(truncatingIfNeeded: extremeInt(&rng))
                return "int32_data[\(i)] = \(t.int32Data[i])"
            }
            if t.hasRawData, !t.rawData.isEmpty {
                var raw = [UInt8](t.rawData)
                let width = t.dataType == 7 || t.dataType == 11 || t.dataType == 13 ? 8 : (t.dataType == 1 || t.dataType == 6 || t.dataType == 12 ? 4 : 1)
                let n = raw.count / width
                guard n > 0 else { return "raw data left" }
                let i = rng.below(n)
                let bytes: [UInt8]
                switch width {
                case 8: bytes = withUnsafeBytes(of: extremeInt(&rng).littleEndian) { Array($0) }
                case 4 where t.dataType == 1: bytes = withUnsafeBytes(of: rng.pick(extremeFloats).bitPattern.littleEndian) { Array($0) }
                case 4: bytes = withUnsafeBytes(of: Int32(truncatingIfNeeded: extremeInt(&rng)).littleEndian) { Array($0) }
                default: bytes = [UInt8(truncatingIfNeeded: rng.next())]
                }
                raw.replaceSubrange((i * width)..<(i * width + width), with: bytes)
                t.rawData = Data(raw)
                return "raw element \(i) set to an extreme"
            }
            return "empty tensor left"
        }
    }

    // MARK: - graph interface, opset, op types, wiring

    static func inputShape(_ m: inout Onnx_ModelProto, _ rng: inout FuzzRandom) -> String? {
        guard !m.graph.input.isEmpty else { return nil }
        let i = rng.below(m.graph.input.count)
        let name = m.graph.input[i].name
        var tt = m.graph.input[i].type.tensorType
        switch rng.below(6) {
        case 0:
            let old = tt.elemType
            tt.elemType = Int32(rng.pick(dataTypes))
            m.graph.input[i].type.tensorType = tt
            return "input '\(name)' element type \(old) → \(tt.elemType)"
        case 1:
            var d = Onnx_TensorShapeProto.Dimension()
            d.dimValue = rng.chance(0.5) ? Int64(1 + rng.below(4)) : extremeInt(&rng)
            tt.shape.dim.insert(d, at: rng.below(tt.shape.dim.count + 1))
        case 2:
            if !tt.shape.dim.isEmpty { tt.shape.dim.remove(at: rng.below(tt.shape.dim.count)) } else { tt.clearShape() }
        case 3:
            guard !tt.shape.dim.isEmpty else { return nil }
            tt.shape.dim[rng.below(tt.shape.dim.count)].dimParam = rng.pick(["N", "batch", "", "h w", "\u{1B}[2J"])
        default:
            guard !tt.shape.dim.isEmpty else { return nil }
            let k = rng.below(tt.shape.dim.count)
            tt.shape.dim[k].dimValue = extremeInt(&rng, near: tt.shape.dim[k].dimValue)
        }
        m.graph.input[i].type.tensorType = tt
        return "input '\(name)' shape → \(tt.shape.dim.map { $0.dimParam.isEmpty ? String($0.dimValue) : $0.dimParam })"
    }

    static func opset(_ m: inout Onnx_ModelProto, _ rng: inout FuzzRandom) -> String? {
        if m.opsetImport.isEmpty || rng.chance(0.15) {
            var o = Onnx_OperatorSetIdProto()
            o.domain = rng.pick(["", "ai.onnx", "ai.onnx.ml", "com.microsoft", "ai.gpuinfer"])
            o.version = rng.pick(opsets)
            m.opsetImport.append(o)
            return "opset import \(o.domain.debugDescription) v\(o.version) added"
        }
        let i = rng.below(m.opsetImport.count)
        if rng.chance(0.2) {
            m.opsetImport[i].domain = rng.pick(["ai.onnx.ml", "com.microsoft", "x", "ai.gpuinfer"])
            return "opset import \(i) domain → \(m.opsetImport[i].domain)"
        }
        let old = m.opsetImport[i].version
        m.opsetImport[i].version = rng.pick(opsets)
        return "opset \(old) → \(m.opsetImport[i].version)"
    }

    static func opType(_ m: inout Onnx_ModelProto, _ rng: inout FuzzRandom) -> String? {
        guard !m.graph.node.isEmpty else { return nil }
        let n = rng.below(m.graph.node.count)
        let old = m.graph.node[n].opType
        let family = families.first { $0.contains(old) }
        if let family, rng.chance(0.85) {
            m.graph.node[n].opType = rng.pick(family)
        } else {
            m.graph.node[n].opType = rng.pick(rng.pick(families))
        }
        if rng.chance(0.1) { m.graph.node[n].domain = rng.pick(["ai.onnx.ml", "com.microsoft", "ai.gpuinfer", "unknown.domain"]) }
        return "node \(n) op \(old) → \(m.graph.node[n].opType)\(m.graph.node[n].domain.isEmpty ? "" : " (\(m.graph.node[n].domain))")"
    }

    static func wiring(_ m: inout Onnx_ModelProto, _ rng: inout FuzzRandom) -> String? {
        guard !m.graph.node.isEmpty else { return nil }
        var names = m.graph.input.map(\.name) + m.graph.initializer.map(\.name)
        for node in m.graph.node { names += node.output }
        names.append("")
        let n = rng.below(m.graph.node.count)
        switch rng.below(5) {
        case 0 where !m.graph.node[n].input.isEmpty:
            let k = rng.below(m.graph.node[n].input.count)
            m.graph.node[n].input[k] = rng.pick(names)
            return "node \(n) input \(k) → '\(m.graph.node[n].input[k])'"
        case 1 where !m.graph.node[n].input.isEmpty:
            m.graph.node[n].input.removeLast()
            return "node \(n) lost its last input"
        case 2:
            m.graph.node[n].input.append(rng.pick(names))
            return "node \(n) gained an input"
        case 3 where !m.graph.node[n].output.isEmpty:
            let k = rng.below(m.graph.node[n].output.count)
            m.graph.node[n].output[k] = rng.pick(names)
            return "node \(n) output \(k) → '\(m.graph.node[n].output[k])'"
        default:
            // Nodes reordered: a node may now come before its producer.
            let other = rng.below(m.graph.node.count)
            m.graph.node.swapAt(n, other)
            return "nodes \(n) and \(other) swapped"
        }
    }

    static func outputs(_ m: inout Onnx_ModelProto, _ rng: inout FuzzRandom) -> String? {
        var names = m.graph.input.map(\.name) + m.graph.initializer.map(\.name)
        for node in m.graph.node { names += node.output }
        switch rng.below(3) {
        case 0 where !m.graph.output.isEmpty:
            m.graph.output.remove(at: rng.below(m.graph.output.count))
            return "a graph output removed"
        case 1 where !names.isEmpty:
            var o = Onnx_ValueInfoProto()
            o.name = rng.pick(names)
            m.graph.output.append(o)
            return "graph output '\(o.name)' added"
        default:
            guard !m.graph.output.isEmpty, !names.isEmpty else { return nil }
            let k = rng.below(m.graph.output.count)
            m.graph.output[k].name = rng.pick(names + ["missing"])
            return "graph output \(k) → '\(m.graph.output[k].name)'"
        }
    }
}
