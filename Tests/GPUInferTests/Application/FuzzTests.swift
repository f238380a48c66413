// Seeded mutation fuzzing of the parsers that read files from strangers: the ONNX loader (and the
// load-time passes behind it), the image decoder, the .npy reader and the retrieval index folder
// (manifest.json, descriptors.npy, files.jsonl). Every mutant must either load or fail with a
// typed error (GPUInferError; RetrievalIndexError for the index) — never crash, hang or throw
// anything else.
// Two kinds: byte-level mutants (bit flips, truncation, …), GPUINFER_FUZZ_ITERATIONS (default 300)
// per seed, and structure-aware ones (GPUInferFuzz: valid protobuf and JSON with hostile values),
// GPUINFER_STRUCTURED_FUZZ_MUTANTS (default 3000) models on both backends and a third as many index
// folders, with a fixed seed. The long run is the supervised driver (crashes and hangs caught in
// child processes):
//   GPUINFER_FUZZ_ITERATIONS=20000 swift test --filter FuzzTests
//   swift build --product gpuinfer-fuzz && .build/debug/gpuinfer-fuzz models --mutants 100000
import Foundation
import Testing
@testable import GPUInfer
@testable import GPUInferVision
@testable import GPUInferRetrieval
import GPUInferFuzz

private let iterations = Int(ProcessInfo.processInfo.environment["GPUINFER_FUZZ_ITERATIONS"] ?? "") ?? 300
private let structuredMutants = Int(ProcessInfo.processInfo.environment["GPUINFER_STRUCTURED_FUZZ_MUTANTS"] ?? "") ?? 3000

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
private func fuzz(_ name: String, seed: [UInt8], seedValue: UInt64, iterations: Int = iterations,
                  _ body: (Data) throws -> Void) -> (accepted: Int, refused: Int) {
    var rng = TestRandom(seed: seedValue)
    var accepted = 0, refused = 0
    for _ in 0..<iterations {
        let input = Data(mutate(seed, &rng))
        do {
            try body(input)
            accepted += 1
        } catch is GPUInferError {
            refused += 1
        } catch is RetrievalIndexError {
            refused += 1
        } catch {
            Issue.record("\(name): a mutant raised a non-GPUInferError: \(error)")
        }
    }
    print("fuzz \(name): \(iterations) mutants, \(accepted) accepted, \(refused) refused with a typed error")
    return (accepted, refused)
}

@Suite struct FuzzTests {
    /// Seeds: the sample CNN, the loader models (function with attribute references, opset-11
    /// forms) and a few conformance models (Resize, Gather with int inputs, Split).
    @Test(arguments: ["sample_cnn.onnx", "loader/function_swish.onnx", "loader/opset11_mixed.onnx",
                      "onnx-node/test_resize_upsample_scales_linear/model.onnx", "onnx-node/test_gather_1/model.onnx",
                      "onnx-node/test_split_variable_parts_2d_opset18/model.onnx"])
    func onnxLoaderSurvivesMutants(seedFile: String) throws {
        let path = try GeneratedData.require(seedFile, script: "Tests/generate-test-data.sh")
        let seed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let r = fuzz("onnx \(seedFile)", seed: seed, seedValue: UInt64(seed.count)) { data in
            let graph = try ONNXLoader.load(data: data, name: "mutant.onnx")
            _ = try Model(graph: graph)
        }
        #expect(r.accepted + r.refused == iterations)
        #expect(r.refused > 0, "no mutant was refused: the mutator is not reaching the parser")
    }

    @Test(arguments: [DType.float32, .int64, .int32, .bool])
    func npyReaderSurvivesMutants(dtype: DType) {
        var rng = TestRandom(seed: 2)
        let t = dtype.isFloat ? rng.tensor([3, 5, 7]) : rng.ints([3, 5, 7], 0, 1).cast(to: dtype)
        let seed = [UInt8](Npy.encode(t))
        let r = fuzz("npy \(dtype)", seed: seed, seedValue: 3) { data in _ = try Npy.decode(data, name: "mutant.npy") }
        #expect(r.refused > 0)
    }

    /// Seeds: baseline, progressive, grayscale, CMYK and EXIF-oriented JPEGs, and RGB, palette
    /// and gray PNGs (the image fixtures).
    @Test(arguments: ["odd_37x23.jpg", "progressive.jpg", "gray.jpg", "cmyk.jpg", "orient_6_be.jpg",
                      "png_rgb.png", "png_palette.png", "png_gray.png"])
    func imageDecoderSurvivesMutants(seedFile: String) throws {
        let path = try GeneratedData.require("images/" + seedFile, script: "Tests/generate-test-data.sh")
        let seed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let r = fuzz("image \(seedFile)", seed: seed, seedValue: 4) { data in _ = try ImageDecoder.decode(data: data, name: "mutant") }
        #expect(r.refused > 0)
    }

    /// A saved 5-row index; each of its three files in turn is replaced by mutants and the folder
    /// loaded. A third of the iterations per file: each load touches the file system.
    @Test(arguments: [RetrievalIndex.manifestFile, RetrievalIndex.descriptorsFile, RetrievalIndex.filesFile])
    func retrievalIndexSurvivesMutants(file: String) throws {
        var rng = TestRandom(seed: 9)
        var index = try RetrievalIndex(dimension: 6, model: "fuzz")
        try index.add(descriptors: rng.tensor([5, 6]).floats, files: ["a.jpg", "b/c.jpg", "d é.png", "e.jpg", "f.jpeg"])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-index-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try index.save(to: dir)
        let target = URL(fileURLWithPath: (dir as NSString).appendingPathComponent(file))
        let seed = [UInt8](try Data(contentsOf: target))
        let r = fuzz("index \(file)", seed: seed, seedValue: 10, iterations: max(1, iterations / 3)) { data in
            try data.write(to: target)
            _ = try RetrievalIndex.load(from: dir)
        }
        #expect(r.refused > 0)
    }

    /// Structure-aware model mutants (seed 1, the first `structuredMutants`) from the conformance
    /// cases, loader models and the sample CNN, each loaded and run on the reference backend and on
    /// the OpenCL device. Untyped errors are findings; a crash or hang would end the test run. Each
    /// mutant stays within a 2 GB reference budget (HostMemory.budget, process-wide: above any
    /// tensor of the model tests that may run beside it), so none can take the machine's memory. Also checks the mutator reaches every stage: some mutants run on both
    /// backends and some are refused at load and at run time.
    @Test func structureAwareModelMutants() throws {
        let root = try GeneratedData.require("onnx-node/cases.json", script: "Tests/generate-test-data.sh")
        let generated = ((root as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
        var seeds: [FuzzSeed] = []
        for folder in ["onnx-node", "loader"] { seeds += try FuzzSeed.corpus(in: (generated as NSString).appendingPathComponent(folder)) }
        #expect(seeds.count > 500, "seed corpus: \(seeds.count) loadable models")
        let previous = HostMemory.budget
        HostMemory.budget = 2 << 30
        defer { HostMemory.budget = previous }
        let fuzzer = ModelFuzzer(seeds: seeds, seed: 1, runtime: try TestDevice.require())
        var counts: [String: Int] = [:]
        for i in 0..<structuredMutants {
            switch fuzzer.check(i) {
            case let .ran(device): counts[device == true ? "ran on both" : "ran on the reference", default: 0] += 1
            case let .refused(stage, _): counts["refused at \(stage)", default: 0] += 1
            case let .untyped(stage, error):
                Issue.record("mutant \(i) (\(fuzzer.mutant(i).mutations)): untyped error at \(stage): \(error)")
            }
        }
        print("structure-aware fuzz: \(structuredMutants) model mutants: \(counts.sorted { $0.key < $1.key })")
        #expect((counts["ran on both"] ?? 0) > structuredMutants / 10)
        #expect((counts["refused at load"] ?? 0) > 0 && (counts["refused at reference"] ?? 0) > 0)
    }

    /// Structure-aware index mutants: manifest.json and files.jsonl values, descriptors.npy headers
    /// and payloads; each folder loaded and searched on the device.
    @Test func structureAwareIndexMutants() throws {
        let fuzzer = try IndexFuzzer(seed: 5, runtime: try TestDevice.require())
        var loaded = 0, refused = 0
        for i in 0..<max(1, structuredMutants / 3) {
            switch fuzzer.check(i) {
            case .ran: loaded += 1
            case .refused: refused += 1
            case let .untyped(stage, error): Issue.record("index mutant \(i) (\(fuzzer.mutant(i).what)): untyped error at \(stage): \(error)")
            }
        }
        print("structure-aware fuzz: index mutants: \(loaded) loaded and searched, \(refused) refused")
        #expect(loaded > 0 && refused > 0)
    }
}
