// The GLDv2 recipe preprocessing (MODELS.md §2, infer_retrieval.py): the short-side input size rule,
// OpenCV INTER_LANCZOS4 resizing, the models' metadata, and ImageModel embedding a photo at the
// recipe size. Fixtures from Tests/Models/make_gldv2_fixtures.py (OpenCV as the oracle); the photo
// is given as the PNG of OpenCV's own JPEG decode, so JPEG decoder differences stay out.
import Foundation
import Testing
@testable import GPUInfer
@testable import GPUInferVision

@Suite struct GLDv2PreprocessingTests {
    static let script = "Tests/Models/make_gldv2_fixtures.py"

    static func photo() throws -> Image {
        try ImageDecoder.decode(path: try GeneratedData.require("gldv2/photo.png", script: script))
    }

    /// The short-side rule, by hand: scale = S/min(w,h), round half to even (Python round), floor
    /// to the multiple (at least one multiple), long/short > max_aspect shrinks S to int(S·3/ratio).
    @Test func shortSideSizes() throws {
        let p = try Preprocessing(width: 448, height: 448, resize: .lanczos4, sizeMode: .shortSide(448, multiple: 32, maxAspect: 3))
        #expect(p.inputSize(imageWidth: 512, imageHeight: 600) == (448, 512))       // 525 → 512
        #expect(p.inputSize(imageWidth: 600, imageHeight: 512) == (512, 448))
        #expect(p.inputSize(imageWidth: 448, imageHeight: 448) == (448, 448))
        // ratio 5 > 3: S = int(448·3/5) = 268, scale 1.34 → 1340×268 → 1312×256.
        #expect(p.inputSize(imageWidth: 1000, imageHeight: 200) == (1312, 256))
        // Tiny image: upscaled to the short side.
        #expect(p.inputSize(imageWidth: 20, imageHeight: 10) == (896, 448))
        let q = try Preprocessing(width: 6, height: 6, sizeMode: .shortSide(6, multiple: 1, maxAspect: 0))
        #expect(q.inputSize(imageWidth: 7, imageHeight: 4) == (10, 6))             // 10.5 → 10 (half to even)
        #expect(q.inputSize(imageWidth: 9, imageHeight: 4) == (14, 6))             // 13.5 → 14
        let r = try Preprocessing(width: 64, height: 64, sizeMode: .shortSide(555, multiple: 32, maxAspect: 3))
        #expect(r.inputSize(imageWidth: 512, imageHeight: 600) == (544, 640))       // Inception-v4: 555 → 544
        #expect(throws: GPUInferError.self) { try Preprocessing(width: 1, height: 1, sizeMode: .shortSide(0, multiple: 32, maxAspect: 3)) }
        #expect(throws: GPUInferError.self) {
            try Preprocessing(metadata: ["gpuinfer.size_mode": "short_side", "gpuinfer.short_side": "x"])
        }
        #expect(throws: GPUInferError.self) { try Preprocessing(metadata: ["gpuinfer.size_mode": "longest", "gpuinfer.input_width": "4", "gpuinfer.input_height": "4"]) }
        // Round trip through metadata.
        #expect(try Preprocessing(metadata: p.metadata) == p)
    }

    /// Lanczos-4 against cv2.resize(INTER_LANCZOS4) on the photo: a downscale to the recipe size,
    /// an upscale and an aspect change. Same 11-bit fixed point and rounding as OpenCV; only the
    /// float coefficients (sin/cos from another libm) may differ in the last bit, which can move a
    /// sum across a rounding boundary: at most 1 level on a few pixels.
    @Test func lanczos4MatchesOpenCV() throws {
        let image = try Self.photo()
        for (w, h) in [(448, 512), (611, 733), (300, 200)] {
            let expected = try Npy.read(path: GeneratedData.url("gldv2/lanczos_\(w)x\(h).npy").path)
            let resized = try image.resizedLanczos4(width: w, height: h)
            #expect(expected.shape == [h, w, 3])
            var maxDiff: Float = 0, off = 0
            for (a, b) in zip(resized.pixels, expected.floats) {
                let d = abs(Float(a) - b)
                maxDiff = max(maxDiff, d)
                if d > 0 { off += 1 }
            }
            print("Lanczos4 \(w)x\(h) vs OpenCV: max |Δ| \(maxDiff), \(off) of \(resized.pixels.count) values differ")
            #expect(maxDiff <= 1 && off * 1000 <= resized.pixels.count, "\(w)x\(h): max |Δ| \(maxDiff), \(off) values differ")
        }
        #expect(throws: GPUInferError.self) { try image.resizedLanczos4(width: 0, height: 3) }
        // Weights sum to 1 for any phase; phase 0 is the identity tap.
        for x: Float in [0, 0.25, 0.5, 0.999] {
            let c = Image.lanczos4Coefficients(x)
            #expect(abs(c.reduce(0, +) - 1) < 1e-6)
        }
        #expect(Image.lanczos4Coefficients(0) == [0, 0, 0, 1, 0, 0, 0, 0])
    }

    /// The exported models' metadata gives the recipe tensor: Inception-v4 (555 → 544×640) and
    /// the 448 models (448×512) against the Python recipe (cv2 Lanczos, RGB, /255, ImageNet mean/std).
    /// One 8-bit level is 1/(255·0.225) ≈ 0.0175 after normalization; the resize matches OpenCV
    /// to ≤ 1 level on ≤ 0.1 % of values (above), so max |Δ| ≤ 0.018.
    @Test func modelMetadataGivesTheRecipeTensor() throws {
        let image = try Self.photo()
        for (model, key, size) in [("gldv2_inceptionv4", "555", [1, 3, 640, 544]), ("gldv2_res152", "448", [1, 3, 512, 448])] {
            let graph = try ONNXLoader.load(path: try GeneratedData.require("gldv2/\(model).onnx", script: Self.script))
            let p = try Preprocessing(metadata: graph.metadata)
            #expect(p.resize == .lanczos4)
            let x = p.tensor([image])
            let expected = try Npy.read(path: GeneratedData.url("gldv2/preprocess_\(key).npy").path)
            #expect(x.shape == size && expected.shape == size)
            let diff = TensorDiff(x, expected)
            print("\(model) preprocessing vs the Python recipe: \(diff)")
            #expect(diff.maxAbs <= 0.018, "\(model): \(diff)")
        }
    }

    /// ImageModel on gldv2_res152 embeds the photo at its recipe size (448×512) and matches
    /// onnxruntime on the Python-preprocessed input (cosine ≥ 0.9999, the models' bound).
    @Test func imageModelEmbedsAtTheRecipeSize() throws {
        let path = try GeneratedData.require("gldv2/gldv2_res152.onnx", script: Self.script)
        let expected = try Npy.read(path: try GeneratedData.require("gldv2/gldv2_res152_expected_recipe.npy", script: Self.script))
        guard let info = TestDevice.info else { throw GPUInferError.deviceNotFound(requested: "0", available: 0) }
        let model = try ImageModel(model: try Model(path: path), device: .openCL(info.index))
        let start = Date()
        let y = try model.embed(images: [try Self.photo()])
        print("gldv2_res152 ImageModel at 448×512: \(String(format: "%.2f", Date().timeIntervalSince(start))) s (plan + run)")
        checkOutput(y, expected, maxAbs: 1e-4, minCosine: 0.9999, "ImageModel embedding vs onnxruntime at the recipe size")
    }

    /// In short-side mode ImageModel batches consecutive images of one input size together (one
    /// plan per size) and keeps the image order: a GlobalAveragePool model whose output is each
    /// image's normalized channel means, on images of three sizes with batch size 2.
    @Test func imageModelBatchesBySize() throws {
        var graph = Graph(nodes: [Node(name: "gap", opType: "GlobalAveragePool", inputs: ["image"], outputs: ["g"], attributes: [:]),
                                  Node(name: "flat", opType: "Flatten", inputs: ["g"], outputs: ["y"], attributes: ["axis": .int(1)])],
                          inputs: [ValueInfo(name: "image", dtype: .float32, dims: [nil, 3, nil, nil])],
                          outputs: [ValueInfo(name: "y", dtype: .float32, dims: nil)], initializers: [:], opset: 17, opsets: ["": 17])
        let p = try Preprocessing(width: 32, height: 32, scale: 1, resize: .lanczos4, sizeMode: .shortSide(32, multiple: 32, maxAspect: 3))
        graph.metadata = p.metadata
        let runtime = try TestDevice.require()
        let model = try ImageModel(model: try Model(graph: graph), device: .openCL(runtime.device.index))
        func flat(_ w: Int, _ h: Int, _ v: UInt8) throws -> Image { try Image(width: w, height: h, pixels: [UInt8](repeating: v, count: w * h * 3)) }
        // Input sizes 32×32, 32×32, 64×32, 32×32, 32×32, 32×32 → batches [0,1], [2], [3,4], [5].
        let images = [try flat(40, 40, 10), try flat(50, 50, 20), try flat(80, 40, 30), try flat(33, 33, 40), try flat(35, 35, 50), try flat(36, 36, 60)]
        #expect(p.inputSize(imageWidth: 80, imageHeight: 40) == (64, 32))
        var progress: [Int] = []
        let y = try model.embed(images: images, batchSize: 2) { progress.append($0) }
        #expect(progress == [2, 3, 5, 6])
        #expect(model.session.planCount == 3)   // batch 2 at 32×32, batch 1 at 64×32, batch 1 at 32×32
        #expect(y.shape == [6, 3])
        // A constant image stays constant through Lanczos resizing: the mean of every channel is the value.
        for (i, v) in [10, 20, 30, 40, 50, 60].enumerated() {
            #expect(y.floats[i * 3..<(i * 3 + 3)].allSatisfy { abs($0 - Float(v)) < 1e-4 }, "image \(i): \(Array(y.floats[i * 3..<(i * 3 + 3)]))")
        }
    }
}
