// `gpuinfer devices`: every OpenCL device on every platform, and the reference backend.
import ArgumentParser
import GPUInfer

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List OpenCL devices and the cpu reference backend.")

    @Flag(help: "Compile and run a small kernel on every device and report the result.")
    var check = false

    func run() throws {
        let all: [CLDeviceInfo]
        do { all = try CLDeviceInfo.all() } catch { throw fail(error) }
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
