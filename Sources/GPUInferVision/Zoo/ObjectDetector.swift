// Object detection with an SSD-style model whose output is DetectionOutput [N,1,K,7]
// ([image_id, label, conf, x_min, y_min, x_max, y_max], normalized, image_id −1 ends the list):
// decode → resize/normalize (from the model's metadata) → batch → run → detections per image.
import GPUInfer
import Foundation

/// One detected object.
public struct Detection: Sendable, Equatable, Codable {
    /// Category id (COCO-91 for ssdlite_mobilenet_v2) and its name.
    public var label: Int
    public var name: String
    public var score: Float
    /// Box corners normalized to [0,1]: x_min, y_min, x_max, y_max.
    public var box: [Float]

    /// The box in pixels of a `width`×`height` image.
    public func pixelBox(width: Int, height: Int) -> [Double] {
        [Double(box[0]) * Double(width), Double(box[1]) * Double(height), Double(box[2]) * Double(width), Double(box[3]) * Double(height)]
    }

    /// `pixelBox` rounded to whole pixels for drawing, each coordinate clamped to ±2³⁰ first (a box
    /// a model places far outside the image stays a number, never an integer overflow).
    public func pixelRect(width: Int, height: Int) -> [Int] {
        pixelBox(width: width, height: height).map { Int(min(max($0, -0x1p30), 0x1p30).rounded()) }
    }
}

/// A detection model with its preprocessing.
///
/// ```swift
/// let detector = try ObjectDetector(named: "ssdlite_mobilenet_v2", device: .automatic)
/// let found = try detector.detect(images: [try ImageDecoder.decode(path: "photo.jpg")])[0]
/// ```
public final class ObjectDetector: @unchecked Sendable {
    public let session: Session
    public let preprocessing: Preprocessing
    public let inputName: String
    public let outputName: String

    public init(model: Model, device: DeviceSelection = .automatic, profiling: Bool = false, options: ExecutionOptions = ExecutionOptions()) throws {
        guard model.inputs.count == 1, let input = model.inputs.first, let output = model.outputs.first else {
            throw GPUInferError.invalidInput("a detection model needs exactly one input (this one has \(model.inputs.count))")
        }
        preprocessing = try Preprocessing(metadata: model.metadata)
        session = try Session(model: model, device: device, profiling: profiling, options: options)
        inputName = input.name
        outputName = output.name
    }

    public convenience init(named name: String, modelsDir: String? = nil, device: DeviceSelection = .automatic,
                            options: ExecutionOptions = ExecutionOptions()) throws {
        try self.init(model: Model(path: ModelZoo.resolve(name, modelsDir: modelsDir), options: LoadOptions(options)), device: device, options: options)
    }

    /// Parses a DetectionOutput tensor [N,1,K,7] into per-image lists (rows up to the first
    /// image_id −1, scores ≥ `threshold`), for `count` images.
    public static func parse(_ y: Tensor, count: Int, threshold: Float = 0) throws -> [[Detection]] {
        guard y.dtype.isFloat, y.rank == 4, y.shape[0] == count, y.shape[1] == 1, y.shape[3] == 7 else {
            throw GPUInferError.invalidModel(location: "detection output", reason: "expected [\(count), 1, K, 7] floats, got \(y.dtype)\(y.shape)")
        }
        let k = y.shape[2]
        var result = [[Detection]](repeating: [], count: count)
        for n in 0..<count {
            for r in 0..<k {
                let row = Array(y.floats[(n * k + r) * 7..<(n * k + r + 1) * 7])
                if row[0] < 0 { break }
                guard row[0] == Float(n) else {
                    throw GPUInferError.invalidModel(location: "detection output", reason: "row \(r) of image \(n) says image \(row[0])")
                }
                guard row[2] >= threshold else { continue }
                // A model's numbers become an integer class and a drawable box only when they can be.
                guard row[1].isFinite, row[1] == row[1].rounded(), abs(row[1]) < 0x1p31 else {
                    throw GPUInferError.invalidModel(location: "detection output", reason: "row \(r) of image \(n): label \(row[1]) is not an integer class id")
                }
                guard row[3..<7].allSatisfy(\.isFinite) else {
                    throw GPUInferError.invalidModel(location: "detection output", reason: "row \(r) of image \(n): box \(Array(row[3..<7])) is not finite")
                }
                let label = Int(row[1])
                result[n].append(Detection(label: label, name: COCOLabels.name(label), score: row[2], box: Array(row[3..<7])))
            }
        }
        return result
    }

    /// Detections for `images`, running at most `batchSize` images at a time.
    public func detect(images: [Image], threshold: Float = 0, batchSize: Int = 8, profile: Bool = false) throws -> [[Detection]] {
        guard batchSize >= 1 else { throw GPUInferError.invalidInput("batch size must be at least 1") }
        var all: [[Detection]] = []
        for start in stride(from: 0, to: images.count, by: batchSize) {
            let batch = Array(images[start..<min(start + batchSize, images.count)])
            guard let y = try session.run([inputName: preprocessing.tensor(batch)], profile: profile)[outputName] else {
                throw GPUInferError.invalidModel(location: "output '\(outputName)'", reason: "was not produced")
            }
            all += try Self.parse(y, count: batch.count, threshold: threshold)
        }
        return all
    }

    /// Detections for a prepared batch's images, one list per `batch.images` element (see
    /// `ImageBatchPipeline`, which prepares the next batch while this one runs).
    public func detect(_ batch: PreparedImageBatch, threshold: Float = 0, profile: Bool = false) throws -> [[Detection]] {
        var all: [[Detection]] = []
        for input in batch.inputs {
            guard let y = try session.run([inputName: input.tensor], profile: profile)[outputName] else {
                throw GPUInferError.invalidModel(location: "output '\(outputName)'", reason: "was not produced")
            }
            all += try Self.parse(y, count: input.images.count, threshold: threshold)
        }
        return all
    }
}
