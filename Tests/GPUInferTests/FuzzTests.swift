// Seeded mutation fuzzing of the three parsers that read files from strangers: the ONNX loader
// (and the load-time passes behind it), the image decoder and the .npy reader. Every mutant must
// either load or fail with a GPUInferError — never crash, hang or throw anything else.
// CI runs GPUINFER_FUZZ_ITERATIONS (default 300) mutants per seed; a longer run:
//   GPUINFER_FUZZ_ITERATIONS=20000 swift test --filter FuzzTests
import Foundation
import Testing
@testable import GPUInfer

private let iterations = Int(ProcessInfo.processInfo.environment["GPUINFER_FUZZ_ITERATIONS"] ?? "") ?? 300

/// Mutations in the style of a byte-level fuzzer: bit flips, byte sets to boundary values,
/// truncation, duplication and deletion of ranges, insertion of random bytes.
private func mutate(_ seed: [UInt8], _ rng: inout TestRandom) -> [UInt8] {
    var b = seed
    let rounds = 1 + Int(rng.next() % 4)
    for _ in 0..<rounds where !b.isEmpty {
        let i = Int(rng.next() % UInt64(b.count))
        switch rng.next() % 7 {
        case 0: b[i] ^= UInt8(1 << (rng.next() % 8))
        case 1: b[i] = [0, 0xff, 0x7f, 0x80, 1][Int(rng.next() % 5)]
        case 2: b.removeSubrange(i...)
        case 3:
            let n = min(b.count - i, 1 + Int(rng.next() % 64))
            b.insert(contentsOf: b[i..<(i + n)], at: i)
        case 4:
            let n = min(b.count - i, 1 + Int(rng.next() % 64))
            b.removeSubrange(i..<(i + n))
        case 5: b.insert(contentsOf: (0..<(1 + rng.next() % 16)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: i)
        default:
            // Little-endian varint/length fields: overwrite 4 bytes with a large value.
            for k in 0..<min(4, b.count - i) { b[i + k] = UInt8(truncatingIfNeeded: rng.next() | 0x80) }
        }
    }
    return b
}

/// Runs `body` on `iterations` mutants of `seed`; counts accepted and refused inputs.
private func fuzz(_ name: String, seed: [UInt8], seedValue: UInt64, _ body: (Data) throws -> Void) -> (accepted: Int, refused: Int) {
    var rng = TestRandom(seed: seedValue)
    var accepted = 0, refused = 0
    for _ in 0..<iterations {
        let input = Data(mutate(seed, &rng))
        do {
            try body(input)
            accepted += 1
        } catch is GPUInferError {
            refused += 1
        } catch {
            Issue.record("\(name): a mutant raised a non-GPUInferError: \(error)")
        }
    }
    print("fuzz \(name): \(iterations) mutants, \(accepted) accepted, \(refused) refused with a GPUInferError")
    return (accepted, refused)
}

@Suite struct FuzzTests {
    @Test func onnxLoaderSurvivesMutants() throws {
        let path = try GeneratedData.require("sample_cnn.onnx", script: "Tests/generate-test-data.sh")
        let seed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let r = fuzz("onnx", seed: seed, seedValue: 1) { data in
            let graph = try ONNXLoader.load(data: data, name: "mutant.onnx")
            _ = try Model(graph: graph)
        }
        #expect(r.accepted + r.refused == iterations)
        #expect(r.refused > 0, "no mutant was refused: the mutator is not reaching the parser")
    }

    @Test func npyReaderSurvivesMutants() {
        var rng = TestRandom(seed: 2)
        let seed = [UInt8](Npy.encode(rng.tensor([3, 5, 7])))
        let r = fuzz("npy", seed: seed, seedValue: 3) { data in _ = try Npy.decode(data, name: "mutant.npy") }
        #expect(r.refused > 0)
    }

    @Test func imageDecoderSurvivesMutants() throws {
        let photo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Models/samples/grace_hopper.jpg")
        // A small JPEG keeps each decode cheap: the 37×23 one the image fixtures write.
        let small = GeneratedData.url("images/odd_37x23.jpg")
        let seedURL = FileManager.default.fileExists(atPath: small.path) ? small : photo
        let seed = [UInt8](try Data(contentsOf: seedURL))
        let r = fuzz("jpeg", seed: seed, seedValue: 4) { data in _ = try ImageDecoder.decode(data: data, name: "mutant.jpg") }
        #expect(r.refused > 0)
    }
}
