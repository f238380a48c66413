// Root command and subcommand list.
import ArgumentParser
import GPUInfer

struct GPUInferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpuinfer",
        abstract: "CNN inference on OpenCL devices, verified against a pure-Swift reference.",
        subcommands: [Devices.self, Run.self, Verify.self, Info.self, NetVLADCommand.self, MPNCOVCommand.self, SSDLiteCommand.self,
                      Bench.self, Tune.self, IndexCommand.self, SearchCommand.self, CompareCommand.self, BenchSearch.self, OptionsCommand.self]
    )
}

/// Options shared by commands that run a model.
struct DeviceOption: ParsableArguments {
    @Option(name: .long, help: "OpenCL device index (see `gpuinfer devices`), `cpu` for the reference backend, or `auto`.")
    var device: String = "auto"
    @Option(name: .long, help: "Kernel family: gpu (work-group kernels), cpu (register-blocked CPU kernels) or auto (the device's type); overrides $GPUINFER_KERNEL_STYLE.")
    var kernelStyle: String?

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

/// Prints an error the way every command does and returns the failure exit code to throw.
func fail(_ error: Error) -> ExitCode {
    FileHandleWriter.write("error: \(error)\n")
    return ExitCode.failure
}
