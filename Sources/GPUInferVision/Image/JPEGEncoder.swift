// JPEG encoding of RGB images with TurboJPEG (tjCompress2).
import GPUInfer
import CTurboJPEG
import Foundation

public enum JPEGEncoder {
    /// The image as a baseline JPEG (4:2:0 chroma subsampling, accurate DCT), `quality` 1…100.
    public static func encode(_ image: Image, quality: Int = 90) throws -> Data {
        func fail(_ reason: String) -> GPUInferError { .invalidImage(path: "<JPEG encoder>", reason: reason) }
        guard (1...100).contains(quality) else { throw GPUInferError.invalidInput("JPEG quality must be in 1…100, got \(quality)") }
        guard let w = Int32(exactly: image.width), let h = Int32(exactly: image.height) else {
            throw fail("\(image.width)×\(image.height) is too large for TurboJPEG")
        }
        guard let handle = tjInitCompress() else { throw fail("cannot start the TurboJPEG compressor") }
        defer { tjDestroy(handle) }
        var out: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = image.pixels.withUnsafeBufferPointer { src in
            tjCompress2(handle, src.baseAddress, w, 0, h, Int32(TJPF_RGB.rawValue), &out, &size, Int32(TJSAMP_420.rawValue),
                        Int32(quality), TJFLAG_ACCURATEDCT)
        }
        defer { if let out { tjFree(out) } }
        guard status == 0, let out else { throw fail("cannot encode JPEG: \(String(cString: tjGetErrorStr2(handle)))") }
        return Data(bytes: out, count: Int(size))
    }

    /// Encodes `image` and writes it to `path`.
    public static func write(_ image: Image, path: String, quality: Int = 90) throws {
        let data = try encode(image, quality: quality)
        do { try data.write(to: URL(fileURLWithPath: path)) } catch {
            throw GPUInferError.io(path: path, reason: "cannot write: \(FileSystemErrors.reason(error))")
        }
    }
}
