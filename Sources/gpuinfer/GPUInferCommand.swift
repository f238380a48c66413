// Root command and subcommand list.
import ArgumentParser
import GPUInfer
import GPUInferVision
import GPUInferRetrieval

struct GPUInferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpuinfer",
        abstract: "CNN inference on OpenCL devices, verified against a pure-Swift reference.",
        groupedSubcommands: [
            // The engine on any ONNX model (GPUInfer).
            CommandGroup(name: "Engine", subcommands: [Devices.self, Run.self, Verify.self, Info.self, Bench.self, Tune.self, OptionsCommand.self]),
            // The model zoo on images (GPUInferVision) and retrieval over image folders (GPUInferRetrieval).
            CommandGroup(name: "Applications", subcommands: [NetVLADCommand.self, MPNCOVCommand.self, SSDLiteCommand.self, IndexCommand.self,
                                                             SearchCommand.self, CompareCommand.self, BenchSearch.self, EvalCommand.self, MergeCommand.self]),
        ]
    )
}

/// Options shared by commands that run a model.
struct DeviceOption: ParsableArguments {
    @Option(name: .long, help: "OpenCL device index (see `gpuinfer devices`), `cpu` for the reference backend, or `auto`.")
    var device: String = "auto"
    @Option(name: .long, help: "Kernel family: gpu (work-group kernels), cpu (register-blocked CPU kernels) or auto (the device's type); overrides $GPUINFER_KERNEL_STYLE.")
    var kernelStyle: String?
    @Option(name: .long, help: "Storage of memory-bound weight streams on CPU-style devices (NetVLAD's WPCA, fully connected layers): fp32, bf16 or fp16, widened to fp32 in the kernels; overrides $GPUINFER_WEIGHT_PRECISION.")
    var precision: String?

    func selection() throws -> DeviceSelection { try DeviceSelection(parsing: device) }

    /// The execution options: the GPUINFER_* variables (`gpuinfer options`), then this command's flags.
    func executionOptions() throws -> ExecutionOptions {
        var options = try ExecutionOptions.fromEnvironment()
        if let kernelStyle {
            guard let style = ExecutionOptions.KernelStyle(rawValue: kernelStyle.lowercased()) else {
                throw GPUInferError.invalidOption(name: "--kernel-style", value: kernelStyle,
                                                  allowed: ExecutionOptions.KernelStyle.allCases.map(\.rawValue).joined(separator: ", "))
            }
            options.kernelStyle = style
        }
        if let precision {
            guard let p = WeightPrecision(rawValue: precision.lowercased()) else {
                throw GPUInferError.invalidOption(name: "--precision", value: precision,
                                                  allowed: WeightPrecision.allCases.map(\.rawValue).joined(separator: ", "))
            }
            options.weightPrecision = p
        }
        return options
    }
}

/// `--input NAME=FILE.npy` arguments, loaded.
func loadInputs(_ specs: [String], model: Model) throws -> [String: Tensor] {
    var feeds: [String: Tensor] = [:]
    for spec in specs {
        let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
        let (name, path): (String, String)
        if parts.count == 2 {
            (name, path) = (parts[0], parts[1])
        } else if model.inputs.count == 1 {
            (name, path) = (model.inputs[0].name, spec)
        } else {
            throw ValidationError("--input expects NAME=FILE.npy (model inputs: \(model.inputs.map(\.name).joined(separator: ", ")))")
        }
        guard feeds[name] == nil else { throw ValidationError("input '\(name)' given twice") }
        feeds[name] = try Npy.read(path: path)
    }
    return feeds
}

/// Runs a command's body and reports its errors the one way every command does: the argument
/// parser's own (ValidationError: usage and exit 64; ExitCode; CleanExit) pass through, any other
/// error is printed as `error: …` on stderr and exits 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ValidationError {
        throw e
    } catch let e as ExitCode {
        throw e
    } catch let e as CleanExit {
        throw e
    } catch {
        FileHandleWriter.write("error: \(error)\n")
        throw ExitCode.failure
    }
}
