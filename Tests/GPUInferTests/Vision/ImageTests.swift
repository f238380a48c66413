// Image pipeline: JPEG decoding vs Pillow, bilinear resize vs OpenCV INTER_LINEAR, preprocessing to
// NCHW tensors, and clear errors for bad files (fixtures: Tests/Models/make_image_fixtures.py).
import Foundation
import Testing
@testable import GPUInfer
@testable import GPUInferVision

private let imagesDir = repoRoot.appendingPathComponent("Tests/data/generated/images").path
private let samplePath = repoRoot.appendingPathComponent("Models/samples/grace_hopper.jpg").path

/// Path of a fixture, recording an issue when the fixtures have not been generated.
private func fixture(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    let path = imagesDir + "/" + name
    guard FileManager.default.fileExists(atPath: path) else {
        Issue.record("missing \(path): run .venv/bin/python Tests/Models/make_image_fixtures.py", sourceLocation: sourceLocation)
        return nil
    }
    return path
}

/// An `[H, W, 3]` uint8 .npy written by the fixture script, as an Image.
private func expectedImage(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Image? {
    guard let path = fixture(name + ".npy", sourceLocation: sourceLocation) else { return nil }
    let t = try Npy.read(path: path)
    #expect(t.dtype == .uint8 && t.rank == 3 && t.shape[2] == 3, "\(name): \(t.dtype) \(t.shape)", sourceLocation: sourceLocation)
    return try Image(width: t.shape[1], height: t.shape[0], pixels: t.ints.map { UInt8($0) })
}

/// Max and mean absolute difference in grey levels (nil when the sizes differ).
private func difference(_ a: Image, _ b: Image) -> (max: Int, mean: Double, mismatches: Int)? {
    guard a.width == b.width, a.height == b.height else { return nil }
    var maxDiff = 0, sum = 0, mismatches = 0
    a.pixels.withUnsafeBufferPointer { p in
        b.pixels.withUnsafeBufferPointer { q in
            for i in 0..<p.count {
                let d = abs(Int(p[i]) - Int(q[i]))
                maxDiff = max(maxDiff, d)
                sum += d
                mismatches += d != 0 ? 1 : 0
            }
        }
    }
    return (maxDiff, Double(sum) / Double(a.pixels.count), mismatches)
}

/// The error `body` throws, if it is an `invalidImage`, as its reason.
private func invalidImageReason(_ body: () throws -> Image) -> String? {
    do {
        _ = try body()
        return nil
    } catch let GPUInferError.invalidImage(_, reason) {
        return reason
    } catch {
        Issue.record("expected invalidImage, got \(error)")
        return nil
    }
}

@Suite struct ImageDecodeTests {
    /// Decode tolerance vs Pillow. Pillow's wheel bundles libjpeg-turbo (3.x) and we use the
    /// system's (2.1.5): both run the accurate integer IDCT and the same "fancy" (triangle)
    /// chroma upsampling, and libjpeg-turbo's SIMD paths are bit-exact with its C code, so the
    /// pixels are expected to be identical. One grey level of slack allows for a libjpeg-turbo build
    /// whose colour conversion rounds differently; a different IDCT or upsampling would exceed it
    /// (typical differences are 2–10 levels near edges). Mean < 0.5 keeps the slack to isolated pixels.
    static let tolerance = 1

    private func check(_ file: String, expected: String, width: Int, height: Int,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        guard let path = file.hasPrefix("/") ? file : fixture(file, sourceLocation: sourceLocation),
              let want = try expectedImage(expected, sourceLocation: sourceLocation) else { return }
        let image = try ImageDecoder.decode(path: path)
        #expect(image.width == width && image.height == height, "\(file): \(image.width)×\(image.height)", sourceLocation: sourceLocation)
        guard let d = difference(image, want) else {
            Issue.record("\(file): \(image.width)×\(image.height), Pillow \(want.width)×\(want.height)", sourceLocation: sourceLocation)
            return
        }
        #expect(d.max <= Self.tolerance && d.mean < 0.5, "\(file) vs Pillow: max \(d.max), mean \(d.mean)", sourceLocation: sourceLocation)
    }

    @Test func samplePhotoMatchesPillow() throws {
        try check(samplePath, expected: "photo_rgb", width: 512, height: 600)
        // Stronger than the tolerance: with the same libjpeg-turbo algorithms the decode is exact.
        guard let want = try expectedImage("photo_rgb") else { return }
        #expect(try ImageDecoder.decode(path: samplePath) == want, "baseline 4:2:0 decode is bit-exact with Pillow")
    }

    /// Grayscale (replicated to RGB), Adobe CMYK (Pillow) and YCCK (TurboJPEG), progressive,
    /// 4:4:4 and 4:2:2 subsampling, and awkward sizes.
    @Test(arguments: [("gray", 512, 600), ("cmyk", 512, 600), ("ycck", 512, 600), ("progressive", 512, 600),
                      ("s444", 512, 600), ("s422", 512, 600), ("tiny_1x1", 1, 1), ("odd_37x23", 37, 23)])
    func variantMatchesPillow(_ name: String, _ width: Int, _ height: Int) throws {
        try check(name + ".jpg", expected: name + "_rgb", width: width, height: height)
    }

    @Test func grayIsReplicated() throws {
        guard let path = fixture("gray.jpg") else { return }
        let image = try ImageDecoder.decode(path: path)
        let px = image.pixels
        let replicated = stride(from: 0, to: px.count, by: 3).allSatisfy { (i: Int) -> Bool in px[i] == px[i + 1] && px[i] == px[i + 2] }
        #expect(replicated)
    }

    /// EXIF orientations 2–8 in a little-endian TIFF header (written by Pillow) and 6 in a
    /// big-endian one, vs Pillow's `ImageOps.exif_transpose`; 5–8 swap width and height.
    @Test(arguments: ["orient_2", "orient_3", "orient_4", "orient_5", "orient_6", "orient_7", "orient_8", "orient_6_be"])
    func exifOrientationMatchesPillow(_ name: String) throws {
        let swapped = ["5", "6", "7", "8", "6_be"].contains { name.hasSuffix("_" + $0) }
        try check(name + ".jpg", expected: name + "_rgb", width: swapped ? 600 : 512, height: swapped ? 512 : 600)
    }

    @Test func orientationTransformsOnASmallImage() throws {
        // 3×2 image, pixel value = 10·(x+1) + y (in every channel): rows [10 20 30] and [11 21 31].
        let values: [UInt8] = [10, 20, 30, 11, 21, 31]
        let image = try Image(width: 3, height: 2, pixels: values.flatMap { [$0, $0, $0] })
        func rows(_ o: Int) -> [[UInt8]] {
            let r = image.oriented(o)
            return (0..<r.height).map { y in (0..<r.width).map { x in r[x, y, 0] } }
        }
        #expect(rows(1) == [[10, 20, 30], [11, 21, 31]])
        #expect(rows(2) == [[30, 20, 10], [31, 21, 11]])
        #expect(rows(3) == [[31, 21, 11], [30, 20, 10]])
        #expect(rows(4) == [[11, 21, 31], [10, 20, 30]])
        #expect(rows(5) == [[10, 11], [20, 21], [30, 31]])
        #expect(rows(6) == [[11, 10], [21, 20], [31, 30]])  // 90° clockwise
        #expect(rows(7) == [[31, 30], [21, 20], [11, 10]])
        #expect(rows(8) == [[30, 31], [20, 21], [10, 11]])  // 90° counter-clockwise
        #expect(rows(9) == rows(1) && rows(0) == rows(1))
    }

    @Test func exifParserToleratesMalformedBlocks() throws {
        func jpeg(app1 tiff: [UInt8]) -> [UInt8] {
            let body = Array("Exif\0\0".utf8) + tiff
            return [0xFF, 0xD8, 0xFF, 0xE1, UInt8((body.count + 2) >> 8), UInt8((body.count + 2) & 0xFF)] + body + [0xFF, 0xDA, 0, 2]
        }
        let le: [UInt8] = [0x49, 0x49, 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0]
        let be: [UInt8] = [0x4D, 0x4D, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0]
        #expect(ImageDecoder.exifOrientation(jpeg(app1: le)) == 6)
        #expect(ImageDecoder.exifOrientation(jpeg(app1: be)) == 8)
        var nine = le
        nine[18] = 9
        #expect(ImageDecoder.exifOrientation(jpeg(app1: nine)) == 1, "out-of-range orientation is ignored")
        var farIFD = le
        farIFD[4] = 200
        #expect(ImageDecoder.exifOrientation(jpeg(app1: farIFD)) == 1, "IFD offset past the block")
        #expect(ImageDecoder.exifOrientation(jpeg(app1: Array(le.prefix(12)))) == 1, "entry cut short")
        #expect(ImageDecoder.exifOrientation(jpeg(app1: [0x41, 0x41] + le.dropFirst(2))) == 1, "bad byte order")
        var lying = jpeg(app1: le)
        lying[5] = 0xFF  // segment length past the end of the file
        #expect(ImageDecoder.exifOrientation(lying) == 1)
    }

    @Test func invertedCMYKConversionMatchesPillowsFormula() {
        // Stored (inverted) values: 255 = no ink. R = round(C'·K'/255), computed as Pillow does.
        let cmyk: [UInt8] = [255, 0, 128, 255, /**/ 255, 255, 255, 0, /**/ 100, 200, 50, 128]
        let rgb = ImageDecoder.invertedCMYKToRGB(cmyk)
        #expect(rgb == [255, 0, 128, 0, 0, 0, 50, 100, 25])  // 100·128/255 = 50.2, 200·128/255 = 100.4, 50·128/255 = 25.1
    }
}

@Suite struct ImageBadFileTests {
    @Test(arguments: [
        ("truncated.jpg", "truncated or corrupt JPEG data"), ("truncated_header.jpg", "no frame header"),
        ("corrupt.jpg", "Huffman"), ("not_an_image.jpg", "not a JPEG or PNG file"), ("empty.jpg", "empty file"),
    ])
    func badFileGivesInvalidImage(_ name: String, _ expected: String) throws {
        guard let path = fixture(name) else { return }
        let reason = invalidImageReason { try ImageDecoder.decode(path: path) }
        #expect(reason?.contains(expected) == true, "\(name): \(reason ?? "no error")")
    }

    @Test func otherFormatsAreNamed() {
        #expect(invalidImageReason { try ImageDecoder.decode(data: Data("GIF89a....".utf8)) }?.contains("GIF") == true)
    }

    /// A missing file, a directory and a FIFO (opened non-blocking: a plain open would wait for a
    /// writer forever) are io errors that say what the path is.
    @Test func missingFileDirectoryAndFIFOAreIOErrors() throws {
        #expect(throws: GPUInferError.io(path: "/nonexistent/x.jpg", reason: "cannot open image: no such file")) {
            try ImageDecoder.decode(path: "/nonexistent/x.jpg")
        }
        #expect(throws: GPUInferError.io(path: NSTemporaryDirectory(), reason: "a directory, not a regular file: refused as image")) {
            try ImageDecoder.decode(path: NSTemporaryDirectory())
        }
        let fifo = NSTemporaryDirectory() + "gpuinfer-fifo-\(UUID().uuidString).jpg"
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        #expect(throws: GPUInferError.io(path: fifo, reason: "a FIFO (named pipe), not a regular file: refused as image")) {
            try ImageDecoder.decode(path: fifo)
        }
    }

    /// The sample photo with its SOF0 dimensions replaced. JPEG stores 16-bit sizes, so 100000 per
    /// side cannot be written; libjpeg-turbo refuses more than 65500 per side itself.
    private func withSize(width: Int, height: Int) throws -> Data {
        var b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: samplePath)))
        guard let sof = (0..<b.count - 1).first(where: { b[$0] == 0xFF && b[$0 + 1] == 0xC0 }) else {
            throw GPUInferError.invalidInput("no SOF0 in the sample")
        }
        // FF C0, length (2), precision (1), height (2), width (2).
        b[sof + 5] = UInt8(height >> 8); b[sof + 6] = UInt8(height & 0xFF)
        b[sof + 7] = UInt8(width >> 8); b[sof + 8] = UInt8(width & 0xFF)
        return Data(b)
    }

    @Test func pixelLimitIsCheckedFromTheHeaderBeforeDecoding() throws {
        // 65500×65500 = 4.3 gigapixels (12.9 GB of RGB): refused by the default 100 MP limit before
        // any allocation; the body holds only 512×600 pixels of data, so a decode attempt would
        // report truncation instead of the limit.
        let huge = try withSize(width: 65500, height: 65500)
        let reason = invalidImageReason { try ImageDecoder.decode(data: huge, name: "huge.jpg") }
        #expect(reason?.contains("65500×65500 pixels exceed the limit of 100000000") == true, "\(reason ?? "no error")")
        let tooWide = invalidImageReason { try ImageDecoder.decode(data: try withSize(width: 65535, height: 1), name: "wide.jpg") }
        #expect(tooWide?.contains("65500") == true, "libjpeg-turbo's own limit: \(tooWide ?? "no error")")
        // The limit is configurable and inclusive.
        let sample = try Data(contentsOf: URL(fileURLWithPath: samplePath))
        #expect(invalidImageReason { try ImageDecoder.decode(data: sample, maxPixels: 512 * 600 - 1) }?.contains("limit") == true)
        #expect(try ImageDecoder.decode(data: sample, maxPixels: 512 * 600).width == 512)
    }

    @Test func zeroSizedHeaderIsRefused() throws {
        for (w, h) in [(0, 600), (512, 0)] {
            let reason = invalidImageReason { try ImageDecoder.decode(data: try withSize(width: w, height: h), name: "zero.jpg") }
            #expect(reason != nil, "\(w)×\(h) must be refused")
        }
    }

    @Test func batchDecodeKeepsGoingPastBadFiles() throws {
        guard let bad = fixture("not_an_image.jpg"), let truncated = fixture("truncated.jpg"), let gray = fixture("gray.jpg") else { return }
        let paths = [samplePath, bad, "/nonexistent/y.jpg", truncated, gray, samplePath]
        let results = ImageDecoder.decode(paths: paths)
        #expect(results.count == paths.count)
        let ok = results.map { if case .success = $0 { return true } else { return false } }
        #expect(ok == [true, false, false, false, true, true])
        if case let .failure(.invalidImage(path, _)) = results[1] { #expect(path == bad) } else { Issue.record("\(results[1])") }
        if case .failure(.io) = results[2] {} else { Issue.record("\(results[2])") }
        if case let .success(a) = results[0], case let .success(b) = results[5] { #expect(a == b) }
        #expect(ImageDecoder.decode(paths: []).isEmpty)
    }
}

@Suite struct ImageResizeTests {
    /// OpenCV's uint8 INTER_LINEAR is integer arithmetic after the weights are rounded, and
    /// `Image.resized` reproduces those weights and the rounding, so the result is bit-exact; the
    /// issue's bar (1 grey level) is asserted too, so a failure says which one broke.
    @Test(arguments: [("photo_rgb", 300, 200), ("photo_rgb", 411, 257), ("photo_rgb", 37, 23), ("photo_rgb", 256, 300),
                      ("odd_37x23_rgb", 300, 200), ("odd_37x23_rgb", 5, 3)])
    func resizeMatchesOpenCV(_ source: String, _ width: Int, _ height: Int) throws {
        let prefix = source == "photo_rgb" ? "photo" : "odd"
        guard let input = try expectedImage(source), let want = try expectedImage("\(prefix)_resize_\(width)x\(height)") else { return }
        let got = try input.resized(width: width, height: height)
        guard let d = difference(got, want) else { Issue.record("size \(got.width)×\(got.height)"); return }
        #expect(d.max <= 1, "\(source) → \(width)×\(height): max \(d.max)")
        #expect(d.mismatches == 0, "\(source) → \(width)×\(height): \(d.mismatches) of \(got.pixels.count) values differ from OpenCV")
    }

    @Test func resizeEdgeCases() throws {
        let image = try Image(width: 2, height: 1, pixels: [0, 100, 200, 255, 50, 0])
        #expect(try image.resized(width: 2, height: 1) == image)
        // Upscale 2 → 4: src x = (dx + 0.5)/2 − 0.5 = −0.25, 0.25, 0.75, 1.25 → clamped 0, ¾·a+¼·b, ¼·a+¾·b, b.
        let up = try image.resized(width: 4, height: 1)
        #expect((0..<4).map { up[$0, 0, 0] } == [0, 64, 191, 255])
        let single = try Image(width: 1, height: 1, pixels: [7, 8, 9]).resized(width: 3, height: 2)
        #expect(single.pixels == Array(repeating: [7, 8, 9], count: 6).flatMap { $0 })
        #expect(throws: GPUInferError.self) { try image.resized(width: 0, height: 5) }
        #expect(throws: GPUInferError.self) { try Image(width: 2, height: 2, pixels: [1, 2, 3]) }
    }
}

@Suite struct ImagePreprocessingTests {
    /// 2×2 image: (10,20,30) (40,50,60) / (70,80,90) (200,210,255).
    private let image = try! Image(width: 2, height: 2, pixels: [10, 20, 30, 40, 50, 60, 70, 80, 90, 200, 210, 255])

    @Test func rgbScaleMeanStd() throws {
        let p = try Preprocessing(width: 2, height: 2, channelOrder: .rgb, scale: 1 / 255, mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.5])
        let t = p.tensor([image])
        #expect(t.shape == [1, 3, 2, 2])
        // ((v/255) − mean)/std in float32, e.g. R of pixel 0: (10/255 − 0.5)/0.2 = −2.3039216.
        let expected: [Float] = [-2.3039214611, -1.7156863213, -1.1274509430, 1.4215689898,
                                 -1.2862745523, -0.8156862259, -0.3450980186, 1.6941179037,
                                 -0.3647058904, -0.1294117570, 0.1058823466, 1.3999999762]
        // Tolerance 1e-6: one fp32 rounding of values of magnitude ≤ 2.3 (ulp 2.4e-7) per operation.
        for (a, b) in zip(t.floats, expected) { #expect(abs(a - b) <= 1e-6, "\(a) vs \(b)") }
    }

    @Test func bgrOrderBatchAndResize() throws {
        // Exact small numbers: channel 0 is B: (2·B − 100)/2, channel 1 G: (2·G − 50)/4, channel 2 R: 2·R/8.
        let p = try Preprocessing(width: 2, height: 2, channelOrder: .bgr, scale: 2, mean: [100, 50, 0], std: [2, 4, 8])
        let big = try image.resized(width: 5, height: 3)
        let t = p.tensor([image, big])
        #expect(t.shape == [2, 3, 2, 2])
        #expect(Array(t.floats[0..<12]) == [-20, 10, 40, 205, -2.5, 12.5, 27.5, 92.5, 2.5, 10, 17.5, 50])
        let back = try big.resized(width: 2, height: 2)
        #expect(Array(t.floats[12..<24]) == p.tensor([back]).floats)
        #expect(p.tensor([]).shape == [0, 3, 2, 2])
    }

    /// Short side + center crop (fast-MPN-COV's Resize(S) → CenterCrop): pixel value = 10·y + x
    /// (all channels) so the crop window can be read off. 7×4 with S = 4: no resize (short side
    /// already 4, long int(4·7/4) = 7), crop 2×2 at left round(5/2) = 2 (half to even), top
    /// round(2/2) = 1. 4×8 with S = 2: resized to 2×4 (long int(2·8/4) = 4), crop top round(2/2) = 1.
    @Test func resizeShortSideThenCenterCrop() throws {
        func ramp(_ w: Int, _ h: Int) throws -> Image {
            try Image(width: w, height: h, pixels: (0..<(w * h)).flatMap { i in Array(repeating: UInt8(10 * (i / w) + i % w), count: 3) })
        }
        let p = try Preprocessing(width: 2, height: 2, resizeShort: 4)
        #expect(Array(p.tensor([try ramp(7, 4)]).floats[0..<4]) == [12, 13, 22, 23])
        let q = try Preprocessing(width: 2, height: 2, resizeShort: 2)
        let tall = try ramp(4, 8)
        let resized = try tall.resized(width: 2, height: 4)
        #expect(Array(q.tensor([tall]).floats[0..<4]) == [2, 3, 4, 5].map { Float(resized.pixels[3 * $0]) })
        #expect(try Preprocessing(metadata: q.metadata) == q)
        #expect(q.metadata["gpuinfer.resize_short"] == "2")
        #expect(throws: GPUInferError.self) { try Preprocessing(width: 224, height: 224, resizeShort: 200) }
        #expect(throws: GPUInferError.self) {
            try Preprocessing(metadata: ["gpuinfer.input_width": "224", "gpuinfer.input_height": "224", "gpuinfer.resize_short": "100"])
        }
    }

    @Test func netVLADMetadataGivesResizedRawRGB() throws {
        let p = try Preprocessing(metadata: ["gpuinfer.input_width": "300", "gpuinfer.input_height": "200", "gpuinfer.resize": "bilinear",
                                             "gpuinfer.channel_order": "RGB", "gpuinfer.scale": "1", "gpuinfer.mean": "0,0,0"])
        #expect(p == (try Preprocessing(width: 300, height: 200)))
        #expect(try Preprocessing(metadata: p.metadata) == p)
        guard let want = try expectedImage("photo_resize_300x200") else { return }
        let t = p.tensor([try ImageDecoder.decode(path: samplePath)])
        #expect(t.shape == [1, 3, 200, 300])
        let chw = (0..<3).flatMap { c in (0..<200 * 300).map { Float(want.pixels[3 * $0 + c]) } }
        #expect(t.floats == chw)
    }

    /// The whole path (our JPEG decode, resize, BGR, 1/255, ImageNet mean/std) vs OpenCV's
    /// (cv2.imread, cv2.resize, the same arithmetic in NumPy float32). Tolerance: one grey level
    /// through the scaling, 1/255/std ≤ 0.0175, plus fp32 rounding; identical pixels give ≤ 1e-6.
    @Test func fullPipelineMatchesOpenCV() throws {
        guard let path = fixture("photo_tensor_bgr_imagenet.npy") else { return }
        let want = try Npy.read(path: path)
        let p = try Preprocessing(width: 224, height: 224, channelOrder: .bgr, scale: 1 / 255,
                                  mean: [0.406, 0.456, 0.485], std: [0.225, 0.224, 0.229])
        let t = p.tensor([try ImageDecoder.decode(path: samplePath)])
        #expect(t.shape == want.shape)
        let maxErr = zip(t.floats, want.floats).map { abs($0 - $1) }.max() ?? 0
        #expect(maxErr <= 1 / 255 / 0.224 + 1e-6, "max error \(maxErr)")
        #expect(maxErr <= 1e-6, "expected identical pixels: max error \(maxErr)")
    }

    @Test func badMetadataNamesTheKey() {
        let base = ["gpuinfer.input_width": "300", "gpuinfer.input_height": "200"]
        let cases: [(String, String?, String)] = [
            ("gpuinfer.input_width", nil, "missing"), ("gpuinfer.input_height", "-3", "not a size"),
            ("gpuinfer.resize", "nearest", "bilinear or lanczos4"), ("gpuinfer.channel_order", "GRB", "neither RGB nor BGR"),
            ("gpuinfer.mean", "1,2", "1 or 3"), ("gpuinfer.mean", "1,x,3", "1 or 3"), ("gpuinfer.std", "0", "0"),
            ("gpuinfer.scale", "1,2,3", "one number"), ("gpuinfer.size_mode", "longest", "neither fixed nor short_side"),
        ]
        for (key, value, words) in cases {
            var m = base
            m[key] = value
            do {
                _ = try Preprocessing(metadata: m)
                Issue.record("\(key)=\(value ?? "nil") accepted")
            } catch let GPUInferError.invalidModel(location, reason) {
                #expect(location.contains(key) && reason.contains(words), "\(location): \(reason)")
            } catch {
                Issue.record("\(key): \(error)")
            }
        }
        #expect(throws: GPUInferError.self) { try Preprocessing(width: 0, height: 10) }
        #expect(throws: GPUInferError.self) { try Preprocessing(width: 10, height: 10, std: [1, 0, 1]) }
    }

    @Test func defaultsAndBroadcastValues() throws {
        let p = try Preprocessing(metadata: ["gpuinfer.input_width": " 4 ", "gpuinfer.input_height": "3", "gpuinfer.channel_order": "bgr",
                                             "gpuinfer.scale": "0.00392156862745098", "gpuinfer.mean": "0.5", "gpuinfer.std": "0.25, 0.5, 1"])
        #expect(p.width == 4 && p.height == 3 && p.channelOrder == .bgr && p.resize == .bilinear)
        #expect(p.mean == [0.5, 0.5, 0.5] && p.std == [0.25, 0.5, 1] && p.scale == Float(1.0 / 255))
    }
}

@Suite struct ImagePNGTests {
    /// libpng and Pillow both decode PNG losslessly, so 8-bit files must match exactly.
    @Test(arguments: ["png_rgb", "png_rgba", "png_gray", "png_palette"])
    func pngMatchesPillow(_ name: String) throws {
        guard let path = fixture(name + ".png"), let want = try expectedImage(name + "_rgb") else { return }
        #expect(try ImageDecoder.decode(path: path) == want)
    }

    /// CRC-32 (zlib's polynomial) of a PNG chunk's type and data.
    private func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }

    /// png_rgb.png with its IHDR width and height replaced (and the chunk's CRC recomputed).
    private func png(width: Int, height: Int) throws -> Data? {
        guard let path = fixture("png_rgb.png") else { return nil }
        var b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        // Signature (8), IHDR length (4), "IHDR" (4), width (4), height (4), 5 more bytes, CRC (4).
        for (i, v) in [(16, width), (20, height)] { for k in 0..<4 { b[i + k] = UInt8((v >> (24 - 8 * k)) & 0xFF) } }
        let crc = crc32(b[12..<29])
        for k in 0..<4 { b[29 + k] = UInt8((crc >> (24 - 8 * UInt32(k))) & 0xFF) }
        return Data(b)
    }

    /// png_rgb.png with `chunk` (type and data, CRC computed) inserted after IHDR.
    private func png(inserting type: String, _ data: [UInt8]) throws -> Data? {
        guard let path = fixture("png_rgb.png") else { return nil }
        let b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let body = Array(type.utf8) + data
        let crc = crc32(body[...])
        let chunk = (0..<4).map { UInt8((data.count >> (24 - 8 * $0)) & 0xFF) } + body + (0..<4).map { UInt8((crc >> (24 - 8 * UInt32($0))) & 0xFF) }
        return Data(Array(b[0..<33]) + chunk + Array(b[33...]))
    }

    /// Pillow and OpenCV ignore gAMA, cHRM, iCCP and sRGB: the pixels of a file carrying them are
    /// the stored samples, exactly (gamma 1.8 and a linear gamma would move them by up to 19 and 72
    /// levels through libpng's conversion).
    @Test(arguments: [("gAMA", [0, 0, 0xD9, 0x03]), ("gAMA", [0, 1, 0x86, 0xA0]), ("sRGB", [0]),
                      ("cHRM", [UInt8](repeating: 1, count: 32)), ("iCCP", Array("x\0".utf8) + [0, 0x78, 0x9C, 0x03, 0, 0, 0, 0, 1])])
    func colourChunksAreIgnored(_ type: String, _ data: [UInt8]) throws {
        guard let plain = fixture("png_rgb.png"), let tagged = try png(inserting: type, data) else { return }
        #expect(ImageDecoder.withoutColourChunks([UInt8](tagged)) == [UInt8](try Data(contentsOf: URL(fileURLWithPath: plain))))
        #expect(try ImageDecoder.decode(data: tagged, name: "\(type).png") == ImageDecoder.decode(path: plain))
    }

    @Test func hugeAndEmptyPNGHeadersAreRefused() throws {
        // 100000×100000 = 10 gigapixels: refused from the header by the 100 MP limit.
        guard let huge = try png(width: 100_000, height: 100_000), let zero = try png(width: 0, height: 600) else { return }
        let reason = invalidImageReason { try ImageDecoder.decode(data: huge, name: "huge.png") }
        #expect(reason?.contains("100000×100000 pixels exceed the limit") == true, "\(reason ?? "no error")")
        let empty = invalidImageReason { try ImageDecoder.decode(data: zero, name: "zero.png") }
        #expect(empty?.contains("PNG header") == true, "\(empty ?? "no error")")
        // The unchanged header (CRC recomputed the same way) still decodes.
        #expect(try ImageDecoder.decode(data: try png(width: 512, height: 600) ?? Data()).height == 600)
    }

    @Test func truncatedAndCorruptPNGs() throws {
        guard let path = fixture("png_rgb.png") else { return }
        let b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let cut = invalidImageReason { try ImageDecoder.decode(data: Data(b.prefix(b.count / 2)), name: "cut.png") }
        #expect(cut?.contains("truncated or corrupt PNG data") == true, "\(cut ?? "no error")")
        let header = invalidImageReason { try ImageDecoder.decode(data: Data(b.prefix(20)), name: "head.png") }
        #expect(header?.contains("PNG header") == true, "\(header ?? "no error")")
        var flipped = b
        flipped[b.count / 2] ^= 0xFF  // inside the IDAT data: the chunk CRC no longer matches
        let corrupt = invalidImageReason { try ImageDecoder.decode(data: Data(flipped), name: "flip.png") }
        #expect(corrupt?.contains("PNG") == true, "\(corrupt ?? "no error")")
    }
}
