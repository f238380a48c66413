// Image files to RGB: JPEG through TurboJPEG (grayscale, CMYK/YCCK, progressive, EXIF orientation)
// and PNG through libpng, with size limits checked from the header, and a batch decoder that
// reports per-file results.
import GPUInfer
import CTurboJPEG
import Dispatch
import Foundation

/// Decodes image files into 8-bit RGB `Image`s.
///
/// JPEG (baseline and progressive; YCbCr, RGB, grayscale, CMYK and YCCK) is decoded with
/// libjpeg-turbo's TurboJPEG API, which reports errors instead of exiting. Grayscale becomes RGB by
/// replicating the grey value; CMYK and YCCK are treated as Adobe-inverted CMYK (as Photoshop and
/// libjpeg write them, and as Pillow reads every CMYK JPEG) and converted with Pillow's formula,
/// `R = K' − round((255 − C')·K'/255)` on the stored (inverted) values, i.e. `round(C'·K'/255)`.
/// The EXIF orientation tag (APP1 `Exif`, either byte order) is applied after decoding.
/// PNG goes through libpng (see `decodePNG`).
///
/// Every failure caused by the file's contents is `GPUInferError.invalidImage(path:reason:)`;
/// a file that cannot be read is `GPUInferError.io`.
public enum ImageDecoder {
    /// The default limit on `width × height`, checked from the header before any pixel memory is
    /// allocated (100 megapixels: 300 MB of RGB).
    public static let defaultMaxPixels = 100_000_000

    /// Decodes the image file at `path`.
    public static func decode(path: String, maxPixels: Int = defaultMaxPixels) throws -> Image {
        // Only a regular file: a FIFO would block the open, a directory or device is no image.
        let data = try RegularFile.read(path, what: "image")
        return try decode(data: data, name: path, maxPixels: maxPixels)
    }

    /// Decodes image bytes; `name` is the path or label used in errors.
    public static func decode(data: Data, name: String = "<memory>", maxPixels: Int = defaultMaxPixels) throws -> Image {
        let bytes = [UInt8](data)
        func fail(_ reason: String) -> GPUInferError { .invalidImage(path: name, reason: reason) }
        guard !bytes.isEmpty else { throw fail("empty file") }
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF {
            let image = try decodeJPEG(bytes, name: name, maxPixels: maxPixels)
            return image.oriented(exifOrientation(bytes))
        }
        if bytes.starts(with: pngSignature) { return try decodePNG(bytes, name: name, maxPixels: maxPixels) }
        throw fail(unsupportedFormat(bytes))
    }

    /// Decodes every file at `paths` (two at a time on two cores, and so on); a file that fails
    /// gives a `.failure` in its place and does not stop the others. Results are in `paths` order.
    public static func decode(paths: [String], maxPixels: Int = defaultMaxPixels) -> [Result<Image, GPUInferError>] {
        let results = ResultSlots(count: paths.count)
        DispatchQueue.concurrentPerform(iterations: paths.count) { i in
            let result: Result<Image, GPUInferError>
            do {
                result = .success(try decode(path: paths[i], maxPixels: maxPixels))
            } catch let error as GPUInferError {
                result = .failure(error)
            } catch {
                result = .failure(.invalidImage(path: paths[i], reason: "\(error)"))
            }
            results.set(i, result)
        }
        return results.values
    }

    package static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    // MARK: - JPEG

    static func decodeJPEG(_ bytes: [UInt8], name: String, maxPixels: Int) throws -> Image {
        func fail(_ reason: String) -> GPUInferError { .invalidImage(path: name, reason: reason) }
        guard let handle = tjInitDecompress() else { throw fail("cannot start the TurboJPEG decompressor") }
        defer { tjDestroy(handle) }
        func message() -> String { String(cString: tjGetErrorStr2(handle)) }
        var w: Int32 = 0, h: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = bytes.withUnsafeBufferPointer {
            tjDecompressHeader3(handle, $0.baseAddress, UInt($0.count), &w, &h, &subsampling, &colorspace)
        }
        guard header == 0 else { throw fail("corrupt or truncated JPEG header: \(message())") }
        let (width, height) = (Int(w), Int(h))
        if width == 0 && height == 0 { throw fail("no frame header (SOF) found: truncated file or an abbreviated (tables-only) JPEG") }
        try checkSize(width, height, maxPixels: maxPixels, name: name)
        let cmyk = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
        let format = cmyk ? TJPF_CMYK : TJPF_RGB
        var decoded = [UInt8](repeating: 0, count: width * height * (cmyk ? 4 : 3))
        // Accurate integer IDCT (also TurboJPEG's decompression default, and Pillow's); stop at the
        // first warning (libjpeg's warnings are truncation and corrupt entropy data); refuse
        // progressive files with an absurd number of scans (a known denial-of-service pattern).
        let flags = TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS
        let status = bytes.withUnsafeBufferPointer { src in
            decoded.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(handle, src.baseAddress, UInt(src.count), dst.baseAddress, w, 0, h, Int32(format.rawValue), flags)
            }
        }
        if status != 0 {
            if tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue) {
                throw fail("truncated or corrupt JPEG data: \(message())")
            }
            throw fail("cannot decode JPEG: \(message())")
        }
        return Image(unchecked: width, height, cmyk ? invertedCMYKToRGB(decoded) : decoded)
    }

    /// Refuses 0-pixel and too-large images before anything is allocated.
    static func checkSize(_ width: Int, _ height: Int, maxPixels: Int, name: String) throws {
        guard width > 0, height > 0 else {
            throw GPUInferError.invalidImage(path: name, reason: "the header declares \(width)×\(height) pixels")
        }
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, pixels <= maxPixels else {
            throw GPUInferError.invalidImage(
                path: name, reason: "\(width)×\(height) pixels exceed the limit of \(maxPixels) pixels (ImageDecoder maxPixels)")
        }
    }

    /// Adobe-inverted CMYK (stored value 255 = no ink) to RGB, exactly as Pillow's `cmyk2rgb`
    /// after its `CMYK;I` unpacking: `R = K' − muldiv255(255 − C', K')`.
    static func invertedCMYKToRGB(_ cmyk: [UInt8]) -> [UInt8] {
        let n = cmyk.count / 4
        var rgb = [UInt8](repeating: 0, count: n * 3)
        cmyk.withUnsafeBufferPointer { src in
            rgb.withUnsafeMutableBufferPointer { dst in
                for i in 0..<n {
                    let k = Int(src[4 * i + 3])
                    for c in 0..<3 {
                        let t = (255 - Int(src[4 * i + c])) * k + 128
                        dst[3 * i + c] = UInt8(clamping: k - (((t >> 8) + t) >> 8))
                    }
                }
            }
        }
        return rgb
    }

    /// The EXIF orientation (1...8) from the first APP1 `Exif\0\0` segment before the image data;
    /// 1 when there is none or it is malformed (a broken EXIF block never fails the decode).
    static func exifOrientation(_ b: [UInt8]) -> Int {
        var i = 2
        while i + 4 <= b.count, b[i] == 0xFF {
            let marker = b[i + 1]
            if marker == 0xFF { i += 1; continue }  // fill byte
            if marker == 0x01 || (0xD0...0xD8).contains(marker) { i += 2; continue }  // no length
            if marker == 0xDA || marker == 0xD9 { break }  // start of scan / end of image
            let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            guard length >= 2, i + 2 + length <= b.count else { break }
            if marker == 0xE1, length >= 8, Array(b[i + 4..<i + 10]) == Array("Exif\0\0".utf8) {
                if let o = tiffOrientation(Array(b[i + 10..<i + 2 + length])) { return o }
            }
            i += 2 + length
        }
        return 1
    }

    /// Tag 0x0112 of IFD0 in a TIFF block ("II" little- or "MM" big-endian), if valid.
    static func tiffOrientation(_ t: [UInt8]) -> Int? {
        guard t.count >= 8 else { return nil }
        let little: Bool
        switch (t[0], t[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ o: Int) -> Int? {
            guard o >= 0, o + 2 <= t.count else { return nil }
            return little ? Int(t[o]) | Int(t[o + 1]) << 8 : Int(t[o]) << 8 | Int(t[o + 1])
        }
        func u32(_ o: Int) -> Int? {
            guard let a = u16(o), let b = u16(o + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard u16(2) == 42, let ifd = u32(4), let count = u16(ifd) else { return nil }
        for e in 0..<count {
            let entry = ifd + 2 + 12 * e
            guard let tag = u16(entry), let type = u16(entry + 2) else { return nil }
            guard tag == 0x0112 else { continue }
            let value = type == 3 ? u16(entry + 8) : type == 4 ? u32(entry + 8) : nil
            return value.flatMap { (1...8).contains($0) ? $0 : nil }
        }
        return nil
    }

    /// Why bytes that are neither JPEG nor PNG cannot be decoded, naming the format when it is a known one.
    static func unsupportedFormat(_ b: [UInt8]) -> String {
        let signatures: [(String, [UInt8])] = [
            ("GIF", Array("GIF8".utf8)), ("BMP", Array("BM".utf8)),
            ("TIFF", [0x49, 0x49, 0x2A, 0x00]), ("TIFF", [0x4D, 0x4D, 0x00, 0x2A]),
        ]
        let webP = b.starts(with: Array("RIFF".utf8)) && b.dropFirst(8).starts(with: Array("WEBP".utf8))
        if let format = webP ? "WebP" : signatures.first(where: { b.starts(with: $0.1) })?.0 {
            return "\(format) images are not supported (JPEG and PNG only)"
        }
        let head = b.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        return "not a JPEG or PNG file (it starts with bytes \(head))"
    }
}

/// Per-index result slots written from `concurrentPerform` workers.
/// `@unchecked Sendable`: every access to `slots` holds `lock`.
private final class ResultSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<Image, GPUInferError>?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<Image, GPUInferError>) { lock.withLock { slots[i] = r } }
    var values: [Result<Image, GPUInferError>] {
        lock.withLock { slots.map { $0 ?? .failure(.invalidInput("internal: image not decoded")) } }
    }
}
