// The gpuinfer command-line tool. `gpuinfer --device N <command> …` is accepted as well as
// `gpuinfer <command> --device N …`: a leading --device moves after the subcommand name.
import ArgumentParser
import Foundation
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
// Parse and run as ArgumentParser's `main` does, but print its messages (usage errors quote the
// user's argument values) through TerminalText, like every other line the tool prints.
do {
    var command = try GPUInferCommand.parseAsRoot(arguments)
    try command.run()
} catch {
    let code = GPUInferCommand.exitCode(for: error)
    let message = GPUInferCommand.fullMessage(for: error)
    if !message.isEmpty {
        let text = TerminalText.lines(message) + "\n"
        if code == .success { print(text, terminator: "") } else { FileHandle.standardError.write(Data(text.utf8)) }
    }
    GPUInferCommand.exit(withError: code == .success ? nil : ExitCode(code.rawValue))
}
