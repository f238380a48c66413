// A model's input preprocessing (size, resize method, channel order, scale, mean, std), read from
// the ONNX metadata_props, turning decoded images into an NCHW float32 batch tensor.
import GPUInfer
import Foundation

/// How images become a model's input tensor: resize to `width`×`height` (bilinear, aspect ratio
/// not kept) — or, with `resizeShort` S, resize so the short side is S (aspect ratio kept, the long
/// side `Int(S·long/short)` as torchvision's `Resize(S)`) and take the center `width`×`height` crop
/// (offsets `round((size − crop)/2)`, half to even, as torchvision's `CenterCrop`) — then reorder
/// channels to `channelOrder`, then per channel `((pixel · scale) − mean) / std`, laid out as NCHW
/// float32 `[N, 3, height, width]`.
///
/// A model carries it in its ONNX `metadata_props` (string values), read by `init(metadata:)`:
///
/// | key | value | default |
/// |---|---|---|
/// | `gpuinfer.input_width` | input width in pixels (integer) | required |
/// | `gpuinfer.input_height` | input height in pixels (integer) | required |
/// | `gpuinfer.resize` | `bilinear` (OpenCV `INTER_LINEAR`, half-pixel centres) | `bilinear` |
/// | `gpuinfer.resize_short` | short side S before a center crop to the input size (integer ≥ width, height) | absent: no crop |
/// | `gpuinfer.channel_order` | `RGB` or `BGR`: the order of the tensor's 3 channels | `RGB` |
/// | `gpuinfer.scale` | a float applied to the 0…255 pixel values first, e.g. `1` or `0.00392156862745098` | `1` |
/// | `gpuinfer.mean` | 1 or 3 comma-separated floats, subtracted after scaling, in the tensor's channel order | `0` |
/// | `gpuinfer.std` | 1 or 3 comma-separated floats, divided by last, in the tensor's channel order | `1` |
/// | `gpuinfer.size_mode` | `fixed` (resize to width×height) or `short_side` (see below) | `fixed` |
/// | `gpuinfer.short_side` | `short_side` mode: the target short side in pixels | required there |
/// | `gpuinfer.size_multiple` | `short_side` mode: both sides are floored to a multiple of this (at least one multiple) | `1` |
/// | `gpuinfer.max_aspect` | `short_side` mode: if long/short exceeds it, the short side becomes `int(short_side·max_aspect/ratio)`; `0` = no limit | `0` |
///
/// `short_side` mode (the GLDv2 retrieval models' `infer_retrieval.py`): each image gets its own
/// input size, aspect ratio kept, no crop: `scale = S / min(h, w)`, `W' = round(w·scale)`,
/// `H' = round(h·scale)` (Python round: half to even), then `max(m, W' / m · m)` and likewise for H'.
/// `gpuinfer.resize` may also be `lanczos4` (OpenCV `INTER_LANCZOS4`, `Image.resizedLanczos4`).
/// In that mode `input_width`/`input_height` are optional (nominal sizes for tools).
///
/// NetVLAD subtracts its mean inside the graph, so its metadata says width 300, height 200,
/// `RGB`, scale 1, mean 0 (and std 1): the tensor holds the resized 0…255 RGB values.
public struct Preprocessing: Sendable, Equatable {
    /// Channel order of the model's input tensor.
    public enum ChannelOrder: String, Sendable { case rgb = "RGB", bgr = "BGR" }
    /// How images are brought to the input size.
    public enum ResizeMethod: String, Sendable { case bilinear, lanczos4 }
    /// How the input size follows from an image's size.
    public enum SizeMode: Sendable, Equatable {
        /// Every image is resized to `width`×`height`.
        case fixed
        /// Short side `shortSide`, aspect kept, sides floored to a multiple of `multiple`; when
        /// long/short > `maxAspect` (> 0) the short side shrinks to `Int(shortSide·maxAspect/ratio)`.
        case shortSide(Int, multiple: Int, maxAspect: Double)
    }

    /// The metadata keys read by `init(metadata:)`.
    public enum Key {
        public static let width = "gpuinfer.input_width", height = "gpuinfer.input_height"
        public static let resize = "gpuinfer.resize", channelOrder = "gpuinfer.channel_order"
        public static let scale = "gpuinfer.scale", mean = "gpuinfer.mean", std = "gpuinfer.std"
        public static let resizeShort = "gpuinfer.resize_short"
        public static let sizeMode = "gpuinfer.size_mode", shortSide = "gpuinfer.short_side"
        public static let sizeMultiple = "gpuinfer.size_multiple", maxAspect = "gpuinfer.max_aspect"
    }

    /// Fixed size or per-image short-side size.
    public let sizeMode: SizeMode

    public let width: Int
    public let height: Int
    public let resize: ResizeMethod
    /// Short side to resize to before the center crop; nil: resize straight to the input size.
    public let resizeShort: Int?
    public let channelOrder: ChannelOrder
    public let scale: Float
    /// Three values, in `channelOrder`.
    public let mean: [Float]
    /// Three values, in `channelOrder`.
    public let std: [Float]

    /// `mean` and `std` take 1 value (all channels) or 3 (in `channelOrder`); throws
    /// `invalidInput` for a size outside 1…65536, a non-finite scale or mean, or a zero std.
    public init(width: Int, height: Int, channelOrder: ChannelOrder = .rgb, scale: Float = 1,
                mean: [Float] = [0], std: [Float] = [1], resize: ResizeMethod = .bilinear, resizeShort: Int? = nil,
                sizeMode: SizeMode = .fixed) throws {
        func fail(_ reason: String) -> GPUInferError { .invalidInput("preprocessing: \(reason)") }
        guard (1...65536).contains(width), (1...65536).contains(height) else { throw fail("input size \(width)×\(height)") }
        if let resizeShort, !(max(width, height)...65536).contains(resizeShort) {
            throw fail("short side \(resizeShort) cannot hold a \(width)×\(height) center crop")
        }
        if case let .shortSide(side, multiple, maxAspect) = sizeMode {
            guard (1...65536).contains(side), (1...65536).contains(multiple), maxAspect.isFinite, maxAspect >= 0 else {
                throw fail("short side \(side), multiple \(multiple), max aspect \(maxAspect)")
            }
            guard resizeShort == nil else { throw fail("a center crop (resize_short) needs the fixed size mode") }
        }
        self.sizeMode = sizeMode
        guard scale.isFinite else { throw fail("scale \(scale)") }
        guard mean.count == 1 || mean.count == 3, mean.allSatisfy(\.isFinite) else { throw fail("mean \(mean) (want 1 or 3 finite values)") }
        guard std.count == 1 || std.count == 3, std.allSatisfy({ $0.isFinite && $0 != 0 }) else {
            throw fail("std \(std) (want 1 or 3 finite non-zero values)")
        }
        self.width = width
        self.height = height
        self.channelOrder = channelOrder
        self.scale = scale
        self.mean = mean.count == 3 ? mean : Array(repeating: mean[0], count: 3)
        self.std = std.count == 3 ? std : Array(repeating: std[0], count: 3)
        self.resize = resize
        self.resizeShort = resizeShort
    }

    /// Reads the `gpuinfer.*` keys (see the table above) from a model's `metadata_props`;
    /// throws `invalidModel` naming the key when one is missing or malformed.
    public init(metadata: [String: String]) throws {
        func fail(_ key: String, _ reason: String) -> GPUInferError {
            .invalidModel(location: "metadata_props[\(key)]", reason: reason)
        }
        func text(_ key: String) -> String? { metadata[key]?.trimmingCharacters(in: .whitespaces) }
        func int(_ key: String) throws -> Int {
            guard let t = text(key) else { throw fail(key, "missing: the model does not say its input image size") }
            guard let v = Int(t), (1...65536).contains(v) else { throw fail(key, "'\(t)' is not a size in pixels") }
            return v
        }
        func floats(_ key: String, _ fallback: [Float]) throws -> [Float] {
            guard let t = text(key) else { return fallback }
            let parts = t.split(separator: ",", omittingEmptySubsequences: false)
            let values = parts.compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard values.count == parts.count, values.count == 1 || values.count == 3, values.allSatisfy(\.isFinite) else {
                throw fail(key, "'\(t)' is not 1 or 3 comma-separated numbers")
            }
            return values
        }
        let resizeText = text(Key.resize) ?? "bilinear"
        guard let resize = ResizeMethod(rawValue: resizeText.lowercased()) else {
            throw fail(Key.resize, "'\(resizeText)' is not supported (bilinear or lanczos4)")
        }
        let orderText = text(Key.channelOrder) ?? "RGB"
        guard let order = ChannelOrder(rawValue: orderText.uppercased()) else {
            throw fail(Key.channelOrder, "'\(orderText)' is neither RGB nor BGR")
        }
        let scale = try floats(Key.scale, [1])
        guard scale.count == 1 else { throw fail(Key.scale, "want one number") }
        let std = try floats(Key.std, [1])
        guard !std.contains(0) else { throw fail(Key.std, "a standard deviation of 0") }
        var mode = SizeMode.fixed
        switch (text(Key.sizeMode) ?? "fixed").lowercased() {
        case "fixed", "": break
        case "short_side":
            let multiple = text(Key.sizeMultiple) == nil ? 1 : try int(Key.sizeMultiple)
            let aspectText = text(Key.maxAspect) ?? "0"
            guard let aspect = Double(aspectText), aspect.isFinite, aspect >= 0 else { throw fail(Key.maxAspect, "'\(aspectText)' is not a ratio ≥ 0") }
            mode = .shortSide(try int(Key.shortSide), multiple: multiple, maxAspect: aspect)
        case let other: throw fail(Key.sizeMode, "'\(other)' is neither fixed nor short_side")
        }
        let fixed = mode == .fixed
        let nominal: Int? = { if case let .shortSide(s, m, _) = mode { return max(m, s / m * m) } else { return nil } }()
        let width = fixed || text(Key.width) != nil ? try int(Key.width) : nominal ?? 1
        let height = fixed || text(Key.height) != nil ? try int(Key.height) : nominal ?? 1
        var short: Int?
        if text(Key.resizeShort) != nil {
            guard fixed else { throw fail(Key.resizeShort, "a center crop needs gpuinfer.size_mode fixed") }
            short = try int(Key.resizeShort)
            guard let short, short >= max(width, height) else {
                throw fail(Key.resizeShort, "\(short ?? 0) is smaller than the \(width)×\(height) crop")
            }
        }
        try self.init(width: width, height: height, channelOrder: order, scale: scale[0], mean: try floats(Key.mean, [0]),
                      std: std, resize: resize, resizeShort: short, sizeMode: mode)
    }

    /// The same settings as `metadata_props` entries (what an exporter writes).
    public var metadata: [String: String] {
        func list(_ v: [Float]) -> String { v.map { "\($0)" }.joined(separator: ",") }
        var m = [Key.width: "\(width)", Key.height: "\(height)", Key.resize: resize.rawValue,
                 Key.channelOrder: channelOrder.rawValue, Key.scale: "\(scale)", Key.mean: list(mean), Key.std: list(std)]
        if let resizeShort { m[Key.resizeShort] = "\(resizeShort)" }
        if case let .shortSide(side, multiple, maxAspect) = sizeMode {
            m[Key.sizeMode] = "short_side"
            m[Key.shortSide] = "\(side)"
            m[Key.sizeMultiple] = "\(multiple)"
            m[Key.maxAspect] = "\(maxAspect)"
        }
        return m
    }

    private func resized(_ image: Image, _ w: Int, _ h: Int) -> Image {
        resize == .lanczos4 ? image.resizedLanczos4Unchecked(w, h) : image.resizedUnchecked(w, h)
    }

    /// The resized image and the top-left corner of the `width`×`height` region to read from it.
    func fitted(_ image: Image, width: Int, height: Int) -> (image: Image, x: Int, y: Int) {
        guard let s = resizeShort else { return (resized(image, width, height), 0, 0) }
        let (w, h) = (image.width, image.height)
        let (nw, nh) = h <= w ? (max(s, Int(Double(s) * Double(w) / Double(h))), s) : (s, max(s, Int(Double(s) * Double(h) / Double(w))))
        func offset(_ size: Int, _ crop: Int) -> Int { Int((Double(size - crop) / 2).rounded(.toNearestOrEven)) }
        return (resized(image, nw, nh), offset(nw, width), offset(nh, height))
    }

    /// The model input size (width, height) for an image of `imageWidth`×`imageHeight`: the fixed
    /// size, or the short-side rule (see the type's documentation).
    public func inputSize(imageWidth w: Int, imageHeight h: Int) -> (width: Int, height: Int) {
        guard case let .shortSide(side, multiple, maxAspect) = sizeMode, w > 0, h > 0 else { return (width, height) }
        var size = Double(side)
        let ratio = Double(max(w, h)) / Double(min(w, h))
        if maxAspect > 0, ratio > maxAspect { size = Double(Int(size * maxAspect / ratio)) }
        let scale = size / Double(min(w, h))
        let tw = Int((Double(w) * scale).rounded(.toNearestOrEven)), th = Int((Double(h) * scale).rounded(.toNearestOrEven))
        return (min(65536, max(multiple, tw / multiple * multiple)), min(65536, max(multiple, th / multiple * multiple)))
    }

    /// The images as one NCHW float32 batch `[images.count, 3, H, W]`; each image is resized
    /// first when its size differs. (H, W) is the fixed size, or in short-side mode the size of
    /// the FIRST image (batch images of one input size together; `ImageModel.embed` does).
    public func tensor(_ images: [Image]) -> Tensor {
        let (width, height) = batchInputSize(images)
        return tensor(fitted: images.map { fitted($0, width: width, height: height) }, width: width, height: height)
    }

    /// The input size of a batch that starts with `images.first` (see `tensor(_:)`).
    func batchInputSize(_ images: [Image]) -> (width: Int, height: Int) {
        images.first.map { inputSize(imageWidth: $0.width, imageHeight: $0.height) } ?? (self.width, self.height)
    }

    /// The batch tensor of images already brought to size by `fitted(_:width:height:)` (the
    /// expensive, per-image part, which `ImageBatchPipeline` runs on several threads).
    func tensor(fitted images: [(image: Image, x: Int, y: Int)], width: Int, height: Int) -> Tensor {
        let plane = width * height
        var out = [Float](repeating: 0, count: images.count * 3 * plane)
        let source = channelOrder == .rgb ? [0, 1, 2] : [2, 1, 0]
        out.withUnsafeMutableBufferPointer { dst in
            for (n, (image, x0, y0)) in images.enumerated() {
                image.pixels.withUnsafeBufferPointer { px in
                    for c in 0..<3 {
                        let (s, m, sd, base) = (source[c], mean[c], std[c], (n * 3 + c) * plane)
                        for y in 0..<height {
                            let row = ((y0 + y) * image.width + x0) * 3
                            for x in 0..<width {
                                dst[base + y * width + x] = (Float(px[row + 3 * x + s]) * scale - m) / sd
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: [images.count, 3, height, width], floats: out)
    }
}
