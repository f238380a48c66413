// ImageBatchPipeline: batches prepared in the background equal those prepared in turn (same
// images, failures and tensors bit for bit), in file order, with bad files in the middle reported
// in their batch; leaving early stops the background thread; a folder index is the same either way.
import Foundation
import Testing
@testable import GPUInfer
@testable import GPUInferVision
@testable import GPUInferRetrieval

@Suite struct ImageBatchPipelineTests {
    /// A folder of JPEGs of different sizes with a corrupt file, an empty file and a
    /// missing one among them; returns the paths in that order and which of them are bad.
    static func files(_ dir: String) throws -> (paths: [String], bad: Set<Int>) {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var random = TestRandom(seed: 7)
        var paths: [String] = [], bad: Set<Int> = []
        let sizes = [(40, 30), (33, 47), (64, 64), (17, 29), (50, 20), (31, 31), (48, 36), (25, 60), (70, 21), (12, 12), (41, 39)]
        for (i, (w, h)) in sizes.enumerated() {
            let pixels = (0..<(w * h * 3)).map { _ in UInt8(truncatingIfNeeded: random.next() >> 24) }
            let image = try Image(width: w, height: h, pixels: pixels)
            let path = "\(dir)/\(i).jpg"
            try JPEGEncoder.write(image, path: path, quality: 85)
            paths.append(path)
            switch i {
            case 2:
                bad.insert(paths.count)
                paths.append("\(dir)/missing.jpg")
            case 5:
                bad.insert(paths.count)
                paths.append("\(dir)/corrupt.jpg")
                try Data("not a JPEG at all".utf8).write(to: URL(fileURLWithPath: "\(dir)/corrupt.jpg"))
            case 6:
                bad.insert(paths.count)
                paths.append("\(dir)/empty.jpg")
                try Data().write(to: URL(fileURLWithPath: "\(dir)/empty.jpg"))
            default: break
            }
        }
        return (paths, bad)
    }

    static func temporary() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-pipeline-\(UUID().uuidString)").path
    }

    /// A batch as comparable values.
    struct Summary: Equatable {
        var files: Range<Int>
        var images: [Int], failures: [Int], errors: [String]
        var inputs: [Range<Int>], tensors: [Tensor]
        init(_ b: PreparedImageBatch) {
            files = b.files
            images = b.images.map(\.index)
            failures = b.failures.map(\.index)
            errors = b.failures.map { "\($0.error)" }
            inputs = b.inputs.map(\.images)
            tensors = b.inputs.map(\.tensor)
        }
    }

    static let fixed = try! Preprocessing(width: 24, height: 16, channelOrder: .bgr, scale: 1.0 / 255, mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3])
    static let shortSide = try! Preprocessing(width: 32, height: 32, resize: .lanczos4, sizeMode: .shortSide(24, multiple: 4, maxAspect: 2))

    @Test(arguments: [ImageBatching.images, .files], [1, 3, 4])
    func backgroundBatchesEqualInTurnBatches(batching: ImageBatching, batchSize: Int) throws {
        let dir = Self.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (paths, bad) = try Self.files(dir)
        for preprocessing in [Self.fixed, Self.shortSide] {
            let inTurn = try ImageBatchPipeline(paths: paths, preprocessing: preprocessing, batchSize: batchSize, batching: batching, lookahead: 0).map(Summary.init)
            for lookahead in [1, 3] {
                let ahead = try ImageBatchPipeline(paths: paths, preprocessing: preprocessing, batchSize: batchSize, batching: batching, lookahead: lookahead)
                #expect(ahead.map(Summary.init) == inTurn, "lookahead \(lookahead)")
            }
            // File order: the batches cover the files one after another; every file is an image or
            // a failure of its batch, the bad ones failures.
            #expect(inTurn.first?.files.lowerBound == 0 && inTurn.last?.files.upperBound == paths.count)
            for (a, b) in zip(inTurn, inTurn.dropFirst()) { #expect(a.files.upperBound == b.files.lowerBound) }
            for s in inTurn {
                #expect((s.images + s.failures).sorted() == Array(s.files))
                #expect(s.images == s.images.sorted() && s.failures == s.failures.sorted())
                #expect(Set(s.failures) == bad.intersection(s.files))
                #expect(s.inputs.first?.lowerBound ?? 0 == 0 && s.inputs.last?.upperBound ?? 0 == s.images.count)
                switch batching {
                case .files: #expect(s.files.count == batchSize || s.files.upperBound == paths.count)
                case .images: #expect(s.images.count == batchSize || s.files.upperBound == paths.count)
                }
            }
            #expect(inTurn.flatMap(\.failures).map { paths[$0] } == bad.sorted().map { paths[$0] })
            #expect(inTurn.flatMap(\.errors).allSatisfy { !$0.isEmpty })
        }
    }

    /// Each input tensor is what `Preprocessing.tensor` makes of its images; in short-side mode
    /// images of different input sizes go in different tensors, as `ImageModel.embed` batches them.
    @Test func inputsArePreprocessingTensorsOfSameSizeRuns() throws {
        let dir = Self.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (paths, _) = try Self.files(dir)
        for preprocessing in [Self.fixed, Self.shortSide] {
            var runs = 0
            for batch in try ImageBatchPipeline(paths: paths, preprocessing: preprocessing, batchSize: 5) {
                for input in batch.inputs {
                    let images = batch.images[input.images].map(\.image)
                    #expect(input.tensor == preprocessing.tensor(images))
                    let sizes = Set(images.map { "\(preprocessing.inputSize(imageWidth: $0.width, imageHeight: $0.height))" })
                    #expect(sizes.count == 1)
                    runs += 1
                }
            }
            if preprocessing == Self.shortSide { #expect(runs > 3) }
        }
    }

    /// Leaving the loop early, or cancelling, stops the background thread; nothing hangs.
    @Test func leavingEarlyStopsTheBackgroundThread() throws {
        let dir = Self.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (paths, _) = try Self.files(dir)
        let pipeline = try ImageBatchPipeline(paths: paths, preprocessing: Self.fixed, batchSize: 2, lookahead: 2)
        for batch in pipeline {
            #expect(batch.files.lowerBound == 0)
            break
        }
        let stream = pipeline.makeIterator()
        #expect(stream.next()?.files.lowerBound == 0)
        stream.cancel()
        #expect(stream.next() == nil)
        #expect(throws: GPUInferError.self) { try ImageBatchPipeline(paths: paths, preprocessing: Self.fixed, batchSize: 0) }
        #expect(throws: GPUInferError.self) { try ImageBatchPipeline(paths: paths, preprocessing: Self.fixed, lookahead: -1) }
        // No files: no batches.
        #expect(try ImageBatchPipeline(paths: [], preprocessing: Self.fixed).map(\.files).isEmpty)
    }

    /// The small embedding model: `ImageModel.embed` of a prepared batch equals `embed(images:)`,
    /// and a folder indexed with the pipeline equals one indexed without, byte for byte.
    @Test func embeddingAndIndexingAreTheSameWithAndWithoutThePipeline() throws {
        let model = try GeneratedData.require("retrieval/embed_small.onnx", script: "Tests/Models/make_retrieval_fixtures.py")
        let photos = try GeneratedData.require("retrieval/photos", script: "Tests/Models/make_retrieval_fixtures.py")
        let work = Self.temporary()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let embedder = try ImageModel(model: Model(path: model), device: .openCL(0))
        let (paths, _) = try Self.files(work + "/images")
        var pipelined: [Float] = []
        for batch in try ImageBatchPipeline(paths: paths, preprocessing: embedder.preprocessing, batchSize: 3, lookahead: 1) {
            let y = try embedder.embed(batch)
            #expect(y.shape[0] == batch.images.count)
            pipelined += y.floats
            // The same images through embed(images:) give the same rows bit for bit.
            if !batch.images.isEmpty {
                #expect(try embedder.embed(images: batch.images.map(\.image), batchSize: 3).floats == y.floats)
            }
        }
        #expect(pipelined.count == (paths.count - 3) * 64)

        var indexes: [(files: [String], skipped: [SkippedFile], descriptors: Data?)] = []
        for lookahead in [0, 1] {
            let output = "\(work)/index\(lookahead)"
            let indexer = try FolderIndexer(model: embedder, modelName: "embed_small", folder: photos, output: output, batchSize: 3)
            indexer.lookahead = lookahead
            let report = try indexer.run()
            let index = try #require(report.index)
            indexes.append((index.files, index.skipped, FileManager.default.contents(atPath: "\(output)/\(RetrievalIndex.descriptorsFile)")))
        }
        #expect(indexes[0].files == RetrievalCLITests.goodImages && indexes[1].files == indexes[0].files)
        #expect(indexes[0].skipped == indexes[1].skipped && indexes[0].skipped.map(\.path) == ["corrupt.jpg", "empty.jpg", "notes.txt", "sub/README"])
        #expect(indexes[0].descriptors != nil && indexes[0].descriptors == indexes[1].descriptors)
    }

    /// `gpuinfer netvlad` (any image model) on files with bad ones in the middle prints the same
    /// descriptors, the same errors in file order and writes the same .npy with and without
    /// `GPUINFER_PIPELINE=0`.
    @Test func commandOutputIsTheSameWithAndWithoutThePipeline() throws {
        let model = try GeneratedData.require("retrieval/embed_small.onnx", script: "Tests/Models/make_retrieval_fixtures.py")
        let photos = try GeneratedData.require("retrieval/photos", script: "Tests/Models/make_retrieval_fixtures.py")
        let work = Self.temporary()
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let files = ["grace_hopper.jpg", "corrupt.jpg", "crop.png", "missing.jpg", "noise.png", "flipped.jpg", "empty.jpg", "sub/dark.jpg"]
            .map { "\(photos)/\($0)" }
        var runs: [(status: Int32, out: String, err: String, npy: Data?)] = []
        for pipeline in ["1", "0"] {
            let npy = "\(work)/d\(pipeline).npy"
            let r = try gpuinfer(["netvlad", "--device", "0", "--model", model, "--batch", "2", "--output", npy] + files,
                                 environment: ["GPUINFER_PIPELINE": pipeline])
            runs.append((r.status, r.out.replacingOccurrences(of: npy, with: "D"), r.err, FileManager.default.contents(atPath: npy)))
        }
        #expect(runs[0].status == 1 && runs[1].status == 1, "\(runs[0].err)")
        #expect(runs[0].out == runs[1].out)
        #expect(runs[0].npy != nil && runs[0].npy == runs[1].npy)
        let errors = runs.map { $0.err.split(separator: "\n").filter { $0.hasPrefix("error: ") } }
        #expect(errors[0] == errors[1] && errors[0].count == 3, "\(runs[0].err)")
        let order = ["corrupt.jpg", "missing.jpg", "empty.jpg"]
        #expect(zip(errors[0], order).allSatisfy { $0.contains($1) }, "\(errors[0])")
        #expect(runs[0].err.contains("3 of 8 image(s) failed"))
        let described = runs[0].out.split(separator: "\n").filter { $0.contains(": dim 64") }.map { String($0.prefix { $0 != ":" }) }
        #expect(described == ["grace_hopper.jpg", "crop.png", "noise.png", "flipped.jpg", "sub/dark.jpg"].map { "\(photos)/\($0)" })
    }
}
