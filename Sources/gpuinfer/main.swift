// The gpuinfer command-line tool. `gpuinfer --device N <command> …` is accepted as well as
// `gpuinfer <command> --device N …`: a leading --device moves after the subcommand name.
import ArgumentParser
import GPUInfer
import GPUInferVision
import GPUInferRetrieval

var arguments = Array(CommandLine.arguments.dropFirst())
if arguments.count >= 3, arguments[0] == "--device" {
    let device = Array(arguments[0...1])
    arguments.removeFirst(2)
    arguments.insert(contentsOf: device, at: 1)
} else if let first = arguments.first, first.hasPrefix("--device="), arguments.count >= 2 {
    arguments.removeFirst()
    arguments.insert(first, at: 1)
}
GPUInferCommand.main(arguments)
