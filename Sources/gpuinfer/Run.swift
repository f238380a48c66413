// `gpuinfer run MODEL.onnx --input NAME=FILE.npy … --output-dir DIR`: runs a model, writes every
// graph output as DIR/<output name>.npy.
import ArgumentParser
import Foundation
import GPUInfer
import GPUInferVision
import GPUInferRetrieval

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run an ONNX model on .npy inputs and write its outputs as .npy files.")

    @Argument(help: "Path to an .onnx file.") var model: String
    @OptionGroup var deviceOption: DeviceOption
    @Option(name: .long, help: "An input as NAME=FILE.npy (repeatable; NAME may be omitted for a single-input model).")
    var input: [String] = []
    @Option(name: .long, help: "Folder for the outputs (created if missing).") var outputDir: String = "."

    func run() throws {
        try reportingErrors {
            let options = try deviceOption.executionOptions()
            let m = try Model(path: model, options: LoadOptions(options))
            let feeds = try loadInputs(input, model: m)
            let session = try Session(model: m, device: deviceOption.selection(), options: options)
            FileHandleWriter.write("device: \(session.deviceDescription)\n")
            let outputs = try session.run(feeds)
            try FileSystemErrors.createFolder(outputDir, what: "output folder")
            // Every output gets its own file: names that map to one file name (a/b, a:b, a_b) are told apart.
            let written = m.outputs.filter { outputs[$0.name] != nil }
            for (o, file) in zip(written, Npy.fileNames(forValues: written.map(\.name))) {
                guard let t = outputs[o.name] else { continue }
                let path = (outputDir as NSString).appendingPathComponent(file + ".npy")
                try Npy.write(t, path: path)
                print("\(shown(o.name)): \(t.dtype)\(t.shape) -> \(path)")
            }
        }
    }
}
