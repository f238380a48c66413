// `gpuinfer mpncov img.jpg [more.jpg …] [--top 5] [--output rep.npy] [--layer representation|logits]`:
// fast-MPN-COV (iSQRT-COV) classification of photos — top classes with softmax scores, and the
// 32,896-d representation or the logits as .npy. Bad files are reported and skipped.
import ArgumentParser
import Foundation
import GPUInfer
import GPUInferVision
import GPUInferRetrieval

struct MPNCOVCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpncov", abstract: "fast-MPN-COV (iSQRT-COV) classes and 32,896-d representations of images.")

    enum Layer: String, ExpressibleByArgument, CaseIterable { case representation, logits }

    @Argument(help: "JPEG or PNG images.") var images: [String]
    @OptionGroup var deviceOption: DeviceOption
    @Option(help: "How many top classes to print per image (0: none).") var top: Int = 5
    @Option(help: "Write the chosen layer of the images that succeeded as an [N, D] float32 .npy.") var output: String?
    @Option(help: "What --output holds: representation ([N,32896]) or logits ([N,classes]).") var layer: Layer = .representation
    @Option(help: "Model: mpncov_resnet50, mpncov_resnet101, mpncov_vggd or an .onnx path.") var model: String = "mpncov_resnet50"
    @Option(help: "Folder with generated models (else $GPUINFER_MODELS, then Models/generated).") var modelsDir: String?
    @Option(help: "Class names, one per line (default: <model>.labels.txt next to the model, when present).") var labels: String?
    @Option(help: "Images per inference.") var batch: Int = 8
    @Option(help: "Refuse images whose header declares more pixels than this (checked before decoding).")
    var maxPixels: Int = ImageDecoder.defaultMaxPixels

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one image") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard top >= 0 else { throw ValidationError("--top must be at least 0") }
        guard maxPixels >= 1 else { throw ValidationError("--max-pixels must be at least 1") }
    }

    /// Class names from `--labels`, or from `<model>.labels.txt` when that exists; nil without.
    static func classNames(explicit: String?, modelPath: String, classes: Int) throws -> [String]? {
        let implicit = (modelPath.hasSuffix(".onnx") ? String(modelPath.dropLast(5)) : modelPath) + ".labels.txt"
        guard let path = explicit ?? (FileManager.default.fileExists(atPath: implicit) ? implicit : nil) else { return nil }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw GPUInferError.io(path: path, reason: "cannot read the labels file as UTF-8 text")
        }
        var names = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        while names.last?.isEmpty == true { names.removeLast() }
        guard names.count == classes else {
            throw GPUInferError.invalidInput("labels file \(path) has \(names.count) lines, the model has \(classes) classes")
        }
        return names
    }

    /// Indices and softmax probabilities of the `k` largest logits (probabilities in Double).
    static func topClasses(_ logits: ArraySlice<Float>, k: Int) -> [(index: Int, probability: Double, logit: Float)] {
        let m = Double(logits.max() ?? 0)
        let sum = logits.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) }
        return logits.enumerated().sorted { $0.element > $1.element }.prefix(k).map {
            ($0.offset, Foundation.exp(Double($0.element) - m) / sum, $0.element)
        }
    }

    func run() throws {
        try reportingErrors {
            let started = Date()
            let path = try ModelZoo.resolve(model, modelsDir: modelsDir)
            let options = try deviceOption.executionOptions()
            let m = try Model(path: path, options: LoadOptions(options))
            guard m.inputs.count == 1, let input = m.inputs.first else {
                throw GPUInferError.invalidModel(location: path, reason: "an mpncov model has one image input (this one has \(m.inputs.count))")
            }
            for name in ["logits", "representation"] where !m.outputs.contains(where: { $0.name == name }) {
                throw GPUInferError.invalidModel(location: path, reason: "no output '\(name)': not an mpncov model (Models/mpncov.py)")
            }
            let preprocessing = try Preprocessing(metadata: m.metadata)
            let selection = try deviceOption.selection()
            let session = try Session(model: m, device: selection, options: options)
            ImageInputs.announce(session, selection: selection, model: m,
                                 consequence: "the classes are not meaningful — export real weights with Models/mpncov.py --weights")
            var logits: [Float] = [], reps: [Float] = []
            var classes = 0, dim = 0, processed = 0, failures = 0
            var names: [String]?
            let progress = ProgressBar(total: images.count, enabled: images.count > batch)
            // Batch k + 1 is decoded and resized in the background while batch k runs.
            let pipeline = try ImageBatchPipeline(paths: images, preprocessing: preprocessing, batchSize: batch, maxPixels: maxPixels,
                                                  lookahead: options.pipelineLookahead)
            for prepared in pipeline {
                failures += progress.report(prepared.failures)
                var batchLogits: [Float] = []
                for x in prepared.inputs {
                    let out = try session.run([input.name: x.tensor])
                    guard let l = out["logits"], let r = out["representation"], l.rank == 2, r.rank == 2,
                          l.shape[0] == x.images.count, r.shape[0] == x.images.count else {
                        throw GPUInferError.invalidModel(location: path, reason: "expected logits [N, classes] and representation [N, D]")
                    }
                    (classes, dim) = (l.shape[1], r.shape[1])
                    batchLogits += l.floats
                    reps += r.floats
                }
                if classes > 0, names == nil { names = try Self.classNames(explicit: labels, modelPath: path, classes: classes) }
                for (i, item) in prepared.images.enumerated() {
                    print("\(shown(item.path)):")
                    for (rank, c) in Self.topClasses(batchLogits[(i * classes)..<((i + 1) * classes)], k: top).enumerated() {
                        let name = names.map { "  \($0[c.index])" } ?? ""
                        print(String(format: "  %2d. class %4d  p=%.4f  logit %+.4f", rank + 1, c.index, c.probability, c.logit) + name)
                    }
                }
                logits += batchLogits
                processed += prepared.images.count
                progress.update(prepared.files.upperBound)
            }
            progress.finish()
            if let output {
                let t = layer == .logits ? Tensor(shape: [processed, classes], floats: logits)
                                         : Tensor(shape: [processed, dim], floats: reps)
                try Npy.write(t, path: output)
                print("wrote \(layer.rawValue) \(t.shape) to \(output)")
            }
            try ImageInputs.finish(processed: processed, total: images.count, failures: failures, since: started)
        }
    }
}
