// Enumerates every OpenCL platform and device. PoCL and each GPU driver are separate platforms;
// devices get one global index across all of them, in platform order.
import COpenCL
import Foundation

/// One OpenCL device, as found on one platform.
/// @unchecked Sendable: platform and device ids are process-lifetime identifiers, never freed.
public struct CLDeviceInfo: @unchecked Sendable, CustomStringConvertible {
    /// Global index across all platforms (`--device N`).
    public let index: Int
    public let platformName: String
    public let platformVersion: String
    public let name: String
    public let vendor: String
    public let driverVersion: String
    public let deviceVersion: String
    public let type: String
    public let isGPU: Bool
    public let computeUnits: Int
    public let globalMemory: UInt64
    public let maxAllocation: UInt64
    public let maxWorkGroupSize: Int
    public let localMemory: UInt64
    /// The device computes in host memory (`CL_DEVICE_HOST_UNIFIED_MEMORY`) and is a CPU: buffers
    /// can wrap host arrays (`CL_MEM_USE_HOST_PTR`) instead of copying them.
    public let sharesHostMemory: Bool
    /// `CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT`: floats per native vector (PoCL: 16 on AVX-512, 8 on AVX2).
    public let nativeFloatVectorWidth: Int
    let platformID: cl_platform_id
    let deviceID: cl_device_id

    public var description: String { "\(name) (\(platformName))" }

    /// What the CPU-style kernels are sized for on this device (`ExecutionOptions.cpuProfile` overrides it).
    public var cpuProfile: CPUProfile { CPUProfile.detect(name: name, nativeFloatWidth: nativeFloatVectorWidth, isGPU: isGPU) }

    private var isPoCL: Bool { platformName == "Portable Computing Language" }

    /// Whether the driver keeps its own cache of built programs and gpuinfer's binary cache
    /// (ProgramCache) should stay out of its way: PoCL caches every build in POCL_CACHE_DIR, and
    /// asked for a program's binary it first compiles every kernel of the program for a generic
    /// work-group size (the binary holds them all) — on NetVLAD 13 of a 20 s cold start (2 cores),
    /// to save 0.3 s when warm.
    public var driverCachesPrograms: Bool { isPoCL }

    /// Whether the driver compiles a kernel again for every work-group shape it is launched with
    /// (PoCL: ~0.1 s each). Launches that leave the shape to the driver then get a fixed one
    /// (`EncodeContext.launch`): PoCL's own choice follows each layer's sizes, which cost SSDLite
    /// 81 compilations on its first inference.
    public var compilesPerWorkGroupShape: Bool { isPoCL }

    /// Whether programs may build on several threads at once (`CLRuntime.startProgram`). OpenCL
    /// allows it; Oclgrind 21.10 crashes inside LLVM when two builds overlap (seen in CI), so its
    /// programs build one at a time on the calling thread.
    public var buildsConcurrently: Bool { platformName != "Oclgrind" }

    /// Whether CLBlast carries tuned GEMM parameters for this device: GPUs of the vendors its
    /// database covers (NVIDIA, AMD, Intel, Arm, Qualcomm, Apple, Imagination). Elsewhere its
    /// untuned defaults lose to our kernels (PoCL CPU: 15–19 GFLOP/s against 60–210, TOOLCHAIN.md),
    /// and Oclgrind, a simulator, is no tuned GPU either.
    public var clblastTuned: Bool {
        guard isGPU else { return false }
        let v = vendor.lowercased()
        return ["nvidia", "advanced micro devices", "amd", "intel", "arm", "qualcomm", "apple", "imagination"].contains { v.contains($0) }
    }

    /// Whether CLBlast may run here at all (`GPUINFER_GEMM=clblast` included): not on Oclgrind
    /// 21.10, where a process that ran CLBlast corrupts its heap at exit (glibc aborts after every
    /// result was right), so forcing it there falls back to our GEMM kernels.
    public var runsCLBlast: Bool { platformName != "Oclgrind" }

    /// Serialises enumeration: PoCL's first-use device initialisation is not thread-safe
    /// (concurrent clGetDeviceIDs calls return CL_DEVICE_NOT_FOUND or crash).
    private static let enumerationLock = NSLock()

    /// Lists every device of every platform. No platform at all is an empty list, not an error.
    public static func all() throws -> [CLDeviceInfo] {
        enumerationLock.lock()
        defer { enumerationLock.unlock() }
        var count: cl_uint = 0
        let status = clGetPlatformIDs(0, nil, &count)
        if status == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || count == 0 { return [] }
        try clCheck(status, "clGetPlatformIDs")
        var platforms = [cl_platform_id?](repeating: nil, count: Int(count))
        try clCheck(clGetPlatformIDs(count, &platforms, nil), "clGetPlatformIDs")
        var result: [CLDeviceInfo] = []
        for case let platform? in platforms {
            var n: cl_uint = 0
            let s = clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), 0, nil, &n)
            if s == CL_DEVICE_NOT_FOUND || n == 0 { continue }
            try clCheck(s, "clGetDeviceIDs")
            var devices = [cl_device_id?](repeating: nil, count: Int(n))
            try clCheck(clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), n, &devices, nil), "clGetDeviceIDs")
            let pname = platformString(platform, cl_platform_info(CL_PLATFORM_NAME))
            let pversion = platformString(platform, cl_platform_info(CL_PLATFORM_VERSION))
            for case let device? in devices {
                let type: cl_device_type = deviceValue(device, cl_device_info(CL_DEVICE_TYPE)) ?? 0
                let typeName: String
                if type & cl_device_type(CL_DEVICE_TYPE_GPU) != 0 { typeName = "GPU" }
                else if type & cl_device_type(CL_DEVICE_TYPE_CPU) != 0 { typeName = "CPU" }
                else if type & cl_device_type(CL_DEVICE_TYPE_ACCELERATOR) != 0 { typeName = "accelerator" }
                else { typeName = "other" }
                let units: cl_uint = deviceValue(device, cl_device_info(CL_DEVICE_MAX_COMPUTE_UNITS)) ?? 1
                let mem: cl_ulong = deviceValue(device, cl_device_info(CL_DEVICE_GLOBAL_MEM_SIZE)) ?? 0
                let alloc: cl_ulong = deviceValue(device, cl_device_info(CL_DEVICE_MAX_MEM_ALLOC_SIZE)) ?? 0
                let wg: Int = deviceValue(device, cl_device_info(CL_DEVICE_MAX_WORK_GROUP_SIZE)) ?? 1
                let local: cl_ulong = deviceValue(device, cl_device_info(CL_DEVICE_LOCAL_MEM_SIZE)) ?? 0
                let unified: cl_bool = deviceValue(device, cl_device_info(CL_DEVICE_HOST_UNIFIED_MEMORY)) ?? 0
                let floatWidth: cl_uint = deviceValue(device, cl_device_info(CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT)) ?? 0
                result.append(CLDeviceInfo(
                    index: result.count, platformName: pname, platformVersion: pversion,
                    name: deviceString(device, cl_device_info(CL_DEVICE_NAME)),
                    vendor: deviceString(device, cl_device_info(CL_DEVICE_VENDOR)),
                    driverVersion: deviceString(device, cl_device_info(CL_DRIVER_VERSION)),
                    deviceVersion: deviceString(device, cl_device_info(CL_DEVICE_VERSION)),
                    type: typeName, isGPU: typeName == "GPU", computeUnits: Int(units),
                    globalMemory: UInt64(mem), maxAllocation: UInt64(alloc), maxWorkGroupSize: wg,
                    localMemory: UInt64(local), sharesHostMemory: unified != 0 && typeName == "CPU",
                    nativeFloatVectorWidth: Int(floatWidth), platformID: platform, deviceID: device))
            }
        }
        return result
    }

    private static func platformString(_ p: cl_platform_id, _ param: cl_platform_info) -> String {
        var size = 0
        guard clGetPlatformInfo(p, param, 0, nil, &size) == CL_SUCCESS, size > 0 else { return "" }
        var bytes = [CChar](repeating: 0, count: size + 1)
        guard clGetPlatformInfo(p, param, size, &bytes, nil) == CL_SUCCESS else { return "" }
        return String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .trimmingCharacters(in: " ")
    }

    static func deviceString(_ d: cl_device_id, _ param: cl_device_info) -> String {
        var size = 0
        guard clGetDeviceInfo(d, param, 0, nil, &size) == CL_SUCCESS, size > 0 else { return "" }
        var bytes = [CChar](repeating: 0, count: size + 1)
        guard clGetDeviceInfo(d, param, size, &bytes, nil) == CL_SUCCESS else { return "" }
        return String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .trimmingCharacters(in: " ")
    }

    static func deviceValue<T: BitwiseCopyable>(_ d: cl_device_id, _ param: cl_device_info) -> T? {
        var value: UInt64 = 0
        let ok = withUnsafeMutableBytes(of: &value) { raw -> Bool in
            clGetDeviceInfo(d, param, MemoryLayout<T>.size, raw.baseAddress, nil) == CL_SUCCESS
        }
        guard ok else { return nil }
        return withUnsafeBytes(of: value) { $0.loadUnaligned(as: T.self) }
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return String(s)
    }
}
