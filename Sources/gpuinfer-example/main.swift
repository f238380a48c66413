// A runnable example of the GPUInfer library: NetVLAD descriptors of two photos and their cosine
// similarity, then a raw tensor run. Build and run:
//   swift run gpuinfer-example Models/samples/grace_hopper.jpg [other.jpg]
import Foundation
import GPUInfer
import GPUInferVision

let arguments = Array(CommandLine.arguments.dropFirst())
guard let first = arguments.first else {
    print("usage: gpuinfer-example IMAGE.jpg [IMAGE2.jpg]")
    exit(2)
}
do {
    // 1. Load the zoo model on the default device (first GPU, else first OpenCL device, else cpu).
    let netvlad = try ImageModel(named: "netvlad", device: .automatic)
    print("running on \(netvlad.session.deviceDescription)")

    // 2. Decode (EXIF-oriented RGB), then embed: preprocessing comes from the model's metadata.
    let paths = Array(arguments.prefix(2))
    let images = try paths.map { try ImageDecoder.decode(path: $0) }
    let descriptors = try netvlad.embed(images: images)          // [N, 4096], L2-normalized
    let d = descriptors.shape[1]
    print("\(paths.count) descriptor(s) of dimension \(d)")
    if paths.count == 2 {
        let a = descriptors.floats[0..<d], b = descriptors.floats[d..<(2 * d)]
        let cosine = zip(a, b).reduce(Float(0)) { $0 + $1.0 * $1.1 }
        print("cosine similarity \(first) vs \(paths[1]): \(cosine)")
    }

    // 3. The raw tensor API: any ONNX model, named inputs and outputs.
    let input = netvlad.preprocessing.tensor(images)
    let outputs = try netvlad.session.run([netvlad.inputName: input])
    for (name, tensor) in outputs { print("output \(name): \(tensor.dtype)\(tensor.shape)") }
} catch {
    print("error: \(error)")
    exit(1)
}
