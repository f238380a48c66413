// `gpuinfer info MODEL.onnx`: inputs, outputs, opset, operators and what the load passes did.
import ArgumentParser
import GPUInfer
import GPUInferVision
import GPUInferRetrieval

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe an ONNX model as gpuinfer loads it.")
    @Argument(help: "Path to an .onnx file.") var model: String

    func run() throws {
        try reportingErrors {
            let m = try Model(path: model, options: LoadOptions(try ExecutionOptions.fromEnvironment()))
            print("opset: \(m.graph.opset)")
            for i in m.inputs { print("input  \(i.name): \(i.dtype.map { "\($0)" } ?? "?") \(describe(i))") }
            for o in m.outputs { print("output \(o.name): \(o.dtype.map { "\($0)" } ?? "?") \(describe(o))") }
            var counts: [String: Int] = [:]
            for n in m.graph.nodes { counts[n.opType, default: 0] += 1 }
            print("nodes: \(m.graph.nodes.count) (" + counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")")
            print("load passes: \(m.report.constantNodesFolded) constant nodes folded, \(m.report.batchNormsFolded) BatchNormalization folded into Conv, \(m.report.activationsFused) activations fused into Conv, \(m.report.residualsFused) residual Add fused into Conv, \(m.report.gemFused) GeM patterns fused, \(m.report.deadNodesRemoved) dead nodes removed")
            for (k, v) in m.metadata.sorted(by: { $0.key < $1.key }) { print("metadata \(k): \(v)") }
        }
    }

    private func describe(_ v: ValueInfo) -> String {
        guard let dims = v.dims else { return "[?]" }
        return "[" + dims.enumerated().map { i, d in d.map(String.init) ?? (i < v.dimNames.count ? v.dimNames[i] ?? "?" : "?") }.joined(separator: ", ") + "]"
    }
}
