// Image models for embedding: decode → resize → normalize (from the model's metadata) → batch →
// run → one descriptor row per image.
import GPUInfer
import Foundation

/// A model that maps images to descriptors, with the preprocessing its metadata describes.
///
/// ```swift
/// let model = try ImageModel(named: "netvlad", device: .automatic)
/// let descriptors = try model.embed(images: [try ImageDecoder.decode(path: "photo.jpg")])  // [1, 4096]
/// ```
public final class ImageModel: @unchecked Sendable {
    public let session: Session
    public let preprocessing: Preprocessing
    /// Name of the input the images go to, and of the output taken as the descriptor.
    public let inputName: String
    public let outputName: String

    /// Wraps a loaded model on a device. The model must have one input and carry preprocessing
    /// metadata (`gpuinfer.input_width` …, see `Preprocessing`).
    public init(model: Model, device: DeviceSelection = .automatic, options: ExecutionOptions = ExecutionOptions()) throws {
        guard model.inputs.count == 1, let input = model.inputs.first, let output = model.outputs.first else {
            throw GPUInferError.invalidInput("an image model needs exactly one input (this one has \(model.inputs.count))")
        }
        preprocessing = try Preprocessing(metadata: model.metadata)
        session = try Session(model: model, device: device, options: options)
        inputName = input.name
        outputName = output.name
    }

    /// Loads a zoo model by name (or an .onnx path) onto `device`.
    public convenience init(named name: String, modelsDir: String? = nil, device: DeviceSelection = .automatic,
                            options: ExecutionOptions = ExecutionOptions()) throws {
        try self.init(model: Model(path: ModelZoo.resolve(name, modelsDir: modelsDir), options: LoadOptions(options)), device: device, options: options)
    }

    /// Descriptors for `images` as an [N, D] tensor, running at most `batchSize` images at a time.
    /// `progress` is called after each batch with the number of images done.
    public func embed(images: [Image], batchSize: Int = 8, progress: ((Int) -> Void)? = nil) throws -> Tensor {
        guard batchSize >= 1 else { throw GPUInferError.invalidInput("batch size must be at least 1") }
        var rows: [Float] = []
        var width = 0
        var done = 0
        // Batches of up to batchSize consecutive images with the same input size (in short-side
        // mode each image has its own size; the session keeps one plan per size).
        var batches: [Range<Int>] = []
        var start = 0
        while start < images.count {
            let size = preprocessing.inputSize(imageWidth: images[start].width, imageHeight: images[start].height)
            var end = start + 1
            while end < images.count, end - start < batchSize,
                  preprocessing.inputSize(imageWidth: images[end].width, imageHeight: images[end].height) == size { end += 1 }
            batches.append(start..<end)
            start = end
        }
        for range in batches {
            let batch = Array(images[range])
            let y = try run(preprocessing.tensor(batch), count: batch.count, width: width)
            width = y.count / batch.count
            rows += y.floats
            done += batch.count
            progress?(done)
        }
        return Tensor(shape: [images.count, width], floats: rows)
    }

    /// Descriptors of a prepared batch's images as an [N, D] tensor, row i for `batch.images[i]`
    /// (N = 0, D = 0 for a batch of failures only). See `ImageBatchPipeline`, which prepares the
    /// next batch while this one runs.
    public func embed(_ batch: PreparedImageBatch) throws -> Tensor {
        var rows: [Float] = []
        var width = 0
        for input in batch.inputs {
            let y = try run(input.tensor, count: input.images.count, width: width)
            width = y.count / input.images.count
            rows += y.floats
        }
        return Tensor(shape: [batch.images.count, width], floats: rows)
    }

    /// The descriptor output for an input tensor of `count` images, checked to be [count, D]
    /// floats (D = `width` unless `width` is 0).
    private func run(_ x: Tensor, count: Int, width: Int) throws -> Tensor {
        guard let y = try session.run([inputName: x])[outputName] else {
            throw GPUInferError.invalidModel(location: "output '\(outputName)'", reason: "was not produced")
        }
        guard y.dtype.isFloat, y.rank >= 2, y.shape[0] == count, width == 0 || y.count / count == width else {
            throw GPUInferError.invalidModel(location: "output '\(outputName)'", reason: "expected [N, D] floats, got \(y.dtype)\(y.shape)")
        }
        return y
    }
}
