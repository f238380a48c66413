// Build-tool plugin: turns every Kernels/*.cl file into a Swift string constant, so the
// OpenCL C sources travel inside the binary (Bundle.module does not survive copying it).
import Foundation
import PackagePlugin

@main
struct EmbedKernels: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let kernels = target.sourceFiles
            .map(\.url)
            .filter { $0.pathExtension == "cl" }
            .sorted { $0.path < $1.path }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedKernels.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(kernels.count) OpenCL kernel sources",
                executable: try context.tool(named: "EmbedKernelsTool").url,
                arguments: [output.path] + kernels.map(\.path),
                inputFiles: kernels,
                outputFiles: [output]
            )
        ]
    }
}
