// `gpuinfer verify MODEL.onnx --device N --input NAME=FILE.npy …`: device vs reference, node by
// node (each node's reference fed the device's own inputs, see Verifier.compare); names the first
// node beyond tolerance and exits 1 if any is.
import ArgumentParser
import Foundation
import GPUInfer
import GPUInferVision
import GPUInferRetrieval

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Compare an OpenCL device with the reference backend node by node.")

    @Argument(help: "Path to an .onnx file.") var model: String
    @OptionGroup var deviceOption: DeviceOption
    @Option(name: .long, help: "An input as NAME=FILE.npy (repeatable). Without inputs, seeded random inputs in [-1, 1) are used.")
    var input: [String] = []
    @Option(help: "Relative tolerance per element.") var rtol: Float = 1e-3
    @Option(help: "Absolute tolerance per element, as a fraction of the output's largest magnitude (at least 1).") var atol: Float = 1e-4

    func run() throws {
        var results: [NodeComparison] = []
        try reportingErrors {
            let options = try deviceOption.executionOptions()
            let m = try Model(path: model, options: LoadOptions(options))
            var feeds = try loadInputs(input, model: m)
            for i in m.inputs where feeds[i.name] == nil {
                guard input.isEmpty, let dims = i.dims, dims.allSatisfy({ $0 != nil }), i.dtype == .float32 || i.dtype == nil else {
                    throw GPUInferError.invalidInput("input '\(i.name)' has dynamic dims or a non-float type: give it with --input \(i.name)=FILE.npy")
                }
                feeds[i.name] = Self.random(dims.compactMap { $0 })
            }
            var selection = try deviceOption.selection()
            if selection == .automatic { selection = .openCL(0) }
            let session = try Session(model: m, device: selection, options: options)
            FileHandleWriter.write("device: \(session.deviceDescription)\n")
            results = try Verifier.compare(session, inputs: feeds, rtol: rtol, atol: atol)
        }
        // Each node is checked on the inputs the device computed ("max abs", "max rel", "ok");
        // "end-to-end" is the drift from the reference backend's own run, for information.
        print(pad("node", 40) + pad("op", 20) + pad("shape", 22) + pad("max abs", 13) + pad("max rel", 13) + pad("max |ref|", 13)
              + pad("end-to-end", 13) + "ok")
        for r in results {
            print(pad(shown(r.node), 40) + pad(r.op, 20) + pad("\(r.shape)", 22) + pad(String(format: "%.3e", r.maxAbsError), 13)
                  + pad(String(format: "%.3e", r.maxRelError), 13) + pad(String(format: "%.3e", r.scale), 13)
                  + pad(String(format: "%.3e", r.endToEndMaxAbsError), 13) + (r.withinTolerance ? "yes" : "NO"))
        }
        if let first = results.first(where: { !$0.withinTolerance }) {
            print("FAIL: first node beyond tolerance (rtol \(rtol), atol \(atol)): '\(shown(first.node))' (\(first.op)), output '\(shown(first.output))'")
            throw ExitCode.failure
        }
        print("OK: \(results.count) node outputs within tolerance (rtol \(rtol), atol \(atol))")
    }

    /// Seeded inputs so that two verify runs compare the same thing.
    static func random(_ shape: [Int]) -> Tensor {
        var state: UInt64 = 0x5EED
        let n = shape.reduce(1, *)
        let v: [Float] = (0..<n).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24) * 2 - 1
        }
        return Tensor(shape: shape, floats: v)
    }
}
