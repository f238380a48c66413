// PNG to RGB through libpng's simplified read API (which reports errors instead of longjmp-ing).
import GPUInfer
import CPNG

extension ImageDecoder {
    /// Decodes a PNG (any bit depth and colour type, interlaced or not) to 8-bit RGB. Alpha is
    /// dropped, not composited (as Pillow's `convert("RGB")` does); palettes and grey are expanded.
    /// Samples are taken as stored, as Pillow and OpenCV take them: the colour-space chunks (`gAMA`,
    /// `cHRM`, `iCCP`, `sRGB`) are removed before libpng sees the file (`withoutColourChunks`), as
    /// its simplified API would otherwise convert a file with a non-sRGB `gAMA` to sRGB (up to 19
    /// levels off at gamma 1.8, 72 for a linear gAMA). 16-bit samples are rounded to 8 bits.
    static func decodePNG(_ input: [UInt8], name: String, maxPixels: Int) throws -> Image {
        // libpng reads the memory until png_image_finish_read returns: the whole decode runs inside
        // the one scope where the bytes' pointer is valid (and the array alive).
        try withoutColourChunks(input).withUnsafeBufferPointer { try decodePNG($0, name: name, maxPixels: maxPixels) }
    }

    private static func decodePNG(_ bytes: UnsafeBufferPointer<UInt8>, name: String, maxPixels: Int) throws -> Image {
        func fail(_ reason: String) -> GPUInferError { .invalidImage(path: name, reason: reason) }
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&png) }
        func message() -> String {
            withUnsafeBytes(of: png.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        guard png_image_begin_read_from_memory(&png, bytes.baseAddress, bytes.count) != 0 else {
            throw fail("corrupt or truncated PNG header: \(message())")
        }
        let (width, height) = (Int(png.width), Int(png.height))
        try checkSize(width, height, maxPixels: maxPixels, name: name)
        png.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
        // Without alpha (colour type, tRNS) in the file, straight to 8-bit RGB: 3 bytes per pixel
        // are all the memory the decode takes (a 100-megapixel zlib bomb costs 300 MB, not 700).
        // With alpha, RGBA and the alpha dropped after: asked for RGB, libpng would composite.
        guard png.format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0 else {
            png.format = UInt32(PNG_FORMAT_FLAG_COLOR)
            var rgb = [UInt8](repeating: 0, count: width * height * 3)
            let finished = rgb.withUnsafeMutableBytes { png_image_finish_read(&png, nil, $0.baseAddress, 0, nil) }
            guard finished != 0 else { throw fail("truncated or corrupt PNG data: \(message())") }
            return Image(unchecked: width, height, rgb)
        }
        png.format = UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)  // 8-bit RGBA
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

    /// The colour-space chunks, which the reference decoders (Pillow, OpenCV) do not apply.
    static let colourChunks: Set<[UInt8]> = [Array("gAMA".utf8), Array("cHRM".utf8), Array("iCCP".utf8), Array("sRGB".utf8)]

    /// `png` without its `gAMA`, `cHRM`, `iCCP` and `sRGB` chunks (every other byte as it was), or
    /// `png` itself when it has none. A chunk whose length runs past the end stops the walk: the
    /// rest is kept for libpng to judge.
    static func withoutColourChunks(_ png: [UInt8]) -> [UInt8] {
        func chunks(_ visit: (Range<Int>, Bool) -> Void) {
            var i = 8
            while i + 12 <= png.count {
                let length = png[i..<i + 4].reduce(0) { $0 << 8 | Int($1) }
                guard length <= png.count - i - 12 else { break }
                let type = Array(png[i + 4..<i + 8])
                visit(i..<i + 12 + length, colourChunks.contains(type))
                i += 12 + length
                if type == Array("IEND".utf8) { break }
            }
            visit(i..<png.count, false)
        }
        var found = false
        chunks { _, colour in found = found || colour }
        guard found, png.count >= 8 else { return png }
        var out = Array(png[0..<8])
        out.reserveCapacity(png.count)
        chunks { range, colour in if !colour { out += png[range] } }
        return out
    }
}
