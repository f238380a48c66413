// NonMaxSuppression (ONNX opset 10/11+): greedy per-(batch, class) suppression with the
// onnxruntime/ONNX-reference rules, a CPU reference and an OpenCL implementation (Kernels/nms.cl).

/// ONNX `NonMaxSuppression`.
///
/// Inputs: boxes `[N,B,4]`, scores `[N,C,B]`, optional max_output_boxes_per_class (int64 scalar,
/// absent or ≤ 0: nothing selected), iou_threshold (float scalar in [0,1], default 0) and
/// score_threshold (float scalar; absent: no score filter). Attribute `center_point_box`: 0 =
/// `[y1,x1,y2,x2]` (any pair of diagonal corners), 1 = `[x_center,y_center,w,h]`.
/// Output: selected_indices `[num_selected,3]` int64 = (batch, class, box), batch-major, then
/// class, then in selection order.
///
/// Semantics (onnxruntime `nms_helper.h`, which the ONNX reference ports):
/// * a candidate passes when `score > score_threshold` (strictly); NaN scores never pass;
/// * candidates are visited by descending score, equal scores by ascending box index;
/// * a candidate is suppressed when its IoU with an already selected box of the same class is
///   `> iou_threshold` (strictly); boxes with zero or negative area, and pairs with an empty
///   intersection, never suppress each other;
/// * at most max_output_boxes_per_class boxes per (batch, class).
///
/// The number of selected boxes depends on the data. Shape inference gives the upper bound
/// `N·C·min(max_output_boxes_per_class, B)` rows (`hasDataDependentShape`); the device writes
/// the selected rows first and their count to the plan's shape slot, which the next plan
/// segment — the Gathers of boxes, scores and classes — is planned for.
struct NonMaxSuppression: Operator {
    static let opTypes = ["NonMaxSuppression"]
    static let constantInputs = [2, 3, 4]
    static let hasDataDependentShape = true
    /// Only the row count varies: the Gathers of boxes, scores and classes after it run on the
    /// bound without a plan cut (rows past the count are −1, which the Gather kernels wrap).
    func onlyRowsDependOnData(output: Int) -> Bool { true }
    let centerPointBox: Bool
    let label: String

    init(node: Node, opset: Int) throws {
        let c = try node.int("center_point_box", default: 0)
        guard c == 0 || c == 1 else { throw node.attributeError("center_point_box", "must be 0 or 1, got \(c)") }
        centerPointBox = c == 1
        label = node.label
    }

    /// Validated sizes and parameters of one application.
    struct Params {
        var n: Int, c: Int, b: Int
        /// Boxes kept per (batch, class) at most: min(max_output_boxes_per_class, B), ≥ 0.
        var keep: Int
        var iou: Float
        var score: Float?
        var bound: Int { n * c * keep }
    }

    func fail(_ reason: String) -> GPUInferError { .shapeMismatch(node: label, op: "NonMaxSuppression", reason: reason) }

    func params(boxes: [Int], scores: [Int], constants: [Tensor?]) throws -> Params {
        guard boxes.count == 3, boxes[2] == 4 else { throw fail("boxes \(boxes) must be [num_batches, spatial_dimension, 4]") }
        guard scores.count == 3, scores[0] == boxes[0], scores[2] == boxes[1] else {
            throw fail("scores \(scores) must be [num_batches, num_classes, spatial_dimension] = [\(boxes[0]), C, \(boxes[1])]")
        }
        func scalar(_ i: Int, _ what: String) throws -> Tensor? {
            guard let t = constants.optional(i) else { return nil }
            guard t.count == 1 else { throw fail("\(what) must hold one value, got shape \(t.shape)") }
            return t
        }
        let maxOut = try scalar(2, "max_output_boxes_per_class").map { Int(clamping: $0.int64Values[0]) } ?? 0
        let iou = try scalar(3, "iou_threshold").map { Float($0.double(at: 0)) } ?? 0
        guard iou >= 0, iou <= 1 else { throw fail("iou_threshold must be in [0, 1], got \(iou)") }
        let score = try scalar(4, "score_threshold").map { Float($0.double(at: 0)) }
        return Params(n: boxes[0], c: scores[1], b: boxes[1], keep: max(0, min(maxOut, boxes[1])), iou: iou, score: score)
    }

    func inferTypes(_ inputs: [TensorType?], constants: [Tensor?]) throws -> [TensorType] {
        let boxes: TensorType = try inputs.required(0, "NonMaxSuppression")
        let scores: TensorType = try inputs.required(1, "NonMaxSuppression")
        try requireFloat([boxes, scores], label)
        for i in 2...4 where i < inputs.count && inputs[i] != nil && constants.optional(i) == nil {
            throw GPUInferError.unsupportedOp(op: "NonMaxSuppression", domain: "", node: label, opset: 0,
                                              reason: "input \(i) must be a constant (it sets the output size)")
        }
        let p = try params(boxes: boxes.shape, scores: scores.shape, constants: constants)
        return [TensorType(.int64, [p.bound, 3])]
    }

    /// Corners (x_min, y_min, x_max, y_max) of box `i` as onnxruntime derives them.
    static func corners(_ box: ArraySlice<Float>, center: Bool) -> (Float, Float, Float, Float) {
        let b = Array(box)
        if center {
            let hw = b[2] / 2, hh = b[3] / 2
            return (b[0] - hw, b[1] - hh, b[0] + hw, b[1] + hh)
        }
        return (min(b[1], b[3]), min(b[0], b[2]), max(b[1], b[3]), max(b[0], b[2]))
    }

    /// onnxruntime's `SuppressByIOU`: IoU > threshold, never for empty intersections or
    /// non-positive areas. The float operations are those of the kernel, in the same order.
    static func suppresses(_ a: (Float, Float, Float, Float), _ b: (Float, Float, Float, Float), _ threshold: Float) -> Bool {
        let ix0 = max(a.0, b.0), ix1 = min(a.2, b.2)
        if ix1 <= ix0 { return false }
        let iy0 = max(a.1, b.1), iy1 = min(a.3, b.3)
        if iy1 <= iy0 { return false }
        let inter = (ix1 - ix0) * (iy1 - iy0)
        if inter <= 0 { return false }
        let area1 = (a.2 - a.0) * (a.3 - a.1), area2 = (b.2 - b.0) * (b.3 - b.1)
        let union = area1 + area2 - inter
        if area1 <= 0 || area2 <= 0 || union <= 0 { return false }
        return inter / union > threshold
    }

    func reference(_ inputs: [Tensor?]) throws -> [Tensor] {
        let boxes: Tensor = try inputs.required(0, "NonMaxSuppression")
        let scores: Tensor = try inputs.required(1, "NonMaxSuppression")
        let p = try params(boxes: boxes.shape, scores: scores.shape, constants: inputs)
        var rows: [Int64] = []
        guard p.keep > 0 else { return [Tensor(shape: [0, 3], ints: [])] }
        for n in 0..<p.n {
            let corners = (0..<p.b).map { i in Self.corners(boxes.floats[(n * p.b + i) * 4..<(n * p.b + i) * 4 + 4], center: centerPointBox) }
            for c in 0..<p.c {
                let s = scores.floats[((n * p.c + c) * p.b)..<((n * p.c + c + 1) * p.b)].map { $0 }
                let candidates = (0..<p.b).filter { i in !s[i].isNaN && (p.score.map { s[i] > $0 } ?? true) }
                    .sorted { s[$0] > s[$1] || (s[$0] == s[$1] && $0 < $1) }
                var selected: [Int] = []
                for i in candidates where selected.count < p.keep {
                    if !selected.contains(where: { Self.suppresses(corners[$0], corners[i], p.iou) }) { selected.append(i) }
                }
                for i in selected { rows += [Int64(n), Int64(c), Int64(i)] }
            }
        }
        return [Tensor(shape: [rows.count / 3, 3], ints: rows)]
    }

    /// Three kernels: ranks (sort by score, ties by index) of the passing candidates, greedy
    /// selection per (batch, class), then offsets and the compacted output padded with −1.
    func encode(_ ctx: EncodeContext, inputs: [DeviceValue?], constants: [Tensor?], outputs: [DeviceValue]) throws {
        let boxes: DeviceValue = try inputs.required(0, "NonMaxSuppression")
        let scores: DeviceValue = try inputs.required(1, "NonMaxSuppression")
        let p = try params(boxes: boxes.type.shape, scores: scores.type.shape, constants: constants)
        guard p.bound > 0 else {
            // Nothing can be selected: the shape slot says [0, 3].
            let shape = try ctx.outputShape(0)
            try ctx.launch1D(try ctx.kernel("nms_none", file: "nms"), [.buffer(shape.buffer), .int(shape.offset)], count: 1)
            return
        }
        let groups = p.n * p.c
        for count in [groups * p.b, p.bound * 3] where count > Int(Int32.max) {
            throw ctx.error("\(count) elements exceed the 32-bit index range of the NonMaxSuppression kernels")
        }
        let options = centerPointBox ? "-DCENTER_POINT_BOX=1" : ""
        let sorted = try ctx.scratch(bytes: groups * p.b * 4)
        let selected = try ctx.scratch(bytes: p.bound * 4)
        let counts = try ctx.scratch(bytes: (groups + 1) * 4)
        let hasScore = p.score != nil ? 1 : 0
        try ctx.launch1D(try ctx.kernel("nms_rank", file: "nms", options: options),
                         [.value(scores), .buffer(sorted), .int(groups * p.b), .int(p.b), .int(hasScore), .float(p.score ?? 0)],
                         count: groups * p.b)
        try ctx.launch1D(try ctx.kernel("nms_greedy", file: "nms", options: options),
                         [.value(boxes), .value(scores), .buffer(sorted), .buffer(selected), .buffer(counts), .int(groups), .int(p.c),
                          .int(p.b), .int(p.keep), .int(hasScore), .float(p.score ?? 0), .float(p.iou)],
                         count: groups)
        let shape = try ctx.outputShape(0)
        try ctx.launch1D(try ctx.kernel("nms_offsets", file: "nms", options: options),
                         [.buffer(counts), .int(groups), .buffer(shape.buffer), .int(shape.offset)], count: 1)
        try ctx.launch1D(try ctx.kernel("nms_write", file: "nms", options: options),
                         [.buffer(selected), .buffer(counts), .value(outputs[0]), .int(p.bound), .int(groups), .int(p.c), .int(p.keep)],
                         count: p.bound)
    }
}
