// Image files → model input batches, prepared ahead of the device: while the caller runs batch k,
// a background thread decodes and resizes batch k+1 (the images of a batch on several threads), so
// host preprocessing overlaps device work. Batches come out in file order, each with the files that
// failed to decode; the number prepared ahead is bounded, so memory stays bounded too.
import GPUInfer
import Foundation

/// An image file that decoded, with its place in the file list.
public struct DecodedImage: Sendable {
    /// Position of the file in the pipeline's `paths`.
    public let index: Int
    public let path: String
    public let image: Image
}

/// An image file that could not be decoded (missing, unreadable, corrupt, too large).
public struct ImageFailure: Sendable {
    /// Position of the file in the pipeline's `paths`.
    public let index: Int
    public let path: String
    public let error: GPUInferError
}

/// How the files are cut into batches.
public enum ImageBatching: Sendable, Equatable {
    /// Every batch covers `batchSize` consecutive files (the last one fewer), whichever of them
    /// decode: batch boundaries depend on the file list only (what a resumable run needs).
    case files
    /// Every batch holds `batchSize` decoded images (the last one fewer) with the failed files
    /// before and among them; a last batch may hold only failures.
    case images
}

/// One batch, decoded and preprocessed, ready for the model.
public struct PreparedImageBatch: Sendable {
    /// One model input: consecutive `images` with the same input size, as an NCHW float32 tensor.
    public struct Input: Sendable {
        /// Positions in `images`.
        public let images: Range<Int>
        public let tensor: Tensor
    }

    /// The positions in the pipeline's `paths` this batch covers (its images and its failures).
    public let files: Range<Int>
    /// The files that decoded, in file order.
    public let images: [DecodedImage]
    /// The files that failed, in file order.
    public let failures: [ImageFailure]
    /// The model inputs covering `images` in order: one, except in short-side mode where images of
    /// different input sizes go in separate tensors (see `Preprocessing.inputSize`).
    public let inputs: [Input]
}

/// Decodes and preprocesses image files batch by batch, `lookahead` batches ahead of the caller.
///
/// ```swift
/// let pipeline = try ImageBatchPipeline(paths: files, preprocessing: model.preprocessing, batchSize: 8)
/// for batch in pipeline {
///     for failure in batch.failures { print("error: \(failure.error)") }
///     let descriptors = try model.embed(batch)   // [batch.images.count, D]
/// }
/// ```
///
/// With `lookahead` ≥ 1 a background thread prepares the next batches while the loop body runs
/// (at most `lookahead` finished batches wait, plus the one being run); with 0 each batch is
/// prepared when the loop asks for it. Both give the same batches: the same images, failures and
/// tensors bit for bit. Leaving the loop early stops the background thread (after the batch it is
/// preparing). The command line takes the lookahead from `ExecutionOptions.pipelineLookahead` ($GPUINFER_PIPELINE=0 for 0).
public struct ImageBatchPipeline: Sequence, Sendable {
    public let paths: [String]
    public let preprocessing: Preprocessing
    public let batchSize: Int
    public let batching: ImageBatching
    public let maxPixels: Int
    public let lookahead: Int

    /// 1 (`ExecutionOptions.pipelineLookahead`, $GPUINFER_PIPELINE, sets it for the command line).
    public static let defaultLookahead = ExecutionOptions().pipelineLookahead

    /// Throws `invalidInput` for a batch size below 1 or a negative lookahead.
    public init(paths: [String], preprocessing: Preprocessing, batchSize: Int = 8, batching: ImageBatching = .images,
                maxPixels: Int = ImageDecoder.defaultMaxPixels, lookahead: Int = ImageBatchPipeline.defaultLookahead) throws {
        guard batchSize >= 1 else { throw GPUInferError.invalidInput("batch size must be at least 1") }
        guard lookahead >= 0 else { throw GPUInferError.invalidInput("lookahead must be at least 0") }
        self.paths = paths
        self.preprocessing = preprocessing
        self.batchSize = batchSize
        self.batching = batching
        self.maxPixels = maxPixels
        self.lookahead = lookahead
    }

    public func makeIterator() -> ImageBatchStream {
        ImageBatchStream(cursor: BatchCursor(pipeline: self), lookahead: lookahead)
    }
}

/// The batches of an `ImageBatchPipeline`, in order. Use it from one thread; dropping it (or
/// `cancel()`) stops the background preparation.
public final class ImageBatchStream: IteratorProtocol {
    private var cursor: BatchCursor?
    private let channel: BatchChannel?

    init(cursor: BatchCursor, lookahead: Int) {
        guard lookahead > 0 else {
            self.cursor = cursor
            channel = nil
            return
        }
        self.cursor = nil
        let channel = BatchChannel(capacity: lookahead)
        self.channel = channel
        DispatchQueue.global(qos: .userInitiated).async {
            var cursor = cursor
            while channel.waitForRoom(), let batch = cursor.next() { channel.put(batch) }
            channel.finish()
        }
    }

    /// The next batch; nil after the last one (or after `cancel()`).
    public func next() -> PreparedImageBatch? {
        if let channel { return channel.take() }
        return cursor?.next()
    }

    /// Stops preparing batches and waits for the background thread to let go of its batch.
    public func cancel() {
        channel?.cancel()
        cursor = nil
    }

    deinit { channel?.cancel() }
}

/// Prepares the batches one after another (owned by whichever thread prepares them).
struct BatchCursor: Sendable {
    let pipeline: ImageBatchPipeline
    private var nextFile = 0

    init(pipeline: ImageBatchPipeline) { self.pipeline = pipeline }

    mutating func next() -> PreparedImageBatch? {
        let paths = pipeline.paths
        guard nextFile < paths.count else { return nil }
        let first = nextFile
        var images: [DecodedImage] = [], failures: [ImageFailure] = []
        repeat {
            let wanted = pipeline.batching == .files ? pipeline.batchSize : pipeline.batchSize - images.count
            let end = min(nextFile + wanted, paths.count)
            let chunk = Array(paths[nextFile..<end])
            for (offset, result) in ImageDecoder.decode(paths: chunk, maxPixels: pipeline.maxPixels).enumerated() {
                switch result {
                case let .success(image): images.append(DecodedImage(index: nextFile + offset, path: chunk[offset], image: image))
                case let .failure(error): failures.append(ImageFailure(index: nextFile + offset, path: chunk[offset], error: error))
                }
            }
            nextFile = end
        } while pipeline.batching == .images && images.count < pipeline.batchSize && nextFile < paths.count
        return PreparedImageBatch(files: first..<nextFile, images: images, failures: failures,
                                  inputs: Self.inputs(images.map(\.image), pipeline.preprocessing))
    }

    /// Runs of consecutive images with one input size, each resized (several images at a time)
    /// and laid out as `Preprocessing.tensor` does.
    static func inputs(_ images: [Image], _ preprocessing: Preprocessing) -> [PreparedImageBatch.Input] {
        var runs: [(range: Range<Int>, width: Int, height: Int)] = []
        for (i, image) in images.enumerated() {
            let size = preprocessing.inputSize(imageWidth: image.width, imageHeight: image.height)
            if let last = runs.last, last.width == size.width, last.height == size.height {
                runs[runs.count - 1].range = last.range.lowerBound..<(i + 1)
            } else {
                runs.append((i..<(i + 1), size.width, size.height))
            }
        }
        var sizes = [(width: Int, height: Int)](repeating: (0, 0), count: images.count)
        for run in runs { for i in run.range { sizes[i] = (run.width, run.height) } }
        let fitted = concurrentMap(images.count) { [sizes] i in preprocessing.fitted(images[i], width: sizes[i].width, height: sizes[i].height) }
        return runs.map {
            PreparedImageBatch.Input(images: $0.range,
                                     tensor: preprocessing.tensor(fitted: Array(fitted[$0.range]), width: $0.width, height: $0.height))
        }
    }
}

/// `body(0) … body(count − 1)` on several threads, the results in index order.
func concurrentMap<T: Sendable>(_ count: Int, _ body: @Sendable (Int) -> T) -> [T] {
    let slots = Slots<T>(count: count)
    DispatchQueue.concurrentPerform(iterations: count) { slots.set($0, body($0)) }
    return slots.values
}

/// Per-index result slots written from `concurrentPerform` workers.
/// `@unchecked Sendable`: every access to `slots` holds `lock`.
private final class Slots<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [T?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: T) { lock.withLock { slots[i] = value } }
    /// Every slot has been set once `concurrentPerform` returns.
    var values: [T] { lock.withLock { slots.compactMap { $0 } } }
}

/// The hand-over between the preparing thread and the consuming one: at most `capacity` batches
/// wait; the producer asks for room before preparing a batch, so at most `capacity` + 1 batches
/// (those waiting and the one being run) are held at once.
/// `@unchecked Sendable`: every access to the stored state holds `condition`.
private final class BatchChannel: @unchecked Sendable {
    private let condition = NSCondition()
    private let capacity: Int
    private var queue: [PreparedImageBatch] = []
    private var head = 0
    private var finished = false, cancelled = false, producerDone = false

    init(capacity: Int) { self.capacity = capacity }

    /// Waits until fewer than `capacity` batches wait; false once cancelled.
    func waitForRoom() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !cancelled && queue.count - head >= capacity { condition.wait() }
        return !cancelled
    }

    func put(_ batch: PreparedImageBatch) {
        condition.lock()
        defer { condition.unlock() }
        if !cancelled { queue.append(batch) }
        condition.broadcast()
    }

    /// The producer has no more batches (or stopped after a cancel).
    func finish() {
        condition.lock()
        defer { condition.unlock() }
        finished = true
        producerDone = true
        condition.broadcast()
    }

    /// The next batch, waiting for it; nil when the producer has finished and none is left.
    func take() -> PreparedImageBatch? {
        condition.lock()
        defer { condition.unlock() }
        while !cancelled && head == queue.count && !finished { condition.wait() }
        guard !cancelled, head < queue.count else { return nil }
        let batch = queue[head]
        head += 1
        if head > 16 {
            queue.removeFirst(head)
            head = 0
        }
        condition.broadcast()
        return batch
    }

    /// Drops the waiting batches and waits until the producer has stopped.
    func cancel() {
        condition.lock()
        defer { condition.unlock() }
        cancelled = true
        queue.removeAll()
        head = 0
        condition.broadcast()
        while !producerDone { condition.wait() }
    }
}
