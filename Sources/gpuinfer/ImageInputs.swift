// What the commands that take image files share: decoding with each failure reported, the device
// line with the random-weights note, and the closing line whose exit status counts the failures.
import ArgumentParser
import Foundation
import GPUInfer
import GPUInferVision
import GPUInferRetrieval

enum ImageInputs {
    /// Decodes `paths`, printing each failure; returns the images that decoded (with their index
    /// in `paths`) and the number that failed.
    static func decode(_ paths: [String], maxPixels: Int) -> (images: [(index: Int, path: String, image: Image)], failures: Int) {
        var images: [(index: Int, path: String, image: Image)] = []
        var failures = 0
        for (i, (path, result)) in zip(paths, ImageDecoder.decode(paths: paths, maxPixels: maxPixels)).enumerated() {
            switch result {
            case let .success(image): images.append((i, path, image))
            case let .failure(error):
                failures += 1
                FileHandleWriter.write("error: \(error)\n")
            }
        }
        return (images, failures)
    }

    /// Prints which device runs `session` and, when `model` was exported with random weights,
    /// a note that ends with `consequence`.
    static func announce(_ session: Session, selection: DeviceSelection, model: Model, consequence: String) {
        FileHandleWriter.write("device: \(session.deviceDescription)\(selection == .automatic ? " (default)" : "")\n")
        if let weights = model.metadata["gpuinfer.weights"], weights.hasPrefix("random") {
            FileHandleWriter.write("note: this model has random weights (\(weights)); \(consequence)\n")
        }
    }

    /// Prints how many images took how long; exits 1 (after saying how many) when some failed.
    static func finish(processed: Int, total: Int, failures: Int, since started: Date) throws {
        FileHandleWriter.write(String(format: "%d image(s) in %.2f s\n", processed, Date().timeIntervalSince(started)))
        if failures > 0 {
            FileHandleWriter.write("\(failures) of \(total) image(s) failed\n")
            throw ExitCode.failure
        }
    }
}
