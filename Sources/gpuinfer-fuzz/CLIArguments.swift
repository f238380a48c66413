// CLI argument fuzzing: command lines of the gpuinfer binary with one value, option or path
// replaced by a hostile one (numbers at the edges, NaN, empty, control characters, very long
// strings, devices and folders as files). Each runs as its own process: a signal, a hang, a Swift
// runtime failure on stderr or a failure with nothing said is a finding.
import ArgumentParser
import Foundation
import GPUInfer
import GPUInferFuzz

struct CLIArguments: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cli", abstract: "Fuzz the gpuinfer command line's argument values.")
    @OptionGroup var options: RunOptions
    @Option(help: "The gpuinfer binary.") var binary: String = ".build/release/gpuinfer"
    @Option(help: "A small model for the command lines.") var model: String = "Tests/data/generated/sample_cnn.onnx"

    static let hostile: [String] = [
        "-1", "0", "1", "2", "-0", "65536", "2147483648", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "1e999", "nan", "inf", "-inf", "0x10", "1.5", "", " ", "--", "-", "\u{1B}]0;pwned\u{07}", "a\nb", String(repeating: "9", count: 5000),
        "/dev/zero", "/dev/null", "/", "/proc/self/mem", "missing.onnx", "x=", "=x", "input=", "input=/dev/zero", "0x0", "3x", "x3",
        "99999x99999", "-1x-1", "auto", "cpu", "gpu", "bf16", "fp8", "999",
    ]

    func run() throws {
        let started = Date()
        try FileManager.default.createDirectory(atPath: options.findings, withIntermediateDirectories: true)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-fuzz-cli-\(getpid())").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let input = work + "/input.npy"
        try Npy.encode(Tensor(shape: [1, 3, 32, 32], floats: (0..<3072).map { Float($0 % 17) / 17 })).write(to: URL(fileURLWithPath: input))
        let dev = options.device
        let bases: [[String]] = [
            ["run", model, "--device", dev, "--input", "input=\(input)", "--output-dir", work + "/out"],
            ["bench", model, "--device", dev, "--batch", "2", "--iterations", "2", "--warmup", "0"],
            ["bench", model, "--device", "cpu", "--iterations", "1", "--warmup", "0", "--size", "32x32"],
            ["info", model],
            ["verify", model, "--device", dev],
            ["bench-search", "--device", dev, "--entries", "1000", "--dim", "16", "--queries", "2", "--iterations", "1"],
            ["options"],
        ]
        let findings = Findings()
        let counter = Counter(options.start)
        let end = options.start + options.mutants
        DispatchQueue.concurrentPerform(iterations: options.jobs) { _ in
            while true {
                let i = counter.take()
                guard i < end else { return }
                let args = Self.mutant(i, seed: options.seed, bases: bases)
                let (outcome, finding) = Self.check(binary: binary, args: args, timeout: options.timeout, cwd: work)
                findings.add(counts: [outcome: 1])
                findings.cover(1)
                if finding { findings.add(["finding": outcome, "index": i, "arguments": args.map { String($0.prefix(80)) }]) }
            }
        }
        try report("cli", findings, options: options, started: started)
    }

    static func mutant(_ i: Int, seed: UInt64, bases: [[String]]) -> [String] {
        var rng = FuzzRandom(run: seed, mutant: i)
        var args = rng.pick(bases)
        for _ in 0..<(1 + rng.below(2)) {
            switch rng.below(6) {
            case 0, 1, 2:
                // A value: an option's argument or the model path.
                let values = args.indices.filter { $0 > 0 && !args[$0].hasPrefix("--") }
                if let k = values.isEmpty ? nil : rng.pick(values) { args[k] = rng.pick(hostile) }
            case 3:
                let flags = args.indices.filter { args[$0].hasPrefix("--") && $0 + 1 < args.count }
                if let k = flags.isEmpty ? nil : rng.pick(flags) { args += [args[k], rng.pick(hostile)] }
            case 4:
                if args.count > 1 { args.remove(at: 1 + rng.below(args.count - 1)) }
            default:
                args.append(rng.pick(["--batch", "--iterations", "--entries", "--dim", "--chunk-bytes", "--size", "--precision", "--kernel-style", "--unknown", "--device"]))
                args.append(rng.pick(hostile))
            }
        }
        return args
    }

    /// Runs one command line; the outcome and whether it is a finding.
    static func check(binary: String, args: [String], timeout: Double, cwd: String) -> (String, Bool) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: cwd)
        let err = cwd + "/stderr-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: err, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: err) }
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        p.standardError = FileHandle(forWritingAtPath: err)
        var env = ProcessInfo.processInfo.environment
        env["XDG_CACHE_HOME"] = cwd + "/cache"
        p.environment = env
        do { try p.run() } catch { return ("could not start: \(error)", true) }
        let started = Date()
        var hung = false
        while p.isRunning {
            usleep(20_000)
            if Date().timeIntervalSince(started) > timeout { kill(p.processIdentifier, SIGKILL); hung = true }
        }
        p.waitUntilExit()
        let stderr = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        if hung { return ("hang (over \(Int(timeout)) s)", true) }
        if p.terminationReason == .uncaughtSignal { return ("crash (signal \(p.terminationStatus))", true) }
        if stderr.contains("Fatal error") || stderr.contains("Swift runtime failure") || stderr.contains("Assertion") {
            return ("runtime failure: \(stderr.prefix(200))", true)
        }
        if p.terminationStatus != 0 && stderr.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            return ("exit \(p.terminationStatus) with nothing on stderr", true)
        }
        if stderr.unicodeScalars.contains(where: { $0.value == 0x1B || $0.value == 0x07 }) {
            return ("control characters on stderr", true)
        }
        return (p.terminationStatus == 0 ? "ran" : "refused (exit \(p.terminationStatus))", false)
    }
}

/// The next mutant index, shared by the jobs.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int
    init(_ start: Int) { value = start }
    func take() -> Int { lock.withLock { defer { value += 1 }; return value } }
}
