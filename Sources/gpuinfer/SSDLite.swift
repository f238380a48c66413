// `gpuinfer ssdlite img.jpg [more.jpg …] [--threshold 0.5] [--output dets.json] [--draw out.jpg]`:
// SSDLite-MobileNetV2 object detection. Prints one line per detection (COCO-91 name, score, box
// in pixels), writes the detections as JSON and draws labelled boxes onto a JPEG copy.
import ArgumentParser
import Foundation
import GPUInfer
import GPUInferVision
import GPUInferRetrieval

struct SSDLiteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ssdlite", abstract: "Detect objects with SSDLite-MobileNetV2 (COCO-91 labels).")

    @Argument(help: "JPEG or PNG images.") var images: [String]
    @OptionGroup var deviceOption: DeviceOption
    @Option(help: "Report detections with at least this score (the model keeps scores > 0.3).") var threshold: Float = 0.5
    @Option(help: "Write the detections as JSON.") var output: String?
    @Option(help: "Draw the labelled boxes onto a copy of the image and write it as JPEG (one image only; with several images, a folder).")
    var draw: String?
    @Option(help: "JPEG quality of --draw.") var quality: Int = 90
    @Option(help: "Images per inference.") var batch: Int = 8
    @Option(help: "Model name or .onnx path.") var model: String = "ssdlite_mobilenet_v2"
    @Option(help: "Folder with generated models (else $GPUINFER_MODELS, then Models/generated).") var modelsDir: String?
    @Option(help: "Refuse images whose header declares more pixels than this (checked before decoding).")
    var maxPixels: Int = ImageDecoder.defaultMaxPixels

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one image") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard threshold.isFinite, threshold >= 0, threshold <= 1 else { throw ValidationError("--threshold must be in [0, 1]") }
        guard (1...100).contains(quality) else { throw ValidationError("--quality must be in 1…100") }
        guard maxPixels >= 1 else { throw ValidationError("--max-pixels must be at least 1") }
    }

    /// Where the drawing of image `i` goes: --draw itself for one image, else a file in the --draw folder.
    func drawPath(_ i: Int) -> String? {
        guard let draw else { return nil }
        if images.count == 1 { return draw }
        let stem = ((images[i] as NSString).lastPathComponent as NSString).deletingPathExtension
        return (draw as NSString).appendingPathComponent("\(i)_\(stem).jpg")
    }

    func run() throws {
        try reportingErrors {
            let started = Date()
            let options = try deviceOption.executionOptions()
            let m = try Model(path: ModelZoo.resolve(model, modelsDir: modelsDir), options: LoadOptions(options))
            let selection = try deviceOption.selection()
            let detector = try ObjectDetector(model: m, device: selection, options: options)
            ImageInputs.announce(detector.session, selection: selection, model: m,
                                 consequence: "the detections are not meaningful; export real weights with Models/ssdlite.py --weights")
            if images.count > 1, let draw {
                try FileSystemErrors.createFolder(draw, what: "drawing folder")
            }
            var json: [[String: Any]] = []
            var processed = 0, failures = 0
            let progress = ProgressBar(total: images.count, enabled: false)
            // Batch k + 1 is decoded and resized in the background while batch k runs.
            let pipeline = try ImageBatchPipeline(paths: images, preprocessing: detector.preprocessing, batchSize: batch, maxPixels: maxPixels,
                                                  lookahead: options.pipelineLookahead)
            for prepared in pipeline {
                failures += progress.report(prepared.failures)
                processed += prepared.images.count
                for (item, found) in zip(prepared.images, try detector.detect(prepared, threshold: threshold)) {
                    let (w, h) = (item.image.width, item.image.height)
                    print("\(shown(item.path)): \(found.count) detection(s) with score ≥ \(threshold) (\(w)×\(h))")
                    var canvas = draw == nil ? nil : Canvas(item.image)
                    var rows: [[String: Any]] = []
                    for d in found {
                        let p = d.pixelBox(width: w, height: h)
                        print(String(format: "  %-16@ %.3f  [%.1f, %.1f, %.1f, %.1f]", d.name as NSString, d.score, p[0], p[1], p[2], p[3]))
                        rows.append(["label": d.label, "name": d.name, "score": Double(d.score),
                                     "box": p.map { ($0 * 10).rounded() / 10 }, "box_normalized": d.box.map(Double.init)])
                    }
                    // Lowest score first, so the best detections' boxes and tags end up on top.
                    for d in found.reversed() {
                        let p = d.pixelRect(width: w, height: h)
                        canvas?.labelledBox(x0: p[0], y0: p[1], x1: max(p[0], p[2] - 1), y1: max(p[1], p[3] - 1),
                                            label: "\(d.name) \(String(format: "%.2f", d.score))", color: Canvas.color(for: d.label))
                    }
                    json.append(["path": item.path, "width": w, "height": h, "detections": rows])
                    if let canvas, let path = drawPath(item.index) {
                        try JPEGEncoder.write(canvas.image, path: path, quality: quality)
                        print("  drew \(found.count) box(es) to \(path)")
                    }
                }
            }
            if let output {
                let object: [String: Any] = ["model": model, "device": detector.session.deviceDescription, "threshold": Double(threshold),
                                             "box_format": "x_min, y_min, x_max, y_max in pixels; box_normalized in [0,1]", "images": json]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                do { try data.write(to: URL(fileURLWithPath: output)) } catch {
                    throw GPUInferError.io(path: output, reason: "cannot write: \(FileSystemErrors.reason(error))")
                }
                print("wrote detections to \(output)")
            }
            try ImageInputs.finish(processed: processed, total: images.count, failures: failures, since: started)
        }
    }
}
