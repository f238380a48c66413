// The COCO-91 category names (ids 1…91 of the COCO paper; the Open Model Zoo's
// `coco_91cl_bkgr.txt` order with 0 = background), used to name SSD detections.
import GPUInfer

public enum COCOLabels {
    /// Index = category id; 0 is the background. Ids 12, 26, 29, 30, 45, 66, 68, 69, 71, 83 and 91
    /// are categories of the paper that have no annotations in the released COCO sets.
    public static let names: [String] = [
        "background", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
        "traffic light", "fire hydrant", "street sign", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
        "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "hat", "backpack", "umbrella", "shoe",
        "eye glasses", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat",
        "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "plate", "wine glass", "cup", "fork", "knife",
        "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza",
        "donut", "cake", "chair", "couch", "potted plant", "bed", "mirror", "dining table", "window", "desk",
        "toilet", "door", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven",
        "toaster", "sink", "refrigerator", "blender", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
        "toothbrush", "hair brush",
    ]

    /// The name of category `id`, or "class N" outside the list.
    public static func name(_ id: Int) -> String { names.indices.contains(id) ? names[id] : "class \(id)" }
}
