// Running the gpuinfer executable from tests (CLITests, RetrievalCLITests).
import Foundation
@testable import GPUInfer

/// The repository root, for sample files and generated fixtures.
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../..").standardizedFileURL

/// The gpuinfer binary built next to the test bundle (or in .build/debug).
func gpuinferBinary() throws -> URL {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("gpuinfer"),
        repoRoot.appendingPathComponent(".build/debug/gpuinfer"),
    ]
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        throw GPUInferError.io(path: candidates[1].path, reason: "gpuinfer binary not built (swift build --build-tests)")
    }
    return found
}

/// Runs gpuinfer with `args` (and `environment` added to this process's); returns exit status, stdout and stderr.
func gpuinfer(_ args: [String], environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = try gpuinferBinary()
    p.arguments = args
    if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}
