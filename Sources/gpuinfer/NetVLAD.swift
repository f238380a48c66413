// `gpuinfer netvlad img.jpg [more.jpg …] [--output desc.npy] [--batch B]`: NetVLAD place
// descriptors of photos. Bad files are reported and skipped; the exit code says if any failed.
import ArgumentParser
import Foundation
import GPUInfer
import GPUInferVision
import GPUInferRetrieval

struct NetVLADCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "netvlad", abstract: "NetVLAD 4096-d place descriptors of images.")

    @Argument(help: "JPEG or PNG images.") var images: [String]
    @OptionGroup var deviceOption: DeviceOption
    @Option(help: "Write the descriptors of the images that succeeded as an [N,4096] float32 .npy.") var output: String?
    @Option(help: "Images per inference.") var batch: Int = 8
    @Option(help: "Model name or .onnx path.") var model: String = "netvlad"
    @Option(help: "Folder with generated models (else $GPUINFER_MODELS, then Models/generated).") var modelsDir: String?
    @Option(help: "How many leading descriptor values to print.") var show: Int = 6
    @Option(help: "Refuse images whose header declares more pixels than this (checked before decoding).")
    var maxPixels: Int = ImageDecoder.defaultMaxPixels

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one image") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard maxPixels >= 1 else { throw ValidationError("--max-pixels must be at least 1") }
    }

    func run() throws {
        try reportingErrors {
            let started = Date()
            let options = try deviceOption.executionOptions()
            let m = try Model(path: ModelZoo.resolve(model, modelsDir: modelsDir), options: LoadOptions(options))
            let selection = try deviceOption.selection()
            let imageModel = try ImageModel(model: m, device: selection, options: options)
            ImageInputs.announce(imageModel.session, selection: selection, model: m,
                                 consequence: "export real weights with Models/netvlad.py --weights")
            // Batch k + 1 is decoded and resized in the background while batch k runs.
            let pipeline = try ImageBatchPipeline(paths: images, preprocessing: imageModel.preprocessing, batchSize: batch, maxPixels: maxPixels,
                                                  lookahead: options.pipelineLookahead)
            let progress = ProgressBar(total: images.count, enabled: images.count > batch)
            var rows: [Float] = [], dim = 0, processed = 0, failures = 0
            for prepared in pipeline {
                failures += progress.report(prepared.failures)
                let y = try imageModel.embed(prepared)
                if !prepared.images.isEmpty { dim = y.shape[1] }
                for (i, item) in prepared.images.enumerated() {
                    let row = Array(y.floats[(i * dim)..<((i + 1) * dim)])
                    let norm = row.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
                    let head = row.prefix(show).map { String(format: "%+.5f", $0) }.joined(separator: " ")
                    print("\(shown(item.path)): dim \(dim)  L2 \(String(format: "%.6f", norm))  [\(head)\(dim > show ? " …" : "")]")
                }
                rows += y.floats
                processed += prepared.images.count
                progress.update(prepared.files.upperBound)
            }
            progress.finish()
            let descriptors = Tensor(shape: [processed, dim], floats: rows)
            if let output {
                try Npy.write(descriptors, path: output)
                print("wrote \(descriptors.shape) descriptors to \(output)")
            }
            try ImageInputs.finish(processed: processed, total: images.count, failures: failures, since: started)
        }
    }
}

/// A one-line progress bar on standard error.
final class ProgressBar {
    let total: Int
    let enabled: Bool
    let started = Date()
    /// Whether the bar is on the current line (a message starts a new line first).
    private var drawn = false
    init(total: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled && total > 0
    }
    /// Prints each failure as `error: …` on a line of its own; returns how many there were.
    func report(_ failures: [ImageFailure]) -> Int {
        for failure in failures {
            if drawn { FileHandleWriter.write("\n") }
            drawn = false
            FileHandleWriter.write("error: \(failure.error)\n")
        }
        return failures.count
    }
    func update(_ done: Int) {
        guard enabled else { return }
        drawn = true
        let width = 30
        let filled = min(width, done * width / max(total, 1))
        let rate = Double(done) / max(Date().timeIntervalSince(started), 1e-6)
        FileHandleWriter.write("\r[" + String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
            + "] \(done)/\(total) images, " + String(format: "%.2f images/s", rate))
    }
    func finish() { if drawn { FileHandleWriter.write("\n") } }
}
