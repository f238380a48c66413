// Resources: no per-inference device allocations, every OpenCL object released with its session,
// and resident memory flat over 1,000 inferences (measured in a separate gpuinfer process so that
// other tests running in parallel do not disturb it).
import Foundation
import Testing
@testable import GPUInfer

@Suite struct ResourceTests {
    @Test func sessionsReleaseEveryBufferAndKernel() throws {
        guard let info = TestDevice.info else { throw GPUInferError.deviceNotFound(requested: "0", available: 0) }
        let path = try GeneratedData.require("sample_cnn.onnx", script: "Tests/generate-test-data.sh")
        let x = try Npy.read(path: GeneratedData.url("sample_cnn_b1_input.npy").path)
        let runtime = try CLRuntime(device: info)   // its own runtime: no other test's objects counted
        let before = (runtime.liveObjects.buffers, runtime.liveObjects.kernels)
        do {
            let session = Session(model: try Model(path: path), runtime: runtime)
            _ = try session.run(["input": x])
            let planned = (runtime.liveObjects.buffers, runtime.liveObjects.kernels, runtime.liveObjects.bufferBytes)
            #expect(planned.0 > before.0 && planned.1 > before.1)
            for _ in 0..<200 { _ = try session.run(["input": x]) }
            // Runs reuse the plan: not one buffer or kernel more.
            #expect(runtime.liveObjects.buffers == planned.0)
            #expect(runtime.liveObjects.kernels == planned.1)
            #expect(runtime.liveObjects.bufferBytes == planned.2)
        }
        #expect(runtime.liveObjects.buffers == before.0, "buffers left after the session ended")
        #expect(runtime.liveObjects.kernels == before.1, "kernel objects left after the session ended")
    }

    @Test func residentMemoryStaysFlatOver1000Inferences() throws {
        let path = try GeneratedData.require("sample_cnn.onnx", script: "Tests/generate-test-data.sh")
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("gpuinfer").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: FileManager.default.isExecutableFile(atPath: binary) ? binary
            : repoRoot.appendingPathComponent(".build/debug/gpuinfer").path)
        p.arguments = ["bench", path, "--device", "0", "--iterations", "1000", "--warmup", "100", "--json"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        let warm = json["rss_mb_after_warmup"] as? Double ?? 0, end = json["rss_mb_end"] as? Double ?? 0
        #expect(warm > 0)
        // 1,000 runs of a 17-node plan: a leak of even 4 KB per run (one small tensor) would add
        // 4 MB; allocator noise stays far below 2 MB.
        #expect(end - warm <= 2, "RSS grew from \(warm) MB to \(end) MB over 1000 inferences")
    }
}
