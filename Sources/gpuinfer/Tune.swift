// `gpuinfer tune MODEL --device N [--batch B] [--size HxW] [--time-limit S] [--json] [--reset]`:
// searches tile sizes of the model's tunable kernels on one device within a time budget and stores
// the fastest verified ones in the tuning database, which later sessions on that device use.
import ArgumentParser
import Foundation
import GPUInfer
import GPUInferVision
import GPUInferRetrieval

struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Search kernel tile sizes for a model on a device and store the fastest in the tuning database.",
        discussion: """
            Every distinct tunable kernel shape of the model (CPU style — blocked convolutions: CO×PX tile, PX only where the output is channel-blocked; blocked-layout depthwise: PX columns; \
            pixel-vectorized pointwise convolutions: CO×PX; Winograd GEMM: R×V block, channel-blocked K×PX; depthwise 3×3: rows per \
            work-item; GEMMs: rows×columns per work-item; the search spaces bounded by the CPU profile's \
            registers; GPU style — implicit-GEMM \
            convolutions and GEMMs: work-group tile, slice depth and outputs per work-item) is timed in isolation with OpenCL \
            profiling events (median of --repetitions runs), largest share of the model's time first, one \
            parameter at a time. A candidate whose output differs from the defaults' (beyond 1e-3 of the \
            output's largest magnitude) is rejected. The search stops when --time-limit is spent and saves \
            what it found. Then the whole model is timed with the defaults and with the tuned entries, \
            interleaved.

            The database is one JSON file per device (platform, device name, driver version) in \
            $GPUINFER_TUNING_DIR, else tuning/ beside the program cache ($GPUINFER_CACHE_DIR, \
            $XDG_CACHE_HOME/gpuinfer or ~/.cache/gpuinfer). Entries are keyed by kernel family and shape and \
            invalidated when the kernel's source changes. Environment overrides ($GPUINFER_CONV_TILE, \
            $GPUINFER_GEMM_TILE) beat the database; GPUINFER_NO_TUNING=1 ignores it.
            """
    )

    @Argument(help: "Zoo name (e.g. ssdlite_mobilenet_v2) or .onnx path (optional with --reset).") var model: String?
    @OptionGroup var deviceOption: DeviceOption
    @Option(help: "Batch size (replaces the first, dynamic, input dimension).") var batch: Int = 1
    @Option(help: "Input height×width for models with dynamic spatial sizes, e.g. 448x672.") var size: String?
    @Option(help: "Wall-clock budget in seconds, measurements included.") var timeLimit: Double = 120
    @Option(help: "Timed runs per candidate (median).") var repetitions: Int = 5
    @Option(help: "At most this many candidates per shape besides the defaults (default: the whole search).") var maxCandidates: Int?
    @Option(help: "Folder with generated models.") var modelsDir: String?
    @Flag(help: "Remove the device's tuning entries first (alone: only that).") var reset = false
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func validate() throws {
        guard batch >= 1, repetitions >= 1, timeLimit > 0 else { throw ValidationError("--batch and --repetitions must be ≥ 1, --time-limit > 0") }
        guard (maxCandidates ?? 1) >= 1 else { throw ValidationError("--max-candidates must be ≥ 1") }
        guard model != nil || reset else { throw ValidationError("give a MODEL to tune (or --reset)") }
        _ = try Bench.parseSize(size)
    }

    func run() throws {
        try reportingErrors {
            guard let database = TuningDatabase.default, database.directory != nil else {
                throw ValidationError("the tuning database is disabled (GPUINFER_NO_TUNING=1, or no GPUINFER_TUNING_DIR, cache folder or HOME)")
            }
            guard let info = try deviceOption.selection().resolve() else {
                throw ValidationError("tuning needs an OpenCL device (see `gpuinfer devices`), not the reference backend")
            }
            if reset {
                try database.reset(device: info)
                if !json { print("cleared the tuning entries of \(info.name) (\(database.fileURL(for: info)?.path ?? "-"))") }
            } else if let problem = database.problem(for: info), !json {
                print("note: \(problem); tuning replaces it")
            }
            guard let model else { return }
            let options = try deviceOption.executionOptions()
            let m = try Model(path: ModelZoo.resolve(model, modelsDir: modelsDir), options: LoadOptions(options))
            let feeds = try Bench.inputs(for: m, batch: batch, size: Bench.parseSize(size))
            let runtime = try CLRuntime(device: info, profiling: true, options: options)
            let tuner = try Tuner(model: m, runtime: runtime, database: database, options: options)
            if !json { tuner.progress = { print("  " + $0) } }
            if !json { print("tuning \(model) on \(info.name) for \(String(format: "%.0f", timeLimit)) s (inputs " + feeds.keys.sorted().map { "\($0) \(feeds[$0]!.shape)" }.joined(separator: ", ") + ")") }
            let report = try tuner.tune(inputs: feeds, options: TuningOptions(timeLimit: timeLimit, repetitions: repetitions, maxCandidates: maxCandidates))
            if json {
                let object: [String: Any] = [
                    "model": model, "device": report.device, "database": report.databaseFile ?? "", "elapsed_s": report.elapsed,
                    "budget_exhausted": report.budgetExhausted, "latency_ms": ["before": report.latencyBefore * 1000, "after": report.latencyAfter * 1000, "predicted_saving": report.expectedSaving * 1000],
                    "skipped": report.skipped,
                    "shapes": report.shapes.map { s in
                        [
                            "family": s.key.family, "signature": s.key.signature, "nodes": s.nodes, "defaults": s.defaults, "best": s.best,
                            "default_ms": Double(s.defaultNanoseconds) / 1e6, "best_ms": Double(s.bestNanoseconds) / 1e6, "measured": s.measured,
                            "rejected": s.rejected.map { ["parameters": $0.parameters, "reason": $0.reason] as [String: Any] },
                            "complete": s.complete, "stored": s.stored,
                        ] as [String: Any]
                    },
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print("\nper shape (isolated node time, median of \(repetitions)):")
            print(pad("kernel", 16) + pad("nodes", 7) + pad("default", 18) + pad("ms", 9) + pad("best", 18) + pad("ms", 9) + "signature")
            for s in report.shapes {
                print(pad(s.key.family, 16) + pad("\(s.nodes.count)", 7) + pad(TuningDatabase.format(s.defaults), 18)
                      + pad(String(format: "%.3f", Double(s.defaultNanoseconds) / 1e6), 9) + pad(TuningDatabase.format(s.best), 18)
                      + pad(String(format: "%.3f", Double(s.bestNanoseconds) / 1e6), 9) + s.key.signature
                      + (s.complete ? "" : " (partial)") + (s.rejected.isEmpty ? "" : " [\(s.rejected.count) rejected]"))
            }
            for s in report.skipped { print("skipped: \(s)") }
            let changed = report.shapes.filter { $0.best != $0.defaults }.count
            print(String(format: "\n%d shapes measured, %d changed, %d skipped; %.1f s%@", report.shapes.count, changed, report.skipped.count,
                         report.elapsed, report.budgetExhausted ? " (time budget spent)" : ""))
            print(String(format: "whole model (median of interleaved runs): defaults %.2f ms, tuned %.2f ms (%.2f×); timings on a shared machine are noisy",
                         report.latencyBefore * 1000, report.latencyAfter * 1000, report.latencyBefore / max(report.latencyAfter, 1e-9)))
            print(String(format: "isolated node times predict %.2f ms less per run", report.expectedSaving * 1000))
            print("database: \(report.databaseFile ?? "-")")
        }
    }
}
