// gpuinfer-fuzz: the structure-aware fuzzer (Sources/GPUInferFuzz) with a supervisor. Mutants run in
// worker processes; the driver watches each worker's progress file, so a crash (a signal, a trap)
// or a hang (no progress for --timeout seconds) is caught, the mutant saved under --findings, and
// the worker restarted after it. Untyped errors are reported by the workers themselves.
//
//   gpuinfer-fuzz models --mutants 100000 --jobs 2 --device 0     ONNX mutants, reference + device
//   gpuinfer-fuzz index --mutants 20000                           retrieval index folders
//   gpuinfer-fuzz cli --mutants 2000 --binary .build/release/gpuinfer   argument values
//   gpuinfer-fuzz show --seed 1 --index 1234 --write m.onnx       one models mutant, to reproduce
// Exit status 1 when anything was found.
import ArgumentParser
import Foundation
import GPUInfer
import GPUInferFuzz

struct RunOptions: ParsableArguments {
    @Option(help: "Run seed: mutant N of seed S is the same on every machine.") var seed: UInt64 = 1
    @Option(help: "Mutants to run.") var mutants: Int = 10_000
    @Option(help: "First mutant index.") var start: Int = 0
    @Option(help: "Worker processes (each supervised).") var jobs: Int = 2
    @Option(help: "Seconds without progress before a worker counts as hung.") var timeout: Double = 120
    @Option(help: "Folder for findings, worker logs and summary.json.") var findings: String = "fuzz-findings"
    @Option(help: "Seed model folders (models target; repeatable).") var seeds: [String] = ["Tests/data/generated/onnx-node", "Tests/data/generated/loader", "Tests/data/generated/sample_cnn.onnx"]
    @Option(help: "OpenCL device index the mutants also run on, or `cpu` for the reference backend only.") var device: String = "0"
    @Option(help: "Memory budget of the reference backend per worker, in MB (HostMemory.budget).") var memoryBudgetMb: Int = 512
    @Option(help: "Share of the models mutants that also run on the device (0…1).") var deviceShare: Double = 1

    func validate() throws {
        guard mutants >= 0, start >= 0, jobs >= 1, jobs <= 64, timeout > 0, memoryBudgetMb > 0, (0...1).contains(deviceShare) else {
            throw ValidationError("--mutants and --start must be ≥ 0, --jobs 1…64, --timeout and --memory-budget-mb > 0, --device-share 0…1")
        }
    }
}

/// Loads the seed models of `folders` (a folder of models or one .onnx file each).
func loadSeeds(_ folders: [String]) throws -> [FuzzSeed] {
    var seeds: [FuzzSeed] = []
    for f in folders {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: f, isDirectory: &isDir) else { continue }
        if isDir.boolValue {
            seeds += try FuzzSeed.corpus(in: f)
        } else {
            let dir = (f as NSString).deletingLastPathComponent
            seeds += try FuzzSeed.corpus(in: dir.isEmpty ? "." : dir).filter { ($0.name as NSString).lastPathComponent == (f as NSString).lastPathComponent }
        }
    }
    guard !seeds.isEmpty else { throw ValidationError("no seed models under \(folders) (Tests/generate-test-data.sh writes them)") }
    return seeds
}

func openRuntime(_ device: String) throws -> CLRuntime? {
    guard device != "cpu" else { return nil }
    guard let info = try DeviceSelection(parsing: device).resolve() else { return nil }
    return try CLRuntime(device: info, cache: ProgramCache(directory: nil))
}

/// Writes `index` at the start of the progress file (the driver reads the mutant a worker is on).
final class Progress {
    let fd: Int32
    init(path: String) throws {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw GPUInferError.io(path: path, reason: "cannot create the progress file") }
    }
    func set(_ index: Int) {
        var text = Array(String(index).utf8)
        text += [UInt8](repeating: 0x20, count: max(0, 24 - text.count))
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }
    deinit { close(fd) }
}

/// Prints a JSON line (one object) on stdout.
func emit(_ object: [String: Any]) {
    if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }
}

// MARK: - the worker: runs mutants from..<to of one target

struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Runs a range of mutants (started by the driver).", shouldDisplay: false)
    @Option var target: String
    @Option var from: Int
    @Option var to: Int
    @Option var progress: String
    @OptionGroup var options: RunOptions

    func run() throws {
        HostMemory.budget = options.memoryBudgetMb << 20
        let progressFile = try Progress(path: progress)
        var counts: [String: Int] = [:]
        func flush() { if !counts.isEmpty { emit(["counts": counts]); counts = [:] } }
        switch target {
        case "models":
            let fuzzer = ModelFuzzer(seeds: try loadSeeds(options.seeds), seed: options.seed, runtime: try openRuntime(options.device),
                                     deviceShare: options.deviceShare)
            for i in from..<to {
                progressFile.set(i)
                switch fuzzer.check(i) {
                case let .ran(device): counts[device == true ? "ran on both backends" : "ran on the reference", default: 0] += 1
                case let .refused(stage, kind): counts["refused at \(stage): \(kind)", default: 0] += 1
                case let .untyped(stage, error):
                    counts["untyped", default: 0] += 1
                    emit(["finding": "untyped error", "index": i, "stage": stage, "error": error, "mutations": fuzzer.mutant(i).mutations])
                }
                if (i - from) % 200 == 199 { flush() }
            }
        case "index":
            let fuzzer = try IndexFuzzer(seed: options.seed, runtime: try openRuntime(options.device))
            for i in from..<to {
                progressFile.set(i)
                switch fuzzer.check(i) {
                case .ran: counts["loaded and searched", default: 0] += 1
                case let .refused(_, kind): counts["refused: \(kind)", default: 0] += 1
                case let .untyped(stage, error):
                    counts["untyped", default: 0] += 1
                    emit(["finding": "untyped error", "index": i, "stage": stage, "error": error, "mutations": [fuzzer.mutant(i).what]])
                }
                if (i - from) % 200 == 199 { flush() }
            }
        default:
            throw ValidationError("unknown target \(target)")
        }
        flush()
    }
}

// MARK: - the driver

final class Findings: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var list: [[String: Any]] = []
    private(set) var counts: [String: Int] = [:]
    private(set) var covered = 0
    func add(_ f: [String: Any]) { lock.withLock { list.append(f) } }
    func add(counts c: [String: Int]) { lock.withLock { for (k, v) in c { counts[k, default: 0] += v } } }
    func cover(_ n: Int) { lock.withLock { covered += n } }
}

/// Runs `target` over the mutant range in `options.jobs` supervised workers.
func supervise(target: String, options: RunOptions, describe: @escaping @Sendable (Int) -> (mutations: [String], save: ((String) -> Void)?)) throws -> Findings {
    try FileManager.default.createDirectory(atPath: options.findings, withIntermediateDirectories: true)
    let findings = Findings()
    let executable = CommandLine.arguments[0].contains("/") ? CommandLine.arguments[0] : (Bundle.main.executablePath ?? CommandLine.arguments[0])
    let per = (options.mutants + options.jobs - 1) / options.jobs
    DispatchQueue.concurrentPerform(iterations: options.jobs) { job in
        var current = options.start + job * per
        let end = min(options.start + options.mutants, current + per)
        var attempt = 0
        while current < end {
            attempt += 1
            let progress = "\(options.findings)/progress-\(target)-\(job).txt"
            let log = "\(options.findings)/worker-\(target)-\(job)-\(attempt).jsonl"
            FileManager.default.createFile(atPath: log, contents: nil)
            FileManager.default.createFile(atPath: progress, contents: Data(String(current).utf8))
            let p = Process()
            p.executableURL = URL(fileURLWithPath: executable)
            p.arguments = ["worker", "--target", target, "--from", String(current), "--to", String(end), "--progress", progress,
                           "--seed", String(options.seed), "--device", options.device, "--memory-budget-mb", String(options.memoryBudgetMb),
                           "--device-share", String(options.deviceShare)]
                + options.seeds.flatMap { ["--seeds", $0] }
            p.standardOutput = FileHandle(forWritingAtPath: log)
            p.standardError = FileHandle(forWritingAtPath: "/dev/null")
            func at() -> Int { Int(((try? String(contentsOfFile: progress, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespaces)) ?? current }
            do { try p.run() } catch {
                findings.add(["finding": "worker did not start", "error": "\(error)"])
                return
            }
            var last = at(), lastChange = Date()
            var hung = false
            while p.isRunning {
                usleep(200_000)
                let now = at()
                if now != last { last = now; lastChange = Date() }
                if Date().timeIntervalSince(lastChange) > options.timeout {
                    kill(p.processIdentifier, SIGKILL)
                    hung = true
                }
            }
            p.waitUntilExit()
            let failed = at()
            for line in ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n") {
                guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
                if let c = o["counts"] as? [String: Int] { findings.add(counts: c) } else { findings.add(o) }
            }
            if !hung && p.terminationReason == .exit && p.terminationStatus == 0 {
                findings.cover(end - current)
                current = end
                continue
            }
            let d = describe(failed)
            let kind = hung ? "hang (no progress for \(Int(options.timeout)) s)"
                : p.terminationReason == .uncaughtSignal ? "crash (signal \(p.terminationStatus))" : "worker exit \(p.terminationStatus)"
            var f: [String: Any] = ["finding": kind, "index": failed, "mutations": d.mutations]
            if let save = d.save {
                let path = "\(options.findings)/\(target)-\(failed).onnx"
                save(path)
                f["saved"] = path
            }
            findings.add(f)
            findings.cover(failed + 1 - current)
            current = failed + 1
        }
    }
    return findings
}

func report(_ name: String, _ findings: Findings, options: RunOptions, started: Date) throws {
    let seconds = Date().timeIntervalSince(started)
    print("gpuinfer-fuzz \(name): \(findings.covered) mutants (seed \(options.seed), from \(options.start)) in \(String(format: "%.0f", seconds)) s, \(options.jobs) jobs")
    for (k, v) in findings.counts.sorted(by: { $0.value > $1.value }) { print("  \(v)\t\(k)") }
    print("findings: \(findings.list.count)")
    for f in findings.list.prefix(50) {
        print("  " + TerminalText.name(String(describing: f)))
    }
    let summary: [String: Any] = ["target": name, "mutants": findings.covered, "seconds": seconds, "seed": options.seed, "start": options.start,
                                  "counts": findings.counts, "findings": findings.list]
    try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys])
        .write(to: URL(fileURLWithPath: "\(options.findings)/summary-\(name).json"))
    if !findings.list.isEmpty { throw ExitCode(1) }
}

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Fuzz the ONNX loader, passes and both backends with structure-aware model mutants.")
    @OptionGroup var options: RunOptions
    func run() throws {
        let started = Date()
        let fuzzer = ModelFuzzer(seeds: try loadSeeds(options.seeds), seed: options.seed, runtime: nil)
        print("\(fuzzer.seeds.count) seed models")
        let findings = try supervise(target: "models", options: options) { i in
            let m = fuzzer.mutant(i)
            return (["seed \(m.seed.name)"] + m.mutations, { path in try? m.bytes.write(to: URL(fileURLWithPath: path)) })
        }
        try report("models", findings, options: options, started: started)
    }
}

struct Index: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Fuzz the retrieval index reader and search with structure-aware mutants of its files.")
    @OptionGroup var options: RunOptions
    func run() throws {
        let started = Date()
        let fuzzer = try IndexFuzzer(seed: options.seed, runtime: nil)
        let findings = try supervise(target: "index", options: options) { i in
            let m = fuzzer.mutant(i)
            return ([m.what], { path in try? m.bytes.write(to: URL(fileURLWithPath: path + "." + m.file)) })
        }
        try report("index", findings, options: options, started: started)
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print (and write) one models mutant, to reproduce a finding.")
    @Option var seed: UInt64 = 1
    @Option var index: Int
    @Option var seeds: [String] = ["Tests/data/generated/onnx-node", "Tests/data/generated/loader", "Tests/data/generated/sample_cnn.onnx"]
    @Option(help: "Write the mutant here.") var write: String?
    @Option(help: "Also run it on this OpenCL device (`cpu`: the reference backend only).") var device: String = "cpu"
    @Option(help: "Memory budget of the reference backend, in MB, as in the workers.") var memoryBudgetMb: Int = 512
    func run() throws {
        HostMemory.budget = memoryBudgetMb << 20
        let fuzzer = ModelFuzzer(seeds: try loadSeeds(seeds), seed: seed, runtime: try openRuntime(device))
        let m = fuzzer.mutant(index)
        print("seed model: \(m.seed.name)")
        for x in m.mutations { print("  " + TerminalText.name(x)) }
        if let write { try m.bytes.write(to: URL(fileURLWithPath: write)) }
        print("outcome: \(fuzzer.check(index))")
    }
}

@main
struct FuzzCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpuinfer-fuzz",
        abstract: "Structure-aware fuzzing of gpuinfer: ONNX models, index folders and CLI arguments.",
        subcommands: [Models.self, Index.self, CLIArguments.self, Show.self, Worker.self])
}
