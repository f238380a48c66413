// Drawing and JPEG encoding for `gpuinfer ssdlite --draw`: the bitmap font's glyphs land pixel
// for pixel, rectangles clip to the image, and TurboJPEG round-trips an image.
import Foundation
import Testing
@testable import GPUInfer
@testable import GPUInferVision

@Suite struct ImageDrawingTests {
    static func blank(_ w: Int, _ h: Int) throws -> Image { try Image(width: w, height: h, pixels: [UInt8](repeating: 0, count: w * h * 3)) }

    /// "1A" at scale 2 at (3, 4): every font pixel of each glyph becomes a 2×2 white square and
    /// nothing else changes.
    @Test func textDrawsTheGlyphBits() throws {
        var c = Canvas(try Self.blank(40, 24))
        c.text("1a", x: 3, y: 4, scale: 2, color: (255, 255, 255))
        var expected = [UInt8](repeating: 0, count: 40 * 24 * 3)
        for (k, ch) in ["1", "A"].enumerated() {
            for (r, bits) in BitmapFont.glyph(Character(ch)).enumerated() {
                for col in 0..<5 where bits & (0x10 >> UInt8(col)) != 0 {
                    for dy in 0..<2 { for dx in 0..<2 {
                        let (x, y) = (3 + k * 12 + col * 2 + dx, 4 + r * 2 + dy)
                        for ch in 0..<3 { expected[(y * 40 + x) * 3 + ch] = 255 }
                    } }
                }
            }
        }
        #expect(c.pixels == expected)
        #expect(BitmapFont.size("1a", scale: 2) == (22, 14))
        #expect(BitmapFont.glyph("~") == BitmapFont.glyph("?"))
    }

    /// A box partly outside the image is clipped; its outline has the requested thickness.
    @Test func strokeClipsToTheImage() throws {
        var c = Canvas(try Self.blank(10, 8))
        c.stroke(x0: -3, y0: 2, x1: 6, y1: 20, thickness: 2, color: (9, 8, 7))
        let img = c.image
        #expect(img[0, 2, 0] == 9 && img[6, 2, 1] == 8 && img[5, 5, 2] == 7 && img[6, 7, 0] == 9)  // top edge, right edge
        #expect(img[3, 5, 0] == 0 && img[7, 3, 0] == 0 && img[2, 1, 0] == 0)  // inside, right of, above
        c.labelledBox(x0: 0, y0: 0, x1: 9, y1: 7, label: "x", color: (255, 255, 0))  // tag at the top edge: no crash
    }

    /// Encode then decode a smooth gradient at quality 95: mean absolute error under 2 levels.
    @Test func jpegRoundTrips() throws {
        let (w, h) = (67, 45)
        var px = [UInt8]()
        for y in 0..<h { for x in 0..<w { px += [UInt8(x * 255 / w), UInt8(y * 255 / h), 128] } }
        let image = try Image(width: w, height: h, pixels: px)
        let data = try JPEGEncoder.encode(image, quality: 95)
        #expect(data.prefix(2) == Data([0xFF, 0xD8]))
        let back = try ImageDecoder.decode(data: data)
        #expect(back.width == w && back.height == h)
        let mae = zip(back.pixels, px).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) } / px.count
        #expect(mae < 2, "mean absolute error \(mae)")
        #expect(throws: GPUInferError.self) { _ = try JPEGEncoder.encode(image, quality: 0) }
    }
}
