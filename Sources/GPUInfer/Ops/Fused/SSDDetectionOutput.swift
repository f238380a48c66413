// ai.gpuinfer::SSDDetectionOutput: SSD box decoding, sigmoid scores, per-class NMS, class merge and
// top-k as one fused node (Kernels/ssd_detection.cl); Models/ssdlite.py defines the same function
// in standard ONNX ops (with NonMaxSuppression), which runs when fused kernels are disabled.
import Foundation

/// The fused SSD detection output (MODELS.md §4; TF OD API `faster_rcnn_box_coder`,
/// `multiclass_non_max_suppression`, in the ONNX form of Models/ssdlite.py).
///
/// Inputs: box_encodings `[N,A,4]` = (ty, tx, th, tw), class_logits `[N,A,C+1]` (column 0 =
/// background, dropped), anchors `[A,4]` = (y_center, x_center, h, w). Output `[N,1,K,7]` rows
/// `[image_id, label, conf, x_min, y_min, x_max, y_max]`, K = max_total_detections.
///
/// 1. decode: `yc = ty/y_scale·ha + ya`, `xc = tx/x_scale·wa + xa`, `h = exp(th/h_scale)·ha`,
///    `w = exp(tw/w_scale)·wa`, box `[yc−h/2, xc−w/2, yc+h/2, xc+w/2]` (not clipped for NMS);
/// 2. per class c = 1…C: `score = sigmoid(logit)`, candidates `score > score_threshold`, sorted by
///    descending score (equal scores: lower anchor first);
/// 3. greedy NMS per class with onnxruntime's `SuppressByIOU` (IoU > iou_threshold), at most
///    max_detections_per_class kept;
/// 4. all classes merged, ordered by descending score, equal scores by `(c−1)·A + anchor`
///    (onnxruntime's TopK order in the function body), the first K written with label c and the
///    box clipped to [0,1]; rows after the last detection are `[−1,0,0,0,0,0,0]`.
/// On the device only the `[N,1,K,7]` result is written; everything else stays in scratch buffers.
struct SSDDetectionOutput: Operator {
    static let domain = "ai.gpuinfer"
    static let opTypes = ["SSDDetectionOutput"]
    let scales: [Float]
    let scoreThreshold: Float, iouThreshold: Float
    let maxPerClass: Int, maxTotal: Int
    let label: String

    init(node: Node, opset: Int) throws {
        var s: [Float] = []
        for (name, def) in [("y_scale", Float(10)), ("x_scale", 10), ("h_scale", 5), ("w_scale", 5)] {
            let v = try node.float(name, default: def)
            guard v > 0, v.isFinite else { throw node.attributeError(name, "must be a finite value > 0, got \(v)") }
            s.append(v)
        }
        scales = s
        scoreThreshold = try node.float("score_threshold", default: 0.3)
        guard !scoreThreshold.isNaN else { throw node.attributeError("score_threshold", "must be a number") }
        iouThreshold = try node.float("iou_threshold", default: 0.6)
        guard iouThreshold >= 0, iouThreshold <= 1 else { throw node.attributeError("iou_threshold", "must be in [0, 1], got \(iouThreshold)") }
        maxPerClass = try node.int("max_detections_per_class", default: 100)
        maxTotal = try node.int("max_total_detections", default: 100)
        guard maxPerClass >= 0 else { throw node.attributeError("max_detections_per_class", "must be ≥ 0, got \(maxPerClass)") }
        guard maxTotal >= 0 else { throw node.attributeError("max_total_detections", "must be ≥ 0, got \(maxTotal)") }
        label = node.label
    }

    /// Batch, anchors, foreground classes, boxes kept per class.
    struct Dims {
        var n: Int, a: Int, c: Int, keep: Int
    }

    func dims(_ s: [[Int]]) throws -> Dims {
        func fail(_ reason: String) -> GPUInferError { .shapeMismatch(node: label, op: "SSDDetectionOutput", reason: reason) }
        let (b, l, anc) = (s[0], s[1], s[2])
        guard b.count == 3, b[2] == 4 else { throw fail("box_encodings \(b) must be [N, A, 4]") }
        guard l.count == 3, l[0] == b[0], l[1] == b[1], l[2] >= 2 else {
            throw fail("class_logits \(l) must be [N, A, C+1] = [\(b[0]), \(b[1]), ≥ 2]")
        }
        guard anc == [b[1], 4] else { throw fail("anchors \(anc) must be [A, 4] = [\(b[1]), 4]") }
        let c = l[2] - 1
        guard maxTotal <= c * b[1] else {
            throw fail("max_total_detections \(maxTotal) exceeds classes × anchors = \(c * b[1]) (the function body's TopK needs k ≤ that)")
        }
        return Dims(n: b[0], a: b[1], c: c, keep: min(maxPerClass, b[1]))
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let types: [TensorType] = try (0..<3).map { try inputs.required($0, "SSDDetectionOutput") }
        try requireFloat(types, label)
        let d = try dims(types.map(\.shape))
        return [TensorType(.float32, [d.n, 1, maxTotal, 7])]
    }

    static func sigmoid(_ x: Float) -> Float { 1 / (1 + Foundation.exp(-x)) }

    /// A logit below which sigmoid(x) > `threshold` cannot hold (ssd_filter skips the exp there):
    /// logit(t) − 0.01. Near the threshold the sigmoid's slope t(1 − t) turns that margin into a
    /// score gap of about 0.01·t(1 − t), many orders above the few ulp of fp32's exp, so no anchor
    /// the reference keeps is skipped; −∞ for t ≤ 0 (every logit but NaN may pass), +∞ for t ≥ 1
    /// (no score exceeds 1). NaN logits fail both tests, as the reference's NaN score does.
    static func logitFloor(_ threshold: Float) -> Float {
        guard threshold > 0 else { return -.infinity }
        guard threshold < 1 else { return .infinity }
        let t = Double(threshold)
        return Float(Foundation.log(t / (1 - t)) - 0.01)
    }

    /// Decoded corners (y_min, x_min, y_max, x_max) of anchor i of image n.
    func decode(_ e: [Float], _ anc: [Float], _ idx: Int, _ i: Int) -> [Float] {
        let (ty, tx, th, tw) = (e[idx * 4], e[idx * 4 + 1], e[idx * 4 + 2], e[idx * 4 + 3])
        let (ya, xa, ha, wa) = (anc[i * 4], anc[i * 4 + 1], anc[i * 4 + 2], anc[i * 4 + 3])
        let yc = (ty / scales[0]) * ha + ya, xc = (tx / scales[1]) * wa + xa
        let h = Foundation.exp(th / scales[2]) * ha, w = Foundation.exp(tw / scales[3]) * wa
        let hh = h / 2, hw = w / 2
        return [yc - hh, xc - hw, yc + hh, xc + hw]
    }

    /// The oracle: the steps above in plain loops.
    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let t: [Tensor] = try (0..<3).map { try inputs.required($0, "SSDDetectionOutput") }
        let d = try dims(t.map(\.shape))
        let (enc, logits, anc) = (t[0].floats, t[1].floats, t[2].floats)
        var out = [Float](repeating: 0, count: d.n * maxTotal * 7)
        for n in 0..<d.n {
            let boxes = (0..<d.a).map { decode(enc, anc, n * d.a + $0, $0) }
            let corners = boxes.map { b in (min(b[1], b[3]), min(b[0], b[2]), max(b[1], b[3]), max(b[0], b[2])) }
            var kept: [(score: Float, order: Int, c: Int, i: Int)] = []
            for c in 0..<d.c {
                var cand: [(Float, Int)] = []
                for i in 0..<d.a {
                    let s = Self.sigmoid(logits[(n * d.a + i) * (d.c + 1) + c + 1])
                    if s > scoreThreshold { cand.append((s, i)) }
                }
                cand.sort { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
                var sel: [Int] = []
                for (s, i) in cand where sel.count < d.keep {
                    if !sel.contains(where: { NonMaxSuppression.suppresses(corners[$0], corners[i], iouThreshold) }) {
                        sel.append(i)
                        kept.append((s, c * d.a + i, c, i))
                    }
                }
            }
            kept.sort { $0.score > $1.score || ($0.score == $1.score && $0.order < $1.order) }
            for r in 0..<maxTotal {
                let o = (n * maxTotal + r) * 7
                guard r < kept.count else { out[o] = -1; continue }
                let k = kept[r], b = boxes[k.i]
                func clip(_ v: Float) -> Float { min(max(v, 0), 1) }
                out.replaceSubrange(o..<(o + 7), with: [Float(n), Float(k.c + 1), k.score, clip(b[1]), clip(b[0]), clip(b[3]), clip(b[2])])
            }
        }
        return [Tensor(shape: [d.n, 1, maxTotal, 7], floats: out)]
    }

    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let v: [DeviceValue] = try (0..<3).map { try inputs.required($0, "SSDDetectionOutput") }
        let d = try dims(v.map(\.type.shape))
        guard d.n > 0, maxTotal > 0 else { return }
        let groups = d.n * d.c
        for count in [groups * d.a, d.n * d.a * (d.c + 1), d.n * maxTotal * 7] where count > Int(Int32.max) {
            throw ctx.error("\(count) elements exceed the 32-bit index range of the SSD detection kernels")
        }
        let keep = max(d.keep, 1)
        let boxes = try ctx.scratch(bytes: d.n * d.a * 16)
        let candIdx = try ctx.scratch(bytes: groups * d.a * 4), candScore = try ctx.scratch(bytes: groups * d.a * 4)
        let sortIdx = try ctx.scratch(bytes: groups * d.a * 4), sortScore = try ctx.scratch(bytes: groups * d.a * 4)
        let candCount = try ctx.scratch(bytes: groups * 4)
        let keptIdx = try ctx.scratch(bytes: groups * keep * 4), keptScore = try ctx.scratch(bytes: groups * keep * 4)
        let keptCount = try ctx.scratch(bytes: groups * 4)
        func kernel(_ name: String) throws -> CLKernel { try ctx.kernel(name, file: "ssd_detection") }
        try ctx.launch1D(try kernel("ssd_decode"),
                         [.value(v[0]), .value(v[2]), .buffer(boxes), .int(d.n * d.a), .int(d.a),
                          .float(scales[0]), .float(scales[1]), .float(scales[2]), .float(scales[3])], count: d.n * d.a)
        try ctx.launch1D(try kernel("ssd_filter"),
                         [.value(v[1]), .buffer(candIdx), .buffer(candScore), .buffer(candCount), .int(groups), .int(d.c), .int(d.a),
                          .float(scoreThreshold), .float(Self.logitFloor(scoreThreshold))], count: groups)
        try ctx.launch1D(try kernel("ssd_sort"),
                         [.buffer(candIdx), .buffer(candScore), .buffer(candCount), .buffer(sortIdx), .buffer(sortScore),
                          .int(groups * d.a), .int(d.a)], count: groups * d.a)
        try ctx.launch1D(try kernel("ssd_nms"),
                         [.buffer(boxes), .buffer(sortIdx), .buffer(sortScore), .buffer(candCount), .buffer(keptIdx), .buffer(keptScore),
                          .buffer(keptCount), .int(groups), .int(d.c), .int(d.a), .int(d.keep), .float(iouThreshold)], count: groups)
        try ctx.launch1D(try kernel("ssd_merge"),
                         [.buffer(boxes), .buffer(keptIdx), .buffer(keptScore), .buffer(keptCount), .value(outputs[0]),
                          .int(groups * keep), .int(d.c), .int(d.a), .int(keep), .int(maxTotal)], count: groups * keep)
        try ctx.launch1D(try kernel("ssd_fill"),
                         [.buffer(keptCount), .value(outputs[0]), .int(d.n * maxTotal), .int(d.c), .int(maxTotal)], count: d.n * maxTotal)
    }
}
