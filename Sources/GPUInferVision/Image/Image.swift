// 8-bit RGB images: EXIF orientation transforms and bilinear resizing that reproduces OpenCV's
// `cv2.resize(..., interpolation=cv2.INTER_LINEAR)` on uint8 bit for bit.
import GPUInfer

/// An 8-bit RGB image: `height` rows of `width` interleaved RGB triples, row-major, no padding.
public struct Image: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `width * height * 3` bytes: R, G, B of pixel (0,0), then (1,0), ...
    public let pixels: [UInt8]

    /// An image from interleaved RGB bytes; throws `invalidInput` when the sizes do not fit.
    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        let (area, overflow) = width.multipliedReportingOverflow(by: height)
        guard width > 0, height > 0, !overflow, area <= Int.max / 3, pixels.count == area * 3 else {
            throw GPUInferError.invalidInput("Image: \(pixels.count) bytes do not hold \(width)×\(height) RGB pixels")
        }
        self.init(unchecked: width, height, pixels)
    }

    init(unchecked width: Int, _ height: Int, _ pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Channel `c` (0 = R, 1 = G, 2 = B) of the pixel in column `x`, row `y`.
    @inlinable public subscript(x: Int, y: Int, c: Int) -> UInt8 { pixels[(y * width + x) * 3 + c] }

    /// The image as EXIF orientation `orientation` (1...8) says to display it: 2 mirror, 3 rotate
    /// 180°, 4 flip vertically, 5 transpose, 6 rotate 90° clockwise, 7 transverse, 8 rotate 90°
    /// counter-clockwise (the same as Pillow's `ImageOps.exif_transpose`). Other values: unchanged.
    public func oriented(_ orientation: Int) -> Image {
        guard (2...8).contains(orientation) else { return self }
        let (w, h) = (width, height)
        let swaps = orientation >= 5
        let (ow, oh) = swaps ? (h, w) : (w, h)
        var out = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let (sx, sy): (Int, Int)
                        switch orientation {
                        case 2: (sx, sy) = (w - 1 - ox, oy)
                        case 3: (sx, sy) = (w - 1 - ox, h - 1 - oy)
                        case 4: (sx, sy) = (ox, h - 1 - oy)
                        case 5: (sx, sy) = (oy, ox)
                        case 6: (sx, sy) = (oy, h - 1 - ox)
                        case 7: (sx, sy) = (w - 1 - oy, h - 1 - ox)
                        default: (sx, sy) = (w - 1 - oy, ox)
                        }
                        let s = (sy * w + sx) * 3, d = (oy * ow + ox) * 3
                        dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return Image(unchecked: ow, oh, out)
    }

    /// The image resized to `width`×`height` by bilinear interpolation, aspect ratio not kept.
    ///
    /// This is OpenCV's `INTER_LINEAR` for `uint8`, reproduced exactly: half-pixel centres
    /// (`src = (dst + 0.5)·(inSize/outSize) − 0.5`, computed in double and rounded to float),
    /// coordinates clamped at the borders, 11-bit fixed-point weights (rounded to nearest even),
    /// a horizontal pass into 32-bit sums and a vertical pass with OpenCV's
    /// `((b0·(S0>>4))>>16 + (b1·(S1>>4))>>16 + 2)>>2` rounding. No antialiasing on downscales:
    /// each output pixel reads at most 2×2 input pixels, as in OpenCV.
    public func resized(width: Int, height: Int) throws -> Image {
        guard width > 0, height > 0, width <= 1 << 16, height <= 1 << 16 else {
            throw GPUInferError.invalidInput("cannot resize an image to \(width)×\(height)")
        }
        return resizedUnchecked(width, height)
    }

    /// `resized` for sizes already checked to be positive.
    func resizedUnchecked(_ dw: Int, _ dh: Int) -> Image {
        if dw == width && dh == height { return self }
        let xs = Self.linearTaps(source: width, destination: dw, clampWeights: true)
        let ys = Self.linearTaps(source: height, destination: dh, clampWeights: false)
        let rowLength = dw * 3
        var out = [UInt8](repeating: 0, count: dh * rowLength)
        // Horizontally resized source rows (32-bit sums), cached in two slots as OpenCV does.
        var rows = [[Int32]](repeating: [Int32](repeating: 0, count: rowLength), count: 2)
        var cached = [-1, -1]
        pixels.withUnsafeBufferPointer { src in
            func horizontal(_ sy: Int, into row: inout [Int32]) {
                row.withUnsafeMutableBufferPointer { r in
                    let base = sy * width * 3
                    for dx in 0..<dw {
                        let s0 = base + xs.index0[dx] * 3, s1 = base + xs.index1[dx] * 3
                        let a0 = xs.weight0[dx], a1 = xs.weight1[dx]
                        for c in 0..<3 {
                            r[dx * 3 + c] = Int32(src[s0 + c]) &* a0 &+ Int32(src[s1 + c]) &* a1
                        }
                    }
                }
            }
            /// The cache slot holding source row `r`, filling one that does not hold row `keep`.
            func slot(_ r: Int, keep: Int) -> Int {
                if let i = cached.firstIndex(of: r) { return i }
                let i = cached[0] == keep ? 1 : 0
                horizontal(r, into: &rows[i])
                cached[i] = r
                return i
            }
            for dy in 0..<dh {
                let r0 = ys.index0[dy], r1 = ys.index1[dy]
                let i0 = slot(r0, keep: r1), i1 = slot(r1, keep: r0)
                let b0 = ys.weight0[dy], b1 = ys.weight1[dy]
                rows[i0].withUnsafeBufferPointer { s0 in
                    rows[i1].withUnsafeBufferPointer { s1 in
                        out.withUnsafeMutableBufferPointer { o in
                            let base = dy * rowLength
                            for i in 0..<rowLength {
                                let v = ((b0 &* (s0[i] >> 4)) >> 16) &+ ((b1 &* (s1[i] >> 4)) >> 16) &+ 2
                                o[base + i] = UInt8(clamping: v >> 2)
                            }
                        }
                    }
                }
            }
        }
        return Image(unchecked: dw, dh, out)
    }

    /// Per output coordinate: the two source indices and their 11-bit weights (sum 2048).
    /// OpenCV clamps the weights at the borders for x (fx = 0) but only the row indices for y
    /// (`clampWeights: false`), which can give weights summing to 2047 or 2049 there; kept as is.
    struct LinearTaps {
        var index0: [Int], index1: [Int], weight0: [Int32], weight1: [Int32]
    }

    static func linearTaps(source: Int, destination: Int, clampWeights: Bool) -> LinearTaps {
        var t = LinearTaps(index0: [], index1: [], weight0: [], weight1: [])
        let scale = 1.0 / (Double(destination) / Double(source))
        for d in 0..<destination {
            var f = Float((Double(d) + 0.5) * scale - 0.5)
            var s = Int(f.rounded(.down))
            f -= Float(s)
            if clampWeights {
                if s < 0 { (f, s) = (0, 0) }
                if s >= source - 1 { (f, s) = (0, source - 1) }
            }
            t.index0.append(min(max(s, 0), source - 1))
            t.index1.append(min(max(s + 1, 0), source - 1))
            t.weight0.append(Int32(((1 - f) * 2048).rounded(.toNearestOrEven)))
            t.weight1.append(Int32((f * 2048).rounded(.toNearestOrEven)))
        }
        return t
    }
}
