// swift-tools-version: 6.0
// gpuinfer: CNN inference on OpenCL devices with a pure-Swift reference backend.
import PackageDescription

let package = Package(
    name: "gpuinfer",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "GPUInfer", targets: ["GPUInfer"]),
        .library(name: "GPUInferVision", targets: ["GPUInferVision"]),
        .library(name: "GPUInferRetrieval", targets: ["GPUInferRetrieval"]),
        .executable(name: "gpuinfer", targets: ["gpuinfer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // System libraries (Debian: ocl-icd-opencl-dev opencl-headers libclblast-dev libturbojpeg0-dev libpng-dev).
        .systemLibrary(name: "COpenCL", path: "Sources/COpenCL"),
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG"),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG"),  // libpng-dev
        .systemLibrary(name: "CCLBlast", path: "Sources/CCLBlast"),  // libclblast-dev: GEMM on GPU-class devices

        // Swift generated from onnx.proto (scripts/generate-onnx-proto.sh regenerates it).
        .target(
            name: "ONNXProto",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Sources/ONNXProto"
        ),

        // OpenCL C sources in Kernels/*.cl, embedded as Swift string constants at build time.
        .executableTarget(name: "EmbedKernelsTool", path: "Sources/EmbedKernelsTool"),
        .plugin(name: "EmbedKernels", capability: .buildTool(), dependencies: ["EmbedKernelsTool"]),
        .target(name: "GPUInferKernels", path: "Kernels", plugins: ["EmbedKernels"]),

        // The engine: ONNX import, graph and passes, operators (reference + OpenCL), runtime, tuning.
        .target(
            name: "GPUInfer",
            dependencies: ["COpenCL", "CCLBlast", "ONNXProto", "GPUInferKernels", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Sources/GPUInfer"
        ),
        // Images in and out (JPEG/PNG decoding, preprocessing, drawing), the model zoo, image models and detectors.
        .target(name: "GPUInferVision", dependencies: ["GPUInfer", "CTurboJPEG", "CPNG"], path: "Sources/GPUInferVision"),
        // Descriptor indexes of image folders and exact search on the device.
        .target(name: "GPUInferRetrieval", dependencies: ["GPUInfer", "GPUInferVision"], path: "Sources/GPUInferRetrieval"),
        .executableTarget(
            name: "gpuinfer",
            dependencies: ["GPUInfer", "GPUInferVision", "GPUInferRetrieval", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/gpuinfer"
        ),
        // The structure-aware fuzzer: mutators (a library the tests use) and its supervising driver.
        .target(name: "GPUInferFuzz", dependencies: ["GPUInfer", "GPUInferRetrieval", "ONNXProto", .product(name: "SwiftProtobuf", package: "swift-protobuf")], path: "Sources/GPUInferFuzz"),
        .executableTarget(
            name: "gpuinfer-fuzz",
            dependencies: ["GPUInfer", "GPUInferFuzz", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/gpuinfer-fuzz"
        ),
        // A runnable example of the library API (`swift run gpuinfer-example photo.jpg`).
        .executableTarget(name: "gpuinfer-example", dependencies: ["GPUInfer", "GPUInferVision"], path: "Sources/gpuinfer-example"),
        .testTarget(
            name: "GPUInferTests",
            dependencies: ["GPUInfer", "GPUInferVision", "GPUInferRetrieval", "GPUInferFuzz", "ONNXProto"],
            path: "Tests/GPUInferTests"
        ),
    ]
)
