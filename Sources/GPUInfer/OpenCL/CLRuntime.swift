// OpenCL handles (context, queue, buffer, program, kernel, event), each a final class that
// releases its handle in deinit.
//
// Concurrency: these classes are @unchecked Sendable because OpenCL's context, queue, buffer and
// program objects are thread-safe by the OpenCL 1.2 spec (appendix A.2). cl_kernel is not
// (clSetKernelArg): a CLKernel's arguments are set while a plan is built, the plan serialises its
// enqueues with a lock, and a kernel object shared between CLKernels is locked from its first
// argument to its enqueue.
import COpenCL
import GPUInferKernels
import Foundation

/// Counts the OpenCL objects a runtime has created and not yet released (for leak checks).
public final class CLObjectCounts: @unchecked Sendable {
    private let lock = NSLock()
    private var _buffers = 0, _kernels = 0, _bufferBytes = 0
    /// Live buffers, their bytes, and live kernel objects.
    public var buffers: Int { lock.withLock { _buffers } }
    public var bufferBytes: Int { lock.withLock { _bufferBytes } }
    public var kernels: Int { lock.withLock { _kernels } }
    func buffer(_ delta: Int, bytes: Int) { lock.withLock { _buffers += delta; _bufferBytes += delta * bytes } }
    func kernel(_ delta: Int) { lock.withLock { _kernels += delta } }
}

/// A device buffer.
public final class CLBuffer: @unchecked Sendable {
    let mem: cl_mem
    public let bytes: Int
    private let counts: CLObjectCounts
    /// The host array a `CL_MEM_USE_HOST_PTR` buffer wraps, kept alive (and never mutated) for as
    /// long as the buffer exists.
    private let hostStorage: Any?
    /// Whether the buffer wraps a host array instead of owning device memory.
    public var sharesHostMemory: Bool { hostStorage != nil }
    init(mem: cl_mem, bytes: Int, counts: CLObjectCounts, hostStorage: Any? = nil) {
        self.mem = mem
        self.bytes = bytes
        self.counts = counts
        self.hostStorage = hostStorage
        counts.buffer(1, bytes: bytes)
    }
    deinit {
        clReleaseMemObject(mem)
        counts.buffer(-1, bytes: bytes)
    }
}

/// The count of private kernel objects alive for one program (`CLRuntime.privateKernelLimit`).
final class ProgramKernelCount: @unchecked Sendable {
    private let lock = NSLock()
    private var live = 0
    /// Takes a private slot when fewer than `limit` are taken.
    func take(limit: Int) -> Bool {
        lock.withLock {
            guard live < limit else { return false }
            live += 1
            return true
        }
    }
    func release() { lock.withLock { live -= 1 } }
}

/// One kernel object shared by every CLKernel of a (program, kernel name) past the program's
/// private limit. Whoever enqueues it re-applies its own arguments first unless they are the ones
/// set last (`owner`), holding `lock` from the first argument to the enqueue.
final class SharedKernelHandle: @unchecked Sendable {
    let lock = NSLock()
    var handle: cl_kernel?
    /// `CLKernel.id` of the kernel whose arguments the handle holds (0: none).
    var owner: UInt64 = 0
    deinit { if let handle { clReleaseKernel(handle) } }
}

struct WeakSharedKernel { weak var value: SharedKernelHandle? }

/// A kernel object with its arguments. It may be created before its program has finished
/// building (programs build in parallel on background threads, `CLRuntime.kernel`): arguments set
/// before then are recorded and applied, in order, when the kernel object is created — at its
/// first enqueue or `materialize()`, which waits for the build and rethrows its error.
///
/// Past `CLRuntime.privateKernelLimit` kernel objects of one program, a CLKernel has no kernel
/// object of its own: it records its arguments and shares one object per kernel name with the
/// others (`SharedKernelHandle`). A driver that keeps a program's kernel objects in a list (PoCL
/// searches it on every `clReleaseKernel`) then never sees more than the limit plus one per
/// name, and building and releasing a plan stays linear in its node count.
public final class CLKernel: @unchecked Sendable {
    public let name: String
    private let counts: CLObjectCounts
    private let lock = NSLock()
    private var handle: cl_kernel?
    /// The program build this kernel waits for (nil once created), with its kernel file's name.
    private var pending: (build: ProgramBuild, file: String)?
    /// Arguments set before the kernel object exists: index, bytes (nil: `size` bytes of __local memory).
    private var deferred: [(index: Int, bytes: [UInt8]?, size: Int)] = []
    /// A shared kernel object (nil: this kernel has its own), with every argument set so far, by
    /// index, and whether one changed since they were last applied.
    private let shared: SharedKernelHandle?
    private var recorded: [Int: (bytes: [UInt8]?, size: Int)] = [:]
    private var changed = false
    /// The program's private-object count this kernel holds a slot of.
    private let slot: ProgramKernelCount?
    /// Unique for the process's lifetime (never reused, unlike an object's address).
    let id: UInt64

    private static let idLock = NSLock()
    nonisolated(unsafe) private static var lastID: UInt64 = 0
    private static func nextID() -> UInt64 { idLock.withLock { lastID += 1; return lastID } }

    init(kernel: cl_kernel, name: String, counts: CLObjectCounts) {
        self.handle = kernel
        self.name = name
        self.counts = counts
        self.shared = nil
        self.slot = nil
        self.id = Self.nextID()
        counts.kernel(1)
    }

    init(build: ProgramBuild, file: String, name: String, counts: CLObjectCounts,
         shared: SharedKernelHandle? = nil, slot: ProgramKernelCount? = nil) {
        self.pending = (build, file)
        self.name = name
        self.counts = counts
        self.shared = shared
        self.slot = slot
        self.id = Self.nextID()
        counts.kernel(1)
    }

    deinit {
        if let handle { clReleaseKernel(handle) }
        slot?.release()
        counts.kernel(-1)
    }

    /// Creates the kernel object in `program`.
    private func create(_ program: CLProgram, file: String) throws -> cl_kernel {
        var status: cl_int = 0
        guard let k = clCreateKernel(program.program, name, &status), status == CL_SUCCESS else {
            throw GPUInferError.openCL(status: status, call: "clCreateKernel", kernel: "\(file).cl:\(name)")
        }
        return k
    }

    /// The kernel object: waits for its program, creates it and applies the recorded arguments
    /// (a shared object: waits for the program and creates the object once; arguments are applied
    /// at each enqueue, `withHandle`).
    @discardableResult
    func materialize() throws -> cl_kernel {
        lock.lock()
        defer { lock.unlock() }
        return try materializeLocked()
    }

    private func materializeLocked() throws -> cl_kernel {
        if let handle { return handle }
        guard let (build, file) = pending else { throw GPUInferError.openCL(status: CL_INVALID_KERNEL, call: "clCreateKernel", kernel: name) }
        let program = try build.wait()
        if let shared {
            return try shared.lock.withLock {
                if let h = shared.handle { return h }
                let k = try create(program, file: file)
                shared.handle = k
                return k
            }
        }
        let k = try create(program, file: file)
        do {
            for arg in deferred {
                guard let bytes = arg.bytes else { try apply(k, arg.index, size: arg.size, value: nil); continue }
                try bytes.withUnsafeBytes { try apply(k, arg.index, size: arg.size, value: $0.baseAddress) }
            }
        } catch {
            clReleaseKernel(k)  // not kept half set up: the next call tries again and fails alike
            throw error
        }
        handle = k
        pending = nil
        deferred = []
        return k
    }

    /// Runs `body` with the kernel object holding this kernel's arguments; a shared object stays
    /// locked until `body` returns (the enqueue captures the arguments).
    func withHandle<R>(_ body: (cl_kernel) throws -> R) throws -> R {
        lock.lock()
        defer { lock.unlock() }
        let k = try materializeLocked()
        guard let shared else { return try body(k) }
        shared.lock.lock()
        defer { shared.lock.unlock() }
        if shared.owner != id || changed {
            shared.owner = 0  // half-applied arguments belong to nobody
            for (index, arg) in recorded.sorted(by: { $0.key < $1.key }) {
                guard let bytes = arg.bytes else { try apply(k, index, size: arg.size, value: nil); continue }
                try bytes.withUnsafeBytes { try apply(k, index, size: arg.size, value: $0.baseAddress) }
            }
            shared.owner = id
            changed = false
        }
        return try body(k)
    }

    private func apply(_ kernel: cl_kernel, _ index: Int, size: Int, value: UnsafeRawPointer?) throws {
        try clCheck(clSetKernelArg(kernel, cl_uint(index), size, value), "clSetKernelArg(\(index)\(value == nil ? ", local" : ""))", kernel: name)
    }

    /// Sets argument `index` to `size` bytes at `value` (nil: `size` bytes of __local memory), now
    /// or, before the kernel object exists, when it is created (a shared object: at each enqueue).
    private func setArgument(_ index: Int, size: Int, value: UnsafeRawPointer?) throws {
        lock.lock()
        defer { lock.unlock() }
        if shared != nil {
            recorded[index] = (value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }, size)
            changed = true
            return
        }
        guard let handle else {
            deferred.append((index, value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }, size))
            return
        }
        try apply(handle, index, size: size, value: value)
    }

    private func setBytes(_ index: Int, _ bytes: UnsafeRawBufferPointer) throws {
        try setArgument(index, size: bytes.count, value: bytes.baseAddress)
    }

    /// Sets argument `index` to a plain value (int, float, long).
    public func set<T: BitwiseCopyable>(_ index: Int, _ value: T) throws {
        try withUnsafeBytes(of: value) { try setBytes(index, $0) }
    }

    /// Sets argument `index` to an OpenCL int vector (`values.count` of 2, 4, 8 or 16) by value.
    public func set(_ index: Int, vector values: [Int32]) throws {
        try values.withUnsafeBytes { try setBytes(index, $0) }
    }

    /// Sets argument `index` to a buffer.
    public func set(_ index: Int, buffer: CLBuffer) throws {
        let mem: cl_mem? = buffer.mem
        try withUnsafeBytes(of: mem) { try setBytes(index, $0) }
    }

    /// Sets argument `index` to `bytes` of __local memory.
    public func setLocal(_ index: Int, bytes: Int) throws {
        try setArgument(index, size: bytes, value: nil)
    }
}

/// A program build running on a background thread, or finished: `wait()` returns the program or
/// rethrows the build's error.
final class ProgramBuild: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<CLProgram, any Error>?

    func finish(_ r: Result<CLProgram, any Error>) {
        condition.lock()
        result = r
        condition.broadcast()
        condition.unlock()
    }

    func wait() throws -> CLProgram {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let result { return try result.get() }
            condition.wait()
        }
    }
}

/// A built program for one device.
final class CLProgram: @unchecked Sendable {
    let program: cl_program
    let name: String
    init(program: cl_program, name: String) {
        self.program = program
        self.name = name
    }
    deinit { clReleaseProgram(program) }
}

/// An OpenCL event, kept for profiling.
public final class CLEvent: @unchecked Sendable {
    let event: cl_event
    init(event: cl_event) { self.event = event }
    deinit { clReleaseEvent(event) }

    /// Start→end time of the command in nanoseconds (needs a profiling queue).
    public func durationNanoseconds() throws -> UInt64 {
        var start: cl_ulong = 0
        var end: cl_ulong = 0
        try clCheck(clGetEventProfilingInfo(event, cl_profiling_info(CL_PROFILING_COMMAND_START), 8, &start, nil), "clGetEventProfilingInfo")
        try clCheck(clGetEventProfilingInfo(event, cl_profiling_info(CL_PROFILING_COMMAND_END), 8, &end, nil), "clGetEventProfilingInfo")
        return end >= start ? UInt64(end - start) : 0
    }
}

/// A context and an in-order command queue on one device, with its programs.
public final class CLRuntime: @unchecked Sendable {
    public let device: CLDeviceInfo
    let context: cl_context
    let queue: cl_command_queue
    public let profiling: Bool
    public let programCache: ProgramCache
    private let lock = NSLock()
    private var programs: [String: ProgramBuild] = [:]
    /// Live private kernel objects per program, and the shared kernel objects per (program, name).
    private var kernelCounts: [String: ProgramKernelCount] = [:]
    private var sharedKernels: [String: WeakSharedKernel] = [:]
    /// Kernel objects of one program a plan may own before further kernels of that program share
    /// one per name (`CLKernel`): 64 keeps the zoo models' kernels private (no argument is set at
    /// run time) and bounds the list PoCL searches when releasing one.
    var privateKernelLimit = 64
    /// Background program builds, at most one per processor at a time (OpenCL compilers run each
    /// build on one thread).
    private static let buildQueue = DispatchQueue(label: "gpuinfer.program-builds", attributes: .concurrent)
    private static let buildSlots = DispatchSemaphore(value: max(1, ProcessInfo.processInfo.activeProcessorCount))
    /// Buffers and kernel objects created through this runtime and still alive.
    public let liveObjects = CLObjectCounts()
    /// `ExecutionOptions.copyWeights`: constants are copied even where the device shares host memory.
    let copyWeights: Bool
    /// `ExecutionOptions.kernelDirectory`: kernel sources read from this folder.
    let kernelDirectory: String?

    /// Opens `device`; `profiling` enables per-command timing events. Of `options` the runtime
    /// uses the weight copies and the kernel folder (the kernel choices are the plans').
    public init(device: CLDeviceInfo, profiling: Bool = false, cache: ProgramCache = .default, options: ExecutionOptions = ExecutionOptions()) throws {
        self.device = device
        self.profiling = profiling
        self.programCache = cache
        copyWeights = options.copyWeights
        kernelDirectory = options.kernelDirectory
        var status: cl_int = 0
        var properties: [cl_context_properties] = [
            cl_context_properties(CL_CONTEXT_PLATFORM), cl_context_properties(Int(bitPattern: UnsafeRawPointer(device.platformID))), 0,
        ]
        var dev: cl_device_id? = device.deviceID
        guard let ctx = clCreateContext(&properties, 1, &dev, nil, nil, &status), status == CL_SUCCESS else {
            throw GPUInferError.openCL(status: status, call: "clCreateContext", kernel: nil)
        }
        let props: cl_command_queue_properties = profiling ? cl_command_queue_properties(CL_QUEUE_PROFILING_ENABLE) : 0
        guard let q = clCreateCommandQueue(ctx, device.deviceID, props, &status), status == CL_SUCCESS else {
            clReleaseContext(ctx)
            throw GPUInferError.openCL(status: status, call: "clCreateCommandQueue", kernel: nil)
        }
        context = ctx
        queue = q
    }

    deinit {
        clFinish(queue)
        clReleaseCommandQueue(queue)
        clReleaseContext(context)
    }

    /// Allocates an uninitialised buffer of `bytes` (at least 1 byte).
    public func buffer(bytes: Int) throws -> CLBuffer {
        let size = max(bytes, 4)
        if UInt64(size) > device.maxAllocation && device.maxAllocation > 0 {
            throw GPUInferError.outOfMemory(bytes: size, device: device.name)
        }
        var status: cl_int = 0
        guard let mem = clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE), size, nil, &status), status == CL_SUCCESS else {
            if status == CL_MEM_OBJECT_ALLOCATION_FAILURE || status == CL_OUT_OF_RESOURCES || status == CL_OUT_OF_HOST_MEMORY
                || status == CL_INVALID_BUFFER_SIZE {
                throw GPUInferError.outOfMemory(bytes: size, device: device.name)
            }
            throw GPUInferError.openCL(status: status, call: "clCreateBuffer(\(size) bytes)", kernel: nil)
        }
        return CLBuffer(mem: mem, bytes: size, counts: liveObjects)
    }

    /// A buffer holding `values`.
    public func buffer<T: BitwiseCopyable>(_ values: [T]) throws -> CLBuffer {
        let b = try buffer(bytes: values.count * MemoryLayout<T>.stride)
        if !values.isEmpty { try write(b, values) }
        return b
    }

    /// A read-only buffer with `values`. On devices that compute in host memory (PoCL) it wraps the
    /// array's own storage (`CL_MEM_USE_HOST_PTR`, no copy: model weights then exist once, not
    /// once on the host and once more "on the device"); elsewhere it is a copy like `buffer(_:)`.
    /// The buffer retains the array, so its storage stays allocated and, being shared, is never
    /// written in place (Swift copies an array on write when its storage is not uniquely held).
    /// Kernels must not write to it.
    public func constantBuffer<T: BitwiseCopyable>(_ values: [T]) throws -> CLBuffer {
        guard device.sharesHostMemory, !values.isEmpty, !copyWeights else {
            return try buffer(values)
        }
        let bytes = values.count * MemoryLayout<T>.stride
        if UInt64(bytes) > device.maxAllocation && device.maxAllocation > 0 {
            throw GPUInferError.outOfMemory(bytes: bytes, device: device.name)
        }
        var status: cl_int = 0
        // The pointer outlives the closure: Array storage is a heap object that does not move while
        // `hostStorage` below retains it (no bridging on Linux).
        let pointer = values.withUnsafeBytes { UnsafeMutableRawPointer(mutating: $0.baseAddress) }
        guard let mem = clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_ONLY | CL_MEM_USE_HOST_PTR), bytes, pointer, &status),
              status == CL_SUCCESS else {
            return try buffer(values)  // a driver that refuses the host pointer gets a copy
        }
        return CLBuffer(mem: mem, bytes: bytes, counts: liveObjects, hostStorage: values)
    }

    /// Blocking write of `values` at the start of `buffer`.
    public func write<T: BitwiseCopyable>(_ buffer: CLBuffer, _ values: [T]) throws {
        let bytes = values.count * MemoryLayout<T>.stride
        guard bytes <= buffer.bytes else {
            throw GPUInferError.invalidInput("write of \(bytes) bytes into a \(buffer.bytes)-byte buffer")
        }
        if bytes == 0 { return }
        let status = values.withUnsafeBytes { raw in
            clEnqueueWriteBuffer(queue, buffer.mem, cl_bool(CL_TRUE), 0, bytes, raw.baseAddress, 0, nil, nil)
        }
        try clCheck(status, "clEnqueueWriteBuffer")
    }

    /// Blocking read of `count` elements from the start of `buffer`.
    public func read<T: BitwiseCopyable>(_ buffer: CLBuffer, count: Int, as: T.Type = T.self) throws -> [T] {
        let bytes = count * MemoryLayout<T>.stride
        guard bytes <= buffer.bytes else {
            throw GPUInferError.invalidInput("read of \(bytes) bytes from a \(buffer.bytes)-byte buffer")
        }
        if count == 0 { return [] }
        var status: cl_int = 0
        let result = [T](unsafeUninitializedCapacity: count) { ptr, initialized in
            status = clEnqueueReadBuffer(queue, buffer.mem, cl_bool(CL_TRUE), 0, bytes, UnsafeMutableRawPointer(ptr.baseAddress), 0, nil, nil)
            initialized = count
        }
        try clCheck(status, "clEnqueueReadBuffer")
        return result
    }

    /// Enqueues a device-side copy.
    public func copy(from src: CLBuffer, to dst: CLBuffer, bytes: Int) throws {
        guard bytes > 0 else { return }
        try clCheck(clEnqueueCopyBuffer(queue, src.mem, dst.mem, 0, 0, bytes, 0, nil, nil), "clEnqueueCopyBuffer")
    }

    /// Waits for every enqueued command.
    public func finish() throws { try clCheck(clFinish(queue), "clFinish") }

    /// Number of programs this runtime has built or loaded (one per kernel file and option set;
    /// plans for new input shapes reuse them).
    public var programCount: Int { lock.withLock { programs.count } }

    /// Starts building (or finds) the program for the kernel file `file` (Kernels/<file>.cl) with
    /// `options` on a background thread, so the programs of a plan build in parallel while the
    /// plan is encoded (on devices without `buildsConcurrently`: builds it now). A failed build
    /// is forgotten (a later request tries again).
    func startProgram(file: String, options: String = "") throws -> ProgramBuild {
        let key = file + "\u{0}" + options
        lock.lock()
        defer { lock.unlock() }
        if let p = programs[key] { return p }
        guard let body = KernelLibrary.source(file, directory: kernelDirectory) else {
            throw GPUInferError.invalidModel(location: "kernel library", reason: "no kernel file '\(file).cl'")
        }
        let build = ProgramBuild()
        let cache = programCache, fullOptions = KernelLibrary.baseOptions + " " + options
        guard device.buildsConcurrently else {
            // One build at a time, here (the lock is held): a failure is thrown, not kept.
            build.finish(.success(try cache.build(runtime: self, name: file, source: body, options: fullOptions)))
            programs[key] = build
            return build
        }
        programs[key] = build
        Self.buildQueue.async { [self] in
            Self.buildSlots.wait()
            let result = Result { try cache.build(runtime: self, name: file, source: body, options: fullOptions) }
            Self.buildSlots.signal()
            if case .failure = result { lock.withLock { programs[key] = nil } }
            build.finish(result)
        }
        return build
    }

    /// Builds (or fetches) the program for the kernel file `file` with `options`, waiting for it.
    func program(file: String, options: String = "") throws -> CLProgram {
        try startProgram(file: file, options: options).wait()
    }

    /// A fresh kernel object for `name` in Kernels/<file>.cl. Its program builds in the background;
    /// the kernel object is created at `CLKernel.materialize()` or its first enqueue.
    /// Past `privateKernelLimit` live kernel objects of one program, the kernel shares one object
    /// per name with the others (`CLKernel`).
    public func kernel(_ name: String, file: String, options: String = "") throws -> CLKernel {
        let build = try startProgram(file: file, options: options)
        let key = file + "\u{0}" + options
        let (count, shared): (ProgramKernelCount, SharedKernelHandle?) = lock.withLock {
            let count = kernelCounts[key] ?? ProgramKernelCount()
            kernelCounts[key] = count
            if count.take(limit: privateKernelLimit) { return (count, nil) }
            let sharedKey = key + "\u{0}" + name
            if let h = sharedKernels[sharedKey]?.value { return (count, h) }
            let h = SharedKernelHandle()
            sharedKernels[sharedKey] = WeakSharedKernel(value: h)
            return (count, h)
        }
        return CLKernel(build: build, file: file, name: name, counts: liveObjects, shared: shared, slot: shared == nil ? count : nil)
    }

    /// Enqueues `kernel` over `global` work-items (rounded up to a multiple of `local` when given).
    @discardableResult
    public func enqueue(_ kernel: CLKernel, global: [Int], local: [Int]? = nil, wantEvent: Bool = false) throws -> CLEvent? {
        var g = global.map { max($0, 1) }
        if let local {
            for i in g.indices { g[i] = (g[i] + local[i] - 1) / local[i] * local[i] }
        }
        var event: cl_event?
        let status = try kernel.withHandle { handle in withUnsafeMutablePointer(to: &event) { eventPtr -> cl_int in
            let ep: UnsafeMutablePointer<cl_event?>? = wantEvent ? eventPtr : nil
            return g.withUnsafeBufferPointer { gp in
                if let local {
                    return local.withUnsafeBufferPointer { lp in
                        clEnqueueNDRangeKernel(queue, handle, cl_uint(g.count), nil, gp.baseAddress, lp.baseAddress, 0, nil, ep)
                    }
                }
                return clEnqueueNDRangeKernel(queue, handle, cl_uint(g.count), nil, gp.baseAddress, nil, 0, nil, ep)
            }
        } }
        try clCheck(status, "clEnqueueNDRangeKernel", kernel: kernel.name)
        return event.map(CLEvent.init)
    }

    /// Kernel objects now shared between CLKernels (`privateKernelLimit`).
    var sharedKernelObjects: Int { lock.withLock { sharedKernels.values.filter { $0.value != nil }.count } }

    /// Number of programs built or loaded in this context.
    public var loadedProgramCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return programs.count
    }
}

/// The embedded kernel sources.
enum KernelLibrary {
    /// Build options for every program: strict IEEE math (no -cl-fast-relaxed-math).
    static let baseOptions = "-cl-std=CL1.2"

    /// Source of Kernels/<file>.cl with Kernels/common.cl prepended, or nil; read from `directory`
    /// when it has the file (`ExecutionOptions.kernelDirectory`).
    static func source(_ file: String, directory: String? = nil) -> String? {
        if let dir = directory, !dir.isEmpty,
           let text = try? String(contentsOfFile: dir + "/" + file + ".cl", encoding: .utf8) {
            let common = (try? String(contentsOfFile: dir + "/common.cl", encoding: .utf8)) ?? ""
            return common + "\n" + text
        }
        guard let text = KernelSources.files[file] else { return nil }
        return (KernelSources.files["common"] ?? "") + "\n#line 1\n" + text
    }
}

extension CLRuntime {
    /// Runs a tiny kernel and checks its result: proves the device compiles and executes.
    public func selfTest() throws {
        let n = 1000
        let x = (0..<n).map { Float($0) * 0.5 }
        let xb = try buffer(x)
        let yb = try buffer(bytes: n * 4)
        let k = try kernel("selftest_axpb", file: "selftest")
        try k.set(0, buffer: xb)
        try k.set(1, buffer: yb)
        try k.set(2, Float(2))
        try k.set(3, Float(1))
        try k.set(4, Int32(n))
        try enqueue(k, global: [n], local: [min(64, device.maxWorkGroupSize)])
        let y = try read(yb, count: n, as: Float.self)
        for i in 0..<n where y[i] != 2 * x[i] + 1 {
            throw GPUInferError.invalidInput("device self-test failed on \(device.name): element \(i) is \(y[i]), expected \(2 * x[i] + 1)")
        }
    }
}
