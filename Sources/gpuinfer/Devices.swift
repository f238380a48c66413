// `gpuinfer devices`: every OpenCL device on every platform, and the reference backend.
import ArgumentParser
import Foundation
import GPUInfer
import GPUInferVision
import GPUInferRetrieval

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List OpenCL devices and the cpu reference backend.")

    @Flag(help: "Compile and run a small kernel on every device and report the result.")
    var check = false
    @Flag(help: "Print a JSON array of the OpenCL devices instead of the table.")
    var json = false

    func run() throws {
        var all: [CLDeviceInfo] = []
        try reportingErrors { all = try CLDeviceInfo.all() }
        defer {
            if check {
                for d in all {
                    do {
                        try CLRuntime(device: d).selfTest()
                        print("device \(d.index): self-test passed")
                    } catch {
                        print("device \(d.index): self-test FAILED: \(error)")
                    }
                }
            }
        }
        if json {
            let objects: [[String: Any]] = all.map {
                ["index": $0.index, "platform": $0.platformName, "platform_version": $0.platformVersion, "name": $0.name,
                 "vendor": $0.vendor, "driver_version": $0.driverVersion, "device_version": $0.deviceVersion, "type": $0.type,
                 "compute_units": $0.computeUnits, "global_memory_bytes": $0.globalMemory, "max_allocation_bytes": $0.maxAllocation,
                 "max_work_group_size": $0.maxWorkGroupSize, "local_memory_bytes": $0.localMemory]
            }
            let data = try JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print(pad("index", 6) + pad("platform", 32) + pad("device", 36) + pad("type", 6) + pad("CUs", 5) + "global memory")
        for d in all {
            let mem = String(format: "%.1f GiB", Double(d.globalMemory) / Double(1 << 30))
            print(pad("\(d.index)", 6) + pad(d.platformName, 32) + pad(d.name, 36) + pad(d.type, 6) + pad("\(d.computeUnits)", 5) + mem)
        }
        print(pad("cpu", 6) + pad("gpuinfer", 32) + pad("reference backend (pure Swift)", 36) + pad("CPU", 6) + pad("1", 5) + "host memory")
        if all.isEmpty { print("no OpenCL device found (Debian: apt-get install pocl-opencl-icd for a CPU device)") }
    }
}

func pad(_ s: String, _ n: Int) -> String {
    let t = s.count >= n ? String(s.prefix(n - 1)) : s
    return t + String(repeating: " ", count: n - t.count)
}
