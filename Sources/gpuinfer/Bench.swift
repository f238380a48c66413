// `gpuinfer bench MODEL --device N [--batch B] [--iterations I] [--warmup W] [--profile] [--json]`:
// load time, first-inference time, latency statistics, images/s, what the cuts of a graph with
// data-dependent shapes cost (sizes read back, host time between plan segments) and (with
// --profile) where the device time goes, node by node, from OpenCL profiling events.
import ArgumentParser
import Foundation
import GPUInfer
import GPUInferVision
import GPUInferRetrieval

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure load time, latency and throughput of a model.")

    @Argument(help: "Zoo name (e.g. netvlad) or .onnx path.") var model: String
    @OptionGroup var deviceOption: DeviceOption
    @Option(help: "Batch size (replaces the first, dynamic, input dimension).") var batch: Int = 1
    @Option(help: "Timed iterations.") var iterations: Int = 10
    @Option(help: "Untimed iterations after the first inference.") var warmup: Int = 1
    @Option(help: "Input height×width for models with dynamic spatial sizes, e.g. 448x672 (default: the model's gpuinfer.input_height/width metadata).") var size: String?
    @Option(help: "Folder with generated models.") var modelsDir: String?
    @Option(help: "Write the (seeded random) inputs as NAME.npy into this folder, so another runtime can be fed the same tensors.") var saveInputs: String?
    @Option(help: "NAME=FILE.npy inputs to time instead of seeded random ones (their batch replaces --batch).") var input: [String] = []
    @Flag(help: "Per-node device time table (OpenCL profiling events) and totals per op type.") var profile = false
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func validate() throws {
        guard batch >= 1, iterations >= 1, warmup >= 0 else { throw ValidationError("--batch and --iterations must be ≥ 1, --warmup ≥ 0") }
        guard iterations <= 1_000_000, warmup <= 1_000_000 else { throw ValidationError("--iterations and --warmup are at most 1000000") }
        _ = try Self.parseSize(size)
    }

    func run() throws {
        try reportingErrors {
            let clock = ContinuousClock()
            var loaded: Model?
            let options = try deviceOption.executionOptions()
            let loadTime = try clock.measure { loaded = try Model(path: ModelZoo.resolve(model, modelsDir: modelsDir), options: LoadOptions(options)) }
            guard let m = loaded else { return }
            let session = try Session(model: m, device: deviceOption.selection(), profiling: profile, options: options)
            let feeds = input.isEmpty ? try Self.inputs(for: m, batch: batch, size: Self.parseSize(size)) : try loadInputs(input, model: m)
            let batch = input.isEmpty ? self.batch : (feeds.values.first?.shape.first ?? 1)
            var savedInputs: [String: String] = [:]
            if let dir = saveInputs {
                try FileSystemErrors.createFolder(dir, what: "inputs folder")
                for (name, t) in feeds {
                    savedInputs[name] = (dir as NSString).appendingPathComponent(Npy.fileName(forValue: name) + ".npy")
                    try Npy.write(t, path: savedInputs[name]!)
                }
            }
            // The first run builds the plan (programs, weight uploads) and runs it.
            let first = try clock.measure { _ = try session.run(feeds) }
            let flops = try session.flops(for: feeds)
            let launches = try session.kernelLaunches(for: feeds)
            for _ in 0..<warmup { _ = try session.run(feeds) }
            let rssAfterWarmup = MemoryStatus.read("VmRSS")
            var latencies: [Double] = []
            for _ in 0..<iterations { latencies.append(try clock.measure { _ = try session.run(feeds) }.seconds) }
            // The last timed run's cuts (graphs with data-dependent shapes run in segments).
            let cuts = session.lastCuts
            let perCutMicroseconds = cuts.cuts > 0 ? Double(cuts.nanosecondsBetween) / Double(cuts.cuts) / 1e3 : 0
            latencies.sort()
            let median = latencies[latencies.count / 2]
            let p90 = latencies[min(latencies.count - 1, Int((Double(latencies.count) * 0.9).rounded(.up)) - 1)]
            let imagesPerSecond = Double(batch) / median
            let gflopsPerSecond = flops / median / 1e9
            let rssEnd = MemoryStatus.read("VmRSS")
            var timings: [NodeTiming] = []
            if profile {
                _ = try session.run(feeds, profile: true)
                timings = session.lastTimings
            }
            let builds = session.runtime?.programCache.records ?? []
            let compiled = builds.filter { !$0.cached }, cached = builds.filter(\.cached)
            let compileSeconds = compiled.reduce(0) { $0 + $1.seconds }, cachedSeconds = cached.reduce(0) { $0 + $1.seconds }
            let programs: [String: Any] = ["compiled": compiled.count, "compile_s": compileSeconds, "cached": cached.count, "cached_load_s": cachedSeconds]
            // The kernel family and the CPU profile the CPU-style kernels are sized for (none on the reference backend).
            let device = session.runtime?.device
            let style = device.map { options.kernelFamily(for: $0).rawValue } ?? "reference"
            let cpuProfile = device.map { options.cpuProfile(for: $0) }
            if json {
                let object: [String: Any] = [
                    "kernel_style": style, "cpu_profile": cpuProfile?.isa.rawValue ?? "",
                    "programs": programs, "kernel_launches": launches,
                    "cuts": ["per_inference": cuts.cuts, "bytes_read": cuts.bytesRead, "us_between_segments": perCutMicroseconds,
                             "plans_built_in_last_run": cuts.plansBuilt],
                    "model": model, "device": session.deviceDescription, "batch": batch, "iterations": iterations,
                    "load_s": loadTime.seconds, "first_inference_s": first.seconds, "images_per_s": imagesPerSecond,
                    "latency_ms": ["median": median * 1000, "p90": p90 * 1000, "min": latencies[0] * 1000],
                    "gflop_per_image": flops / Double(batch) / 1e9, "gflops_per_s": gflopsPerSecond,
                    "input_shapes": feeds.mapValues(\.shape), "saved_inputs": savedInputs,
                    "rss_mb_after_warmup": rssAfterWarmup, "rss_mb_end": rssEnd, "peak_rss_mb": MemoryStatus.read("VmHWM"),
                    "nodes": timings.map { ["node": $0.node, "op": $0.op, "ms": Double($0.nanoseconds) / 1e6, "gflops_per_s": $0.gflopsPerSecond ?? 0, "kernels": $0.kernels] },
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print("model:            \(model)")
            print("device:           \(session.deviceDescription)")
            if let cpuProfile { print("kernels:          \(style) style, CPU profile \(cpuProfile)") }
            print(String(format: "load:             %.3f s", loadTime.seconds))
            print(String(format: "first inference:  %.3f s (includes kernel builds and the plan)", first.seconds))
            print(String(format: "programs:         %d built from source (%.2f s; a driver may serve them from its own cache), %d from gpuinfer's program cache (%.2f s)", compiled.count,
                         compileSeconds, cached.count, cachedSeconds))
            print(String(format: "latency (batch %d, %d runs): median %.2f ms, p90 %.2f ms, min %.2f ms", batch, iterations, median * 1000, p90 * 1000, latencies[0] * 1000))
            print("kernels:          \(launches) launches per inference (first segment), one in-order queue")
            if cuts.cuts > 0 {
                print(String(format: "segments:         %d cuts per inference (data-dependent shapes): %d bytes of sizes read back, %.0f µs between segments per cut",
                             cuts.cuts, cuts.bytesRead, perCutMicroseconds))
            }
            print("input:            " + feeds.keys.sorted().map { "\($0) \(feeds[$0]!.shape)" }.joined(separator: ", "))
            print(String(format: "throughput:       %.3f images/s, %.1f GFLOP/s effective (%.2f GFLOP per image)",
                         imagesPerSecond, gflopsPerSecond, flops / Double(batch) / 1e9))
            print(String(format: "memory:           RSS %.1f MB after warm-up, %.1f MB at the end, peak %.1f MB",
                         rssAfterWarmup, rssEnd, MemoryStatus.read("VmHWM")))
            if profile, let choices = try? session.tuningChoices(for: feeds), !choices.isEmpty {
                let bySource = Dictionary(grouping: choices, by: \.source.rawValue).mapValues(\.count)
                print("tuned kernels:    " + bySource.keys.sorted().map { "\(bySource[$0]!) \($0)" }.joined(separator: ", ") + " (`gpuinfer tune`)")
            }
            if profile, !builds.isEmpty {
                print("\nprogram builds (kernel file, options; slowest first):")
                for b in builds.sorted(by: { $0.seconds > $1.seconds }) {
                    print(pad(String(format: "%.3f s", b.seconds), 10) + pad(b.cached ? "cache" : "source", 8) + b.file + ".cl " + b.options)
                }
            }
            if profile {
                let total = timings.reduce(UInt64(0)) { $0 + $1.nanoseconds }
                print("\nper-node device time (one profiled run, \(String(format: "%.2f", Double(total) / 1e6)) ms in kernels):")
                print(pad("node", 36) + pad("op", 22) + pad("ms", 10) + pad("share", 8) + pad("GFLOP/s", 9) + "kernels")
                for t in timings.sorted(by: { $0.nanoseconds > $1.nanoseconds }) {
                    print(pad(shown(t.node), 36) + pad(t.op, 22) + pad(String(format: "%.3f", Double(t.nanoseconds) / 1e6), 10)
                          + pad(String(format: "%.1f%%", 100 * Double(t.nanoseconds) / Double(max(total, 1))), 8)
                          + pad(t.gflopsPerSecond.map { String(format: "%.1f", $0) } ?? "-", 9) + t.kernels.joined(separator: ","))
                }
                var byKernel: [String: (ns: UInt64, launches: Int, nodes: Int)] = [:]
                for t in timings {
                    for (k, v) in t.kernelTimes {
                        byKernel[k, default: (0, 0, 0)].ns += v.nanoseconds
                        byKernel[k, default: (0, 0, 0)].launches += v.launches
                        byKernel[k, default: (0, 0, 0)].nodes += 1
                    }
                }
                print("\nper-kernel device time:")
                print(pad("kernel", 36) + pad("nodes", 8) + pad("launches", 10) + pad("ms", 10) + "share")
                for (k, v) in byKernel.sorted(by: { $0.value.ns > $1.value.ns }) {
                    print(pad(k, 36) + pad("\(v.nodes)", 8) + pad("\(v.launches)", 10) + pad(String(format: "%.3f", Double(v.ns) / 1e6), 10)
                          + String(format: "%.1f%%", 100 * Double(v.ns) / Double(max(total, 1))))
                }
                var byOp: [String: (ns: UInt64, nodes: Int)] = [:]
                for t in timings { byOp[t.op, default: (0, 0)].ns += t.nanoseconds; byOp[t.op, default: (0, 0)].nodes += 1 }
                print("\nper-op-type device time:")
                print(pad("op", 36) + pad("nodes", 8) + pad("ms", 10) + "share")
                for (op, v) in byOp.sorted(by: { $0.value.ns > $1.value.ns }) {
                    print(pad(op, 36) + pad("\(v.nodes)", 8) + pad(String(format: "%.3f", Double(v.ns) / 1e6), 10)
                          + String(format: "%.1f%%", 100 * Double(v.ns) / Double(max(total, 1))))
                }
            }
        }
    }

    /// Parses `HxW` (also `H×W`, `H,W`).
    static func parseSize(_ text: String?) throws -> (height: Int, width: Int)? {
        guard let text else { return nil }
        let parts = text.split(whereSeparator: { "x×X,".contains($0) }).compactMap { Int($0) }
        guard parts.count == 2, parts.allSatisfy({ $0 > 0 && $0 <= 16384 }) else {
            throw ValidationError("--size must be HEIGHTxWIDTH with positive sizes ≤ 16384, e.g. 448x672; got '\(text)'")
        }
        return (parts[0], parts[1])
    }

    /// Seeded inputs of the model's declared shapes. Dynamic dims: the first is `batch`; in a
    /// rank-4 image input dims 2 and 3 are `size` or the model's `gpuinfer.input_height/width`
    /// metadata; anything else is an error (the model must say its sizes).
    static func inputs(for m: Model, batch: Int, size: (height: Int, width: Int)? = nil) throws -> [String: Tensor] {
        let metaSize = Int(m.metadata[Preprocessing.Key.height] ?? "").flatMap { h in Int(m.metadata[Preprocessing.Key.width] ?? "").map { (h, $0) } }
        var feeds: [String: Tensor] = [:]
        for vi in m.inputs {
            guard let dims = vi.dims, vi.dtype == nil || vi.dtype == .float32 else {
                throw GPUInferError.invalidInput("input '\(vi.name)' has no static shape or is not float32; bench needs a model with declared input sizes")
            }
            var shape: [Int] = []
            for (i, d) in dims.enumerated() {
                if i == 0 { shape.append(batch) } else if dims.count == 4, i >= 2, let hw = size ?? metaSize, d == nil || size != nil {
                    shape.append(i == 2 ? hw.0 : hw.1)
                } else if let d { shape.append(d) } else {
                    throw GPUInferError.invalidInput("input '\(vi.name)' dimension \(i) is dynamic; give --size HxW")
                }
            }
            feeds[vi.name] = Verify.random(shape)
        }
        return feeds
    }
}

/// Resident memory of this process from /proc/self/status (Linux), in MB; 0 where unavailable.
enum MemoryStatus {
    static func read(_ field: String) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kb / 1024
        }
        return 0
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
