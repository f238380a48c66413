// Drawing on an RGB image: filled and outlined rectangles and text in the built-in bitmap font,
// everything clipped to the image. Used to draw labelled detection boxes.
import GPUInfer

/// A mutable copy of an image to draw on.
public struct Canvas: Sendable {
    public let width: Int
    public let height: Int
    public private(set) var pixels: [UInt8]

    public init(_ image: Image) {
        width = image.width
        height = image.height
        pixels = image.pixels
    }

    /// The drawing as an image.
    public var image: Image { Image(unchecked: width, height, pixels) }

    /// Fills the pixels x0..<x1, y0..<y1 (clipped) with `color` (R, G, B).
    public mutating func fill(x0: Int, y0: Int, x1: Int, y1: Int, color: (UInt8, UInt8, UInt8)) {
        let (a, b) = (max(0, x0), min(width, x1)), (c, d) = (max(0, y0), min(height, y1))
        guard a < b, c < d else { return }
        for y in c..<d {
            var i = (y * width + a) * 3
            for _ in a..<b {
                pixels[i] = color.0; pixels[i + 1] = color.1; pixels[i + 2] = color.2
                i += 3
            }
        }
    }

    /// Outlines the rectangle with corners (x0, y0) and (x1, y1) (inclusive) with lines
    /// `thickness` pixels wide, drawn inwards.
    public mutating func stroke(x0: Int, y0: Int, x1: Int, y1: Int, thickness: Int, color: (UInt8, UInt8, UInt8)) {
        let t = max(1, thickness)
        fill(x0: x0, y0: y0, x1: x1 + 1, y1: y0 + t, color: color)
        fill(x0: x0, y0: y1 + 1 - t, x1: x1 + 1, y1: y1 + 1, color: color)
        fill(x0: x0, y0: y0, x1: x0 + t, y1: y1 + 1, color: color)
        fill(x0: x1 + 1 - t, y0: y0, x1: x1 + 1, y1: y1 + 1, color: color)
    }

    /// Draws `text` with its top-left corner at (x, y), each font pixel a `scale`×`scale` square.
    public mutating func text(_ text: String, x: Int, y: Int, scale: Int, color: (UInt8, UInt8, UInt8)) {
        let s = max(1, scale)
        for (k, ch) in text.enumerated() {
            let rows = BitmapFont.glyph(ch)
            let gx = x + k * BitmapFont.advance * s
            for (r, bits) in rows.enumerated() {
                for col in 0..<BitmapFont.glyphWidth where bits & (0x10 >> UInt8(col)) != 0 {
                    fill(x0: gx + col * s, y0: y + r * s, x1: gx + (col + 1) * s, y1: y + (r + 1) * s, color: color)
                }
            }
        }
    }

    /// A box with a filled label tag above it (or inside it at the top edge of the image).
    public mutating func labelledBox(x0: Int, y0: Int, x1: Int, y1: Int, label: String, color: (UInt8, UInt8, UInt8)) {
        let thickness = max(2, min(width, height) / 250)
        let scale = max(1, min(width, height) / 300)
        stroke(x0: x0, y0: y0, x1: x1, y1: y1, thickness: thickness, color: color)
        let (tw, th) = BitmapFont.size(label, scale: scale)
        let pad = scale * 2
        let tagHeight = th + 2 * pad
        let top = y0 - tagHeight >= 0 ? y0 - tagHeight : y0
        fill(x0: x0, y0: top, x1: x0 + tw + 2 * pad, y1: top + tagHeight, color: color)
        // Dark text on light colours, white on dark ones (Rec. 601 luma).
        let luma = 299 * Int(color.0) + 587 * Int(color.1) + 114 * Int(color.2)
        let ink: (UInt8, UInt8, UInt8) = luma > 140_000 ? (0, 0, 0) : (255, 255, 255)
        text(label, x: x0 + pad, y: top + pad, scale: scale, color: ink)
    }

    /// A distinct colour per category id.
    public static func color(for label: Int) -> (UInt8, UInt8, UInt8) {
        let palette: [(UInt8, UInt8, UInt8)] = [
            (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
            (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200),
            (128, 0, 0), (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128),
        ]
        return palette[((label % palette.count) + palette.count) % palette.count]
    }
}
