// `gpuinfer options`: the execution options table (`ExecutionOptions.table`): every GPUINFER_*
// variable with its allowed values, default, the value this environment gives it, and its meaning.
import ArgumentParser
import Foundation
import GPUInfer
import GPUInferVision
import GPUInferRetrieval

struct OptionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "options",
                                                    abstract: "List the execution options (GPUINFER_* variables): allowed values, defaults, current values.")
    @Flag(help: "Print a JSON array instead of the table.") var json = false

    func run() throws {
        try reportingErrors {
            // A bad value is reported like every command reports it (exit 1, the variable named).
            let current = try ExecutionOptions.fromEnvironment()
            let values = Dictionary(uniqueKeysWithValues: current.settings.map { ($0.name, $0.value) })
            let env = ProcessInfo.processInfo.environment
            if json {
                var rows: [[String: String]] = ExecutionOptions.table.map {
                    ["name": $0.name, "values": $0.values, "default": $0.defaultValue, "current": values[$0.name] ?? "", "help": $0.help]
                }
                rows += ExecutionOptions.folderVariables.map { ["name": $0.name, "values": "a path", "default": "", "current": env[$0.name] ?? "", "help": $0.help] }
                let data = try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            for e in ExecutionOptions.table {
                let value = values[e.name] ?? ""
                let set = env[e.name] != nil ? " (set)" : ""
                print("\(e.name) = \(value.isEmpty ? "<unset>" : value)\(set)")
                print("    \(e.help)")
                print("    values: \(e.values); default: \(e.defaultValue.isEmpty ? "<unset>" : e.defaultValue)")
            }
            for (name, help) in ExecutionOptions.folderVariables {
                print("\(name) = \(env[name].map { $0.isEmpty ? "<empty>" : $0 } ?? "<unset>")")
                print("    \(help)")
            }
            let folders = current.folders
            print("program cache: \(folders.cache?.path ?? "none"); tuning database: \(folders.tuning?.path ?? "none")")
        }
    }
}
