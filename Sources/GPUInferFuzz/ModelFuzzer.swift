// Mutant N of a fuzz run (seed S): a seed model picked and mutated by ModelMutator, loaded, and run
// on the reference backend and on an OpenCL device with inputs drawn for its (mutated) declared
// inputs. Every stage must finish or throw a GPUInferError; anything else — a trap, a signal, a
// hang, another error type — is a finding (the `gpuinfer-fuzz` driver catches crashes and hangs in
// a child process; `check` reports the rest).
import Foundation
import GPUInfer
import ONNXProto
import SwiftProtobuf

/// A seed: a small model, with the inputs of its first test data set when it has one.
public struct FuzzSeed: Sendable {
    public let name: String
    public let model: Onnx_ModelProto
    public let inputs: [Tensor]
    public init(name: String, model: Onnx_ModelProto, inputs: [Tensor]) {
        self.name = name
        self.model = model
        self.inputs = inputs
    }

    /// The seeds under `folder`: every `model.onnx` (conformance cases, with `test_data_set_0`'s
    /// inputs) and every other `.onnx` file of at most `maxBytes` that the engine loads (a seed it
    /// refuses as it is — an op it does not implement — would spend its mutants on that refusal), in
    /// sorted path order.
    public static func corpus(in folder: String, maxBytes: Int = 256 << 10) throws -> [FuzzSeed] {
        guard let walker = FileManager.default.enumerator(atPath: folder) else {
            throw GPUInferError.io(path: folder, reason: "cannot list the seed folder")
        }
        var paths: [String] = []
        while let rel = walker.nextObject() as? String {
            if rel.hasSuffix(".onnx") { paths.append(rel) }
        }
        var seeds: [FuzzSeed] = []
        for rel in paths.sorted() {
            let path = (folder as NSString).appendingPathComponent(rel)
            guard let attrs = try? FileManager.default.attributesOfItem(atPath: path),
                  let size = attrs[.size] as? Int, size <= maxBytes,
                  let data = FileManager.default.contents(atPath: path),
                  let model = try? Onnx_ModelProto(serializedBytes: data),
                  (try? Model(graph: ONNXLoader.load(data: data, name: rel))) != nil else { continue }
            var inputs: [Tensor] = []
            let dataSet = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("test_data_set_0")
            while let t = try? ONNXLoader.loadTensor(path: (dataSet as NSString).appendingPathComponent("input_\(inputs.count).pb")) {
                inputs.append(t)
            }
            seeds.append(FuzzSeed(name: rel, model: model, inputs: inputs))
        }
        return seeds
    }
}

/// What one mutant did.
public enum FuzzOutcome: Sendable, Equatable {
    /// Loaded and ran on the reference backend (and on the device when there is one: `deviceRan`).
    case ran(deviceRan: Bool?)
    /// Refused somewhere with a typed error; `stage` is load, reference or device.
    case refused(stage: String, kind: String)
    /// A finding: an error that is not a GPUInferError, at `stage`.
    case untyped(stage: String, error: String)
}

public final class ModelFuzzer: @unchecked Sendable {
    public let seeds: [FuzzSeed]
    public let seed: UInt64
    /// The OpenCL runtime mutants also run on (nil: the reference backend only). One runtime for
    /// the whole run, so programs built for one mutant serve the next.
    public let runtime: CLRuntime?

    /// The share of mutants that also run on the device (program builds make a device run some
    /// 30× slower than a reference run on PoCL); which ones is part of the mutant, so reproducible.
    public let deviceShare: Double

    public init(seeds: [FuzzSeed], seed: UInt64, runtime: CLRuntime?, deviceShare: Double = 1) {
        self.seeds = seeds
        self.seed = seed
        self.runtime = runtime
        self.deviceShare = deviceShare
    }

    /// Mutant `index`: its bytes, seed, mutations and the random state its inputs are drawn with.
    public func mutant(_ index: Int) -> (bytes: Data, seed: FuzzSeed, mutations: [String], inputState: UInt64) {
        var rng = FuzzRandom(run: seed, mutant: index)
        let s = seeds[rng.below(seeds.count)]
        var model = s.model
        let mutations = ModelMutator.mutate(&model, &rng)
        let bytes = (try? model.serializedData()) ?? Data()
        return (bytes, s, mutations, rng.next())
    }

    /// Loads and runs mutant `index`.
    public func check(_ index: Int) -> FuzzOutcome {
        let m = mutant(index)
        let model: Model
        do {
            model = try Model(graph: try ONNXLoader.load(data: m.bytes, name: "mutant-\(index).onnx"))
        } catch let e as GPUInferError {
            return .refused(stage: "load", kind: Self.kind(e))
        } catch {
            return .untyped(stage: "load", error: "\(type(of: error)): \(error)")
        }
        var rng = FuzzRandom(seed: m.inputState)
        let inputs = Self.inputs(for: model, seed: m.seed, &rng)
        var outcome = FuzzOutcome.ran(deviceRan: nil)
        var pick = FuzzRandom(seed: m.inputState ^ 0xD1CE)
        var runDevice = runtime != nil && pick.chance(deviceShare)
        do {
            _ = try ReferenceExecutor().run(model, inputs: inputs)
        } catch let e as GPUInferError {
            outcome = .refused(stage: "reference", kind: Self.kind(e))
            // A tensor past the fuzzer's memory budget is not allocated on the device either: the
            // run stays within the machine's memory whatever the mutant asks for.
            if case .outOfMemory = e { runDevice = false }
        } catch {
            return .untyped(stage: "reference", error: "\(type(of: error)): \(error)")
        }
        guard runDevice, let runtime else { return outcome }
        do {
            _ = try Session(model: model, runtime: runtime, tuning: nil).run(inputs)
            if case .ran = outcome { outcome = .ran(deviceRan: true) }
        } catch let e as GPUInferError {
            if case .ran = outcome { outcome = .refused(stage: "device", kind: Self.kind(e)) }
        } catch {
            return .untyped(stage: "device", error: "\(type(of: error)): \(error)")
        }
        return outcome
    }

    /// The error's case name (outOfMemory, shapeMismatch, …), for counts.
    public static func kind(_ e: GPUInferError) -> String {
        Mirror(reflecting: e).children.first?.label ?? String(describing: e)
    }

    /// Inputs for `model`'s declared inputs: the seed's test data where it has some (half the time),
    /// else values drawn for the declared type, with unknown dims 0–4 and, now and then, extreme
    /// values (NaN, ±∞, the int64 edges: indices, shapes and axes come from inputs too).
    static func inputs(for model: Model, seed: FuzzSeed, _ rng: inout FuzzRandom) -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        let useData = rng.chance(0.5)
        let declared = model.graph.inputs.filter { model.graph.initializers[$0.name] == nil }
        for (k, vi) in declared.enumerated() {
            if useData, k < seed.inputs.count {
                result[vi.name] = seed.inputs[k]
                continue
            }
            let dtype = vi.dtype ?? .float32
            var shape = (vi.dims ?? (0..<rng.below(4)).map { _ in nil }).map { d -> Int in
                guard let d, d >= 0 else { return rng.chance(0.06) ? 0 : 1 + rng.below(4) }
                return d
            }
            // The fuzzer's own allocation stays small: a declared shape past 2^20 elements is given
            // a small one instead (the engine must then refuse the mismatch).
            var count = 1
            for d in shape { count = count.multipliedReportingOverflow(by: d).overflow ? Int.max : count * d }
            if count > 1 << 20 { shape = shape.map { _ in 1 + rng.below(3) }; count = shape.reduce(1, *) }
            let extremes = rng.chance(0.15)
            if dtype.isFloat {
                result[vi.name] = Tensor(shape: shape, floats: (0..<count).map { _ in
                    extremes && rng.chance(0.3) ? rng.pick(ModelMutator.extremeFloats) : Float(rng.below(2001) - 1000) / 300
                })
            } else {
                let values: [Int64] = (0..<count).map { _ in
                    extremes && rng.chance(0.3) ? rng.pick(ModelMutator.extremeInts) : rng.small(4)
                }
                result[vi.name] = Tensor(shape: shape, ints: values.map { dtype.wrap($0) }, dtype: dtype)
            }
        }
        return result
    }
}
