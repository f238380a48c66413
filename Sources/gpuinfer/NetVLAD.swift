// `gpuinfer netvlad img.jpg [more.jpg …] [--output desc.npy] [--batch B]`: NetVLAD place
// descriptors of photos. Bad files are reported and skipped; the exit code says if any failed.
import ArgumentParser
import Foundation
import GPUInfer

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
        do {
            let started = Date()
            let m = try Model(path: ModelZoo.resolve(model, modelsDir: modelsDir))
            let selection = try deviceOption.selection()
            let imageModel = try ImageModel(model: m, device: selection)
            ImageInputs.announce(imageModel.session, selection: selection, model: m,
                                 consequence: "export real weights with Models/netvlad.py --weights")
            let (decoded, failures) = ImageInputs.decode(images, maxPixels: maxPixels)
            let progress = ProgressBar(total: decoded.count, enabled: decoded.count > batch)
            let descriptors = try imageModel.embed(images: decoded.map(\.image), batchSize: batch) { progress.update($0) }
            progress.finish()
            let dim = descriptors.rank == 2 ? descriptors.shape[1] : 0
            for (i, (_, path, _)) in decoded.enumerated() {
                let row = Array(descriptors.floats[(i * dim)..<((i + 1) * dim)])
                let norm = row.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
                let head = row.prefix(show).map { String(format: "%+.5f", $0) }.joined(separator: " ")
                print("\(path): dim \(dim)  L2 \(String(format: "%.6f", norm))  [\(head)\(dim > show ? " …" : "")]")
            }
            if let output {
                try Npy.write(descriptors, path: output)
                print("wrote \(descriptors.shape) descriptors to \(output)")
            }
            try ImageInputs.finish(processed: decoded.count, total: images.count, failures: failures, since: started)
        } catch let e as ExitCode {
            throw e
        } catch {
            throw fail(error)
        }
    }
}

/// A one-line progress bar on standard error.
final class ProgressBar {
    let total: Int
    let enabled: Bool
    let started = Date()
    init(total: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled && total > 0
    }
    func update(_ done: Int) {
        guard enabled else { return }
        let width = 30
        let filled = min(width, done * width / max(total, 1))
        let rate = Double(done) / max(Date().timeIntervalSince(started), 1e-6)
        FileHandleWriter.write("\r[" + String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
            + "] \(done)/\(total) images, " + String(format: "%.2f images/s", rate))
    }
    func finish() { if enabled { FileHandleWriter.write("\n") } }
}
