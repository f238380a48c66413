// Root command and subcommand list.
import ArgumentParser
import GPUInfer

struct GPUInferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpuinfer",
        abstract: "CNN inference on OpenCL devices, verified against a pure-Swift reference.",
        subcommands: [Devices.self]
    )
}

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List OpenCL devices and the cpu reference backend.")
    func run() throws {
        let all = try CLDeviceInfo.all()
        for d in all {
            print("\(d.index)  \(d.platformName) | \(d.name) | \(d.type) | \(d.computeUnits) compute units | \(d.globalMemory / (1 << 20)) MiB")
        }
        print("cpu  gpuinfer reference backend (pure Swift)")
    }
}
