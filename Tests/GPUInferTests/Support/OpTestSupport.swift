// Test helpers: run one ONNX node on the reference backend and on the OpenCL device (PoCL in
// CI) and compare. Helpers forward the caller's source location.
import Foundation
import Testing
@testable import GPUInfer

/// The OpenCL device the tests run on: $GPUINFER_TEST_DEVICE (index) or the first device.
enum TestDevice {
    static let info: CLDeviceInfo? = {
        let all = (try? CLDeviceInfo.all()) ?? []
        if let s = ProcessInfo.processInfo.environment["GPUINFER_TEST_DEVICE"], let i = Int(s), i < all.count { return all[i] }
        return all.first
    }()

    /// One runtime shared by all tests (its programs are built once).
    static let runtime: CLRuntime? = info.flatMap { try? CLRuntime(device: $0) }

    /// The shared runtime, or a test failure when there is no OpenCL device.
    static func require(sourceLocation: SourceLocation = #_sourceLocation) throws -> CLRuntime {
        guard let runtime else {
            Issue.record("no OpenCL device: install pocl-opencl-icd", sourceLocation: sourceLocation)
            throw GPUInferError.deviceNotFound(requested: "0", available: 0)
        }
        return runtime
    }
}

/// Deterministic pseudo-random numbers (SplitMix64) for test data.
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    mutating func float(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }
    mutating func tensor(_ shape: [Int], _ lo: Float = -1, _ hi: Float = 1) -> Tensor {
        Tensor(shape: shape, floats: (0..<shape.reduce(1, *)).map { _ in float(lo, hi) })
    }
    mutating func ints(_ shape: [Int], _ lo: Int64, _ hi: Int64) -> Tensor {
        Tensor(shape: shape, ints: (0..<shape.reduce(1, *)).map { _ in lo + Int64(next() % UInt64(hi - lo + 1)) })
    }
}

/// Builds a one-node model. Inputs listed in `constant` become initializers; the others are
/// graph inputs. Input names are in0, in1, …; outputs out0, out1, ….
func singleNodeModel(_ opType: String, attributes: [String: Attribute] = [:], inputs: [Tensor?],
                     constant: Set<Int> = [], outputs: Int = 1, opset: Int = 17) throws -> Model {
    var graphInputs: [ValueInfo] = []
    var initializers: [String: Tensor] = [:]
    var names: [String] = []
    for (i, t) in inputs.enumerated() {
        guard let t else { names.append(""); continue }
        let name = "in\(i)"
        names.append(name)
        if constant.contains(i) { initializers[name] = t } else {
            graphInputs.append(ValueInfo(name: name, dtype: t.dtype, dims: t.shape.map { $0 }))
        }
    }
    let outs = (0..<outputs).map { "out\($0)" }
    let node = Node(name: "node", opType: opType, inputs: names, outputs: outs, attributes: attributes)
    let graph = Graph(nodes: [node], inputs: graphInputs, outputs: outs.map { ValueInfo(name: $0, dtype: nil, dims: nil) },
                      initializers: initializers, opset: opset)
    return try Model(graph: graph)
}

/// The execution option sets an op's test cases run under (as ncnn's `test_layer` loops over its
/// option sets): both kernel styles for every op, and for ops with variants each option that
/// forces one. Winograd is reached by its own suite (ConvWinogradTests), whose tolerance is derived
/// from its transforms; here the default rule may still pick it for cases with ≥ 16 channels.
enum OpVariants {
    static func style(_ style: ExecutionOptions.KernelStyle, _ edit: (inout ExecutionOptions) -> Void = { _ in }) -> ExecutionOptions {
        var options = ExecutionOptions()
        options.kernelStyle = style
        edit(&options)
        return options
    }

    /// CPU style (the register-blocked kernels) and GPU style (the work-group kernels), on whatever device runs the tests.
    static let kernelStyles = [style(.cpu), style(.gpu)]

    /// The option sets for `opType`.
    static func forOp(_ opType: String) -> [ExecutionOptions] {
        switch opType {
        case "Conv":
            return kernelStyles + [
                style(.cpu) { $0.conv = .generic }, style(.cpu) { $0.winograd = .off }, style(.cpu) { $0.convPointwise = .gemm },
                style(.cpu) { $0.convPixelTile = .off }, style(.cpu) { $0.convDepthwise = .rows }, style(.cpu) { $0.convDepthwise = .gpu },
                style(.cpu) { $0.convTile = .init(4, 3) }, style(.cpu) { $0.convPixelTile = .tile(.init(3, 1)) },
                style(.cpu) { $0.cpuProfile = .avx2 }, style(.cpu) { $0.cpuProfile = .avx512 }, style(.cpu) { $0.convTile = .init(16, 13) },
                style(.cpu) { $0.conv = .gemm }, style(.cpu) { $0.convDepthwise = .local },
                style(.gpu) { $0.conv = .generic }, style(.gpu) { $0.convDepthwise = .gpu }, style(.gpu) { $0.convPointwise = .gemm },
            ]
        case "Gemm", "MatMul":
            return kernelStyles + [style(.cpu) { $0.gemm = .tile }, style(.cpu) { $0.gemm = .dot }, style(.cpu) { $0.gemm = .rows },
                                   style(.cpu) { $0.gemmTile = .init(3, 2) }, style(.cpu) { $0.cpuProfile = .avx2 }, style(.cpu) { $0.cpuProfile = .avx512 }, style(.cpu) { $0.gemm = .local }, style(.gpu) { $0.gemm = .tile },
                                   style(.gpu) { $0.gemm = .clblast }]
        case "MaxPool", "AveragePool":
            return kernelStyles + [style(.cpu) { $0.pool = .generic }]
        case "Add", "Sub", "Mul", "Div":
            return kernelStyles + [style(.cpu) { $0.elementwiseVector8 = false }]
        case "Transpose":
            return kernelStyles + [style(.cpu) { $0.transposeTiles = false }]
        default:
            return kernelStyles
        }
    }
}

/// Runs one node on the reference backend and on the OpenCL test device under every option set of
/// `variants` (default `OpVariants.forOp`), checks that the device matches the reference within
/// the tolerance each time, and returns the reference outputs.
@discardableResult
func checkOp(_ opType: String, attributes: [String: Attribute] = [:], inputs: [Tensor?], constant: Set<Int> = [],
             outputs: Int = 1, opset: Int = 17, expected: [Tensor]? = nil, rtol: Float = 1e-5, atol: Float = 1e-6,
             variants: [ExecutionOptions]? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> [Tensor] {
    let model = try singleNodeModel(opType, attributes: attributes, inputs: inputs, constant: constant, outputs: outputs, opset: opset)
    var feeds: [String: Tensor] = [:]
    for (i, t) in inputs.enumerated() where t != nil && !constant.contains(i) { feeds["in\(i)"] = t }
    let reference = try ReferenceExecutor().run(model, inputs: feeds)
    let refOuts = (0..<outputs).map { reference["out\($0)"]! }
    if let expected {
        for (i, (r, e)) in zip(refOuts, expected).enumerated() {
            assertClose(r, e, rtol: rtol, atol: atol, "\(opType) reference output \(i) vs expected", sourceLocation: sourceLocation)
        }
    }
    let runtime = try TestDevice.require(sourceLocation: sourceLocation)
    for options in variants ?? OpVariants.forOp(opType) {
        let device = try Session(model: model, runtime: runtime, options: options).run(feeds)
        for i in 0..<outputs {
            guard let d = device["out\(i)"] else {
                Issue.record("\(opType) [\(options.summary)]: device produced no output \(i)", sourceLocation: sourceLocation)
                continue
            }
            assertClose(d, refOuts[i], rtol: rtol, atol: atol, "\(opType) [\(options.summary)] OpenCL output \(i) vs reference",
                        sourceLocation: sourceLocation)
        }
    }
    return refOuts
}

/// Checks shape, dtype and that every element satisfies |a−b| ≤ atol + rtol·|b| (NaNs must match).
func assertClose(_ a: Tensor, _ b: Tensor, rtol: Float = 1e-5, atol: Float = 1e-6, _ what: String = "",
                 sourceLocation: SourceLocation = #_sourceLocation) {
    guard a.shape == b.shape else {
        Issue.record("\(what): shape \(a.shape) != \(b.shape)", sourceLocation: sourceLocation)
        return
    }
    guard a.dtype.isFloat == b.dtype.isFloat else {
        Issue.record("\(what): dtype \(a.dtype) != \(b.dtype)", sourceLocation: sourceLocation)
        return
    }
    if !a.dtype.isFloat {
        if let i = (0..<a.count).first(where: { a.ints[$0] != b.ints[$0] }) {
            Issue.record("\(what): element \(i): \(a.ints[i]) != \(b.ints[i])", sourceLocation: sourceLocation)
        }
        return
    }
    var worst = -1
    var worstExcess: Float = 0
    for i in 0..<a.count {
        let x = a.floats[i], y = b.floats[i]
        if x.isNaN || y.isNaN {
            if x.isNaN != y.isNaN { worst = i; break }
            continue
        }
        if x == y { continue }
        let excess = abs(x - y) - (atol + rtol * abs(y))
        if excess > worstExcess || !excess.isFinite {
            worstExcess = excess.isFinite ? excess : .infinity
            worst = i
        }
    }
    if worst >= 0 {
        Issue.record("\(what): element \(worst) of \(a.count): \(a.floats[worst]) vs \(b.floats[worst]) (rtol \(rtol), atol \(atol))",
                     sourceLocation: sourceLocation)
    }
}
