// Index folders as fuzz targets: a saved 5-row index, one of its files replaced by a
// structure-aware mutant (IndexMutator), loaded and searched (on the device when there is one).
// Mutant N of seed S is the same on every machine. Used by `gpuinfer-fuzz index` and FuzzTests.
import Foundation
import GPUInfer
import GPUInferRetrieval

public final class IndexFuzzer: @unchecked Sendable {
    public static let files = [RetrievalIndex.manifestFile, RetrievalIndex.descriptorsFile, RetrievalIndex.filesFile]
    let dir: String
    let originals: [String: Data]
    public let seed: UInt64
    /// The device searches run on (nil: the CPU reference search).
    public let runtime: CLRuntime?

    public init(seed: UInt64, runtime: CLRuntime?) throws {
        self.seed = seed
        self.runtime = runtime
        var rng = FuzzRandom(seed: seed)
        var index = try RetrievalIndex(dimension: 6, model: "fuzz")
        try index.add(descriptors: (0..<30).map { _ in Float(rng.below(2001) - 1000) / 1000 }, files: ["a.jpg", "b/c.jpg", "d é.png", "e.jpg", "f.jpeg"])
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-fuzz-index-\(UUID().uuidString)").path
        try index.save(to: dir)
        var o: [String: Data] = [:]
        for f in Self.files { o[f] = try Data(contentsOf: URL(fileURLWithPath: (dir as NSString).appendingPathComponent(f))) }
        originals = o
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    /// Mutant `i`: the file it replaces, its bytes, and what was changed.
    public func mutant(_ i: Int) -> (file: String, bytes: Data, what: String) {
        var rng = FuzzRandom(run: seed, mutant: i)
        let file = rng.pick(Self.files)
        var bytes = originals[file] ?? Data()
        var what: [String] = []
        for _ in 0..<(1 + rng.below(2)) {
            let (b, w) = IndexMutator.mutate(file: file, bytes, &rng)
            bytes = b
            what.append(w)
        }
        return (file, bytes, "\(file): " + what.joined(separator: "; "))
    }

    /// Writes mutant `i` into the folder, loads it and searches it: `.ran` when both succeed,
    /// `.refused` with the error's case for a typed error, `.untyped` for anything else.
    public func check(_ i: Int) -> FuzzOutcome {
        let m = mutant(i)
        do {
            for (f, data) in originals { try (f == m.file ? m.bytes : data).write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent(f))) }
        } catch {
            return .untyped(stage: "write", error: "the fuzzer could not write its folder: \(error)")
        }
        do {
            let index = try RetrievalIndex.load(from: dir)
            let searcher = try IndexSearcher(index: index, runtime: runtime)
            _ = try searcher.search(queries: Tensor(shape: [2, index.dimension], floats: (0..<(2 * index.dimension)).map { Float($0 % 5) - 2 }), k: 3)
            return .ran(deviceRan: runtime != nil)
        } catch let e as RetrievalIndexError {
            return .refused(stage: "index", kind: Mirror(reflecting: e).children.first?.label ?? "RetrievalIndexError")
        } catch let e as GPUInferError {
            return .refused(stage: "index", kind: ModelFuzzer.kind(e))
        } catch {
            return .untyped(stage: "index", error: "\(type(of: error)): \(error)")
        }
    }
}
