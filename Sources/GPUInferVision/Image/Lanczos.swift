// Lanczos-4 resizing that follows OpenCV's `cv2.resize(..., interpolation=cv2.INTER_LANCZOS4)` on
// uint8: the recipe resize of the GLDv2 retrieval models (MODELS.md §2, infer_retrieval.py).
import GPUInfer
import Foundation

extension Image {
    /// The image resized to `width`×`height` with an 8×8 Lanczos window (a = 4), aspect ratio
    /// not kept, as OpenCV's `INTER_LANCZOS4` for `uint8`: half-pixel centres
    /// (`src = (dst + 0.5)·(inSize/outSize) − 0.5` in double, rounded to float), taps
    /// `floor(src) − 3 … floor(src) + 4` clamped to the border (replicate), coefficients
    /// normalized to sum 1 then rounded to 11-bit fixed point, a horizontal pass into 32-bit sums
    /// and a vertical pass rounded with `(v + 2²¹) >> 22` and saturated to 0…255. No
    /// antialiasing on downscales (each output reads 8×8 inputs), as in OpenCV.
    public func resizedLanczos4(width dw: Int, height dh: Int) throws -> Image {
        guard dw > 0, dh > 0, dw <= 1 << 16, dh <= 1 << 16 else {
            throw GPUInferError.invalidInput("cannot resize an image to \(dw)×\(dh)")
        }
        return resizedLanczos4Unchecked(dw, dh)
    }

    func resizedLanczos4Unchecked(_ dw: Int, _ dh: Int) -> Image {
        if dw == width && dh == height { return self }
        let xs = Self.lanczosTaps(source: width, destination: dw)
        let ys = Self.lanczosTaps(source: height, destination: dh)
        let rowLength = dw * 3
        // Horizontally filtered source rows, computed once each (a full intermediate image).
        var rows = [Int32](repeating: 0, count: height * rowLength)
        pixels.withUnsafeBufferPointer { src in
            rows.withUnsafeMutableBufferPointer { r in
                for sy in 0..<height {
                    let base = sy * width * 3, out = sy * rowLength
                    for dx in 0..<dw {
                        for c in 0..<3 {
                            var sum: Int32 = 0
                            for k in 0..<8 {
                                sum &+= Int32(src[base + xs.index[dx * 8 + k] * 3 + c]) &* xs.weight[dx * 8 + k]
                            }
                            r[out + dx * 3 + c] = sum
                        }
                    }
                }
            }
        }
        var out = [UInt8](repeating: 0, count: dh * rowLength)
        rows.withUnsafeBufferPointer { r in
            out.withUnsafeMutableBufferPointer { o in
                for dy in 0..<dh {
                    for i in 0..<rowLength {
                        var v: Int64 = 0
                        for k in 0..<8 { v += Int64(ys.weight[dy * 8 + k]) * Int64(r[ys.index[dy * 8 + k] * rowLength + i]) }
                        o[dy * rowLength + i] = UInt8(clamping: (v + (1 << 21)) >> 22)
                    }
                }
            }
        }
        return Image(unchecked: dw, dh, out)
    }

    /// Per output coordinate, 8 source indices (clamped) and 11-bit weights.
    struct LanczosTaps { var index: [Int], weight: [Int32] }

    static func lanczosTaps(source: Int, destination: Int) -> LanczosTaps {
        var t = LanczosTaps(index: [], weight: [])
        t.index.reserveCapacity(destination * 8)
        t.weight.reserveCapacity(destination * 8)
        let scale = 1.0 / (Double(destination) / Double(source))
        for d in 0..<destination {
            var f = Float((Double(d) + 0.5) * scale - 0.5)
            let s = Int(f.rounded(.down))
            f -= Float(s)
            let coeffs = lanczos4Coefficients(f)
            for k in 0..<8 {
                t.index.append(min(max(s + k - 3, 0), source - 1))
                t.weight.append(Int32(clamping: Int((coeffs[k] * 2048).rounded(.toNearestOrEven))))
            }
        }
        return t
    }

    /// OpenCV's `interpolateLanczos4`: sin(πy/4)·sin(πy)/(π²y²/4) for the 8 taps at distances
    /// x + 3 … x − 4, computed through one sine/cosine pair and the angle-addition table, in
    /// double, normalized to sum 1 in float.
    static func lanczos4Coefficients(_ x: Float) -> [Float] {
        if x < Float.ulpOfOne {
            var c = [Float](repeating: 0, count: 8)
            c[3] = 1
            return c
        }
        let s45 = 0.70710678118654752440084436210485
        let cs: [(Double, Double)] = [(1, 0), (-s45, -s45), (0, 1), (s45, -s45), (-1, 0), (s45, s45), (0, -1), (-s45, s45)]
        let y0 = -(Double(x) + 3) * Double.pi * 0.25
        let s0 = sin(y0), c0 = cos(y0)
        var coeffs = [Float](repeating: 0, count: 8)
        var sum: Float = 0
        for i in 0..<8 {
            let y = -(Double(x) + 3 - Double(i)) * Double.pi * 0.25
            coeffs[i] = Float((cs[i].0 * s0 + cs[i].1 * c0) / (y * y))
            sum += coeffs[i]
        }
        let inv = 1 / sum
        return coeffs.map { $0 * inv }
    }
}
