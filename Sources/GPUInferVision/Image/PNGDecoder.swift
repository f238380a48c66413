// PNG to RGB through libpng's simplified read API (which reports errors instead of longjmp-ing).
import GPUInfer
import CPNG

extension ImageDecoder {
    /// Decodes a PNG (any bit depth and colour type, interlaced or not) to 8-bit RGB. Alpha is
    /// dropped, not composited (as Pillow's `convert("RGB")` does); palettes and grey are expanded.
    /// libpng's simplified API converts colour to sRGB: 8-bit files without a `gAMA` chunk (or with
    /// the sRGB gamma) are unchanged; 16-bit samples are taken as sRGB-encoded and rounded to 8 bits.
    static func decodePNG(_ bytes: [UInt8], name: String, maxPixels: Int) throws -> Image {
        func fail(_ reason: String) -> GPUInferError { .invalidImage(path: name, reason: reason) }
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&png) }
        func message() -> String {
            withUnsafeBytes(of: png.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        let begun = bytes.withUnsafeBufferPointer { png_image_begin_read_from_memory(&png, $0.baseAddress, $0.count) }
        guard begun != 0 else { throw fail("corrupt or truncated PNG header: \(message())") }
        let (width, height) = (Int(png.width), Int(png.height))
        try checkSize(width, height, maxPixels: maxPixels, name: name)
        png.format = UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)  // 8-bit RGBA
        png.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
        var rgba = [UInt8](repeating: 0, count: width * height * 4)
        let finished = rgba.withUnsafeMutableBytes { png_image_finish_read(&png, nil, $0.baseAddress, 0, nil) }
        guard finished != 0 else { throw fail("truncated or corrupt PNG data: \(message())") }
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        rgba.withUnsafeBufferPointer { src in
            rgb.withUnsafeMutableBufferPointer { dst in
                for i in 0..<width * height {
                    dst[3 * i] = src[4 * i]; dst[3 * i + 1] = src[4 * i + 1]; dst[3 * i + 2] = src[4 * i + 2]
                }
            }
        }
        return Image(unchecked: width, height, rgb)
    }
}
