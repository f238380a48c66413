// OpenCL runtime: device enumeration, typed errors, the on-disk program binary cache.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct RuntimeTests {
    @Test func enumeratesAtLeastOneDevice() throws {
        let all = try CLDeviceInfo.all()
        #expect(!all.isEmpty, "PoCL should provide a CPU device")
        for (i, d) in all.enumerated() {
            #expect(d.index == i)
            #expect(d.computeUnits >= 1)
            #expect(!d.name.isEmpty)
        }
    }

    @Test func selfTestRuns() throws {
        try TestDevice.require().selfTest()
    }

    @Test func unknownDeviceIsATypedError() throws {
        let count = try CLDeviceInfo.all().count
        #expect(throws: GPUInferError.deviceNotFound(requested: "99", available: count)) {
            _ = try DeviceSelection.openCL(99).resolve()
        }
        #expect(throws: GPUInferError.self) { _ = try DeviceSelection(parsing: "gpu7") }
    }

    @Test func errorsNameStatusCallAndKernel() {
        let e = GPUInferError.openCL(status: -54, call: "clEnqueueNDRangeKernel", kernel: "conv2d")
        #expect(e.description == "OpenCL error CL_INVALID_WORK_GROUP_SIZE (-54) in clEnqueueNDRangeKernel [conv2d]")
    }

    @Test func buildFailureCarriesTheLog() throws {
        let runtime = try TestDevice.require()
        let cache = ProgramCache(directory: nil)
        do {
            _ = try cache.build(runtime: runtime, name: "broken", source: "__kernel void k(__global float* x) { x[0] = undefined_name; }", options: "")
            Issue.record("a broken program built")
        } catch let GPUInferError.buildFailed(program, _, log) {
            #expect(program == "broken.cl")
            #expect(log.contains("undefined_name"), "build log: \(log)")
        }
    }

    /// Past `privateKernelLimit` kernel objects per program, nodes share one kernel object per kernel
    /// name and set their arguments at each enqueue (PoCL searches a program's kernel list on every
    /// release, which made plan teardown quadratic). A 45-node chain of Add/Mul/Relu (each node its
    /// own constant, so no two share arguments) under a limit of 3, run by four sessions at once on
    /// one runtime, twice each: every output equals the reference bit for bit (fp32 add, multiply and
    /// max are exact and run in the same order on both).
    @Test func kernelObjectsAreSharedPastTheLimit() throws {
        guard let info = TestDevice.info else { _ = try TestDevice.require(); return }
        var rng = TestRandom(seed: 21)
        var nodes: [Node] = [], initializers: [String: Tensor] = [:]
        var previous = "x"
        for i in 0..<45 {
            let out = "v\(i)"
            switch i % 3 {
            case 0, 1:
                let c = "c\(i)"
                initializers[c] = i % 2 == 0 ? rng.tensor([1, 16], 0.5, 1.5) : rng.tensor([16], -0.5, 0.5)
                nodes.append(Node(name: "n\(i)", opType: i % 3 == 0 ? "Mul" : "Add", inputs: [previous, c], outputs: [out], attributes: [:]))
            default:
                nodes.append(Node(name: "n\(i)", opType: "Relu", inputs: [previous], outputs: [out], attributes: [:]))
            }
            previous = out
        }
        let graph = Graph(nodes: nodes, inputs: [ValueInfo(name: "x", dtype: .float32, dims: [3, 16])],
                          outputs: [ValueInfo(name: previous, dtype: nil, dims: nil)], initializers: initializers, opset: 17)
        let model = try Model(graph: graph, options: LoadOptions(useFusedKernels: false, fuseActivations: false))
        let x = rng.tensor([3, 16], -2, 2)
        let expected = try #require(try ReferenceExecutor().run(model, inputs: ["x": x])[previous])

        let runtime = try CLRuntime(device: info)
        runtime.privateKernelLimit = 3
        let results = ResultBox()
        let last = previous
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            do {
                let session = Session(model: model, runtime: runtime, tuning: nil)
                for _ in 0..<2 { results.append(try session.run(["x": x])[last]) }
            } catch {
                results.fail("\(error)")
            }
        }
        #expect(results.errors.isEmpty, "\(results.errors)")
        #expect(results.tensors.count == 8)
        for t in results.tensors { #expect(t?.floats == expected.floats) }
        do {
            let held = Session(model: model, runtime: runtime, tuning: nil)
            try withExtendedLifetime(held) {
                let out = try held.run(["x": x])[last]
                #expect(out?.floats == expected.floats)
                #expect(runtime.sharedKernelObjects >= 2, "the chain's Add, Mul and Relu kernels past the limit share objects")
            }
        }
        #expect(runtime.sharedKernelObjects == 0, "shared kernel objects outlive their plans")
        #expect(runtime.liveObjects.kernels == 0)

        // The same chain under the default limit keeps every kernel object private.
        let plain = try CLRuntime(device: info)
        let session = Session(model: model, runtime: plain, tuning: nil)
        let plainOut = try session.run(["x": x])[last]
        #expect(plainOut?.floats == expected.floats)
        #expect(plain.sharedKernelObjects == 0)
    }

    @Test func secondLoadCompilesNothing() throws {
        guard let info = TestDevice.info else { throw GPUInferError.deviceNotFound(requested: "0", available: 0) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-cache-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = ProgramCache(directory: dir, evenWhereDriverCaches: true)
        try CLRuntime(device: info, cache: first).selfTest()
        #expect(first.compiles == 1)
        #expect(first.hits == 0)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".clbin") }
        #expect(files.count == 1)
        #expect(!files.contains { $0.hasSuffix(".tmp") })

        // A new process would start with a new cache object and a new context: nothing compiles.
        let second = ProgramCache(directory: dir, evenWhereDriverCaches: true)
        try CLRuntime(device: info, cache: second).selfTest()
        #expect(second.compiles == 0)
        #expect(second.hits == 1)

        // A corrupt entry falls back to compiling from source.
        let entry = dir.appendingPathComponent(files[0])
        try Data("GPUICLB2garbage".utf8).write(to: entry)
        let third = ProgramCache(directory: dir, evenWhereDriverCaches: true)
        try CLRuntime(device: info, cache: third).selfTest()
        #expect(third.compiles == 1 && third.discarded == 1)
    }

    /// The cache heals itself: an entry cut in half with its length header made consistent (which
    /// the driver would take and crash on) fails its checksum, is deleted, compiled from source and
    /// stored again, and the next load hits; a marker left by a dead process that was loading an
    /// entry discards it and keeps its key out of the cache from then on.
    @Test func damagedAndCrashProneEntriesAreRebuilt() throws {
        guard let info = TestDevice.info else { throw GPUInferError.deviceNotFound(requested: "0", available: 0) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-cache-heal-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try CLRuntime(device: info, cache: ProgramCache(directory: dir, evenWhereDriverCaches: true)).selfTest()
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.path).first { $0.hasSuffix(".clbin") })
        let entry = dir.appendingPathComponent(name)
        let good = [UInt8](try Data(contentsOf: entry))
        // Half the binary, the length field rewritten to match: only the checksum can tell.
        let half = (good.count - 48) / 2
        var cut = Array(good[0..<48 + half])
        for i in 0..<8 { cut[8 + i] = UInt8((UInt64(half) >> (8 * UInt64(i))) & 0xFF) }
        try Data(cut).write(to: entry)
        let healing = ProgramCache(directory: dir, evenWhereDriverCaches: true)
        try CLRuntime(device: info, cache: healing).selfTest()
        #expect(healing.hits == 0 && healing.compiles == 1 && healing.discarded == 1)
        // Stored again from source (a driver's binary need not be byte-identical from one build to
        // the next): well-formed, since a fresh cache loads it.
        #expect(FileManager.default.fileExists(atPath: entry.path), "rewritten from source")
        let healed = ProgramCache(directory: dir, evenWhereDriverCaches: true)
        try CLRuntime(device: info, cache: healed).selfTest()
        #expect(healed.hits == 1 && healed.compiles == 0)

        // A load that never returned: the marker of a process that has exited.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let key = String(name.dropLast(".clbin".count))
        let marker = dir.appendingPathComponent(key + ".loading")
        try Data("\(child.processIdentifier)".utf8).write(to: marker)
        #expect(ProgramCache.loadCrashedBefore(marker))
        let wary = ProgramCache(directory: dir, evenWhereDriverCaches: true)
        try CLRuntime(device: info, cache: wary).selfTest()
        #expect(wary.hits == 0 && wary.compiles == 1 && wary.discarded == 1)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(!left.contains(name) && !left.contains(key + ".loading") && left.contains(key + ".skip"), "\(left)")
        let after = ProgramCache(directory: dir, evenWhereDriverCaches: true)
        try CLRuntime(device: info, cache: after).selfTest()
        #expect(after.hits == 0 && after.compiles == 1 && !FileManager.default.fileExists(atPath: entry.path), "the key stays out of the cache")
        // A live process's marker (this one's) is another load in progress, not a crash.
        try Data("\(getpid())".utf8).write(to: marker)
        #expect(!ProgramCache.loadCrashedBefore(marker))
    }

    /// On a driver with its own program cache (PoCL) the default cache writes nothing: fetching a
    /// PoCL program's binary compiles every kernel in it (13 of NetVLAD's 20 s cold start).
    @Test func driverCacheKeepsOursOut() throws {
        guard let info = TestDevice.info else { throw GPUInferError.deviceNotFound(requested: "0", available: 0) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-cache-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = ProgramCache(directory: dir)
        try CLRuntime(device: info, cache: cache).selfTest()
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        #expect(info.driverCachesPrograms == (info.platformName == "Portable Computing Language"))
        #expect(files.isEmpty == info.driverCachesPrograms, "\(files)")
        #expect(cache.compiles == 1 && cache.records.count == 1 && cache.records[0].file == "selftest" && !cache.records[0].cached)
    }

    @Test func cacheKeyCoversSourceOptionsAndDevice() throws {
        guard let info = TestDevice.info else { return }
        let a = ProgramCache.key(source: "s", options: "", device: info)
        #expect(a.count == 64)
        #expect(a != ProgramCache.key(source: "s2", options: "", device: info))
        #expect(a != ProgramCache.key(source: "s", options: "-DX=1", device: info))
    }

    @Test func sha256KnownVectors() {
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array(String(repeating: "a", count: 1000).utf8)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test func outOfMemoryIsATypedErrorAndTheRuntimeStaysUsable() throws {
        let runtime = try TestDevice.require()
        let tooBig = Int(runtime.device.maxAllocation) + 1
        #expect(throws: GPUInferError.outOfMemory(bytes: tooBig, device: runtime.device.name)) {
            _ = try runtime.buffer(bytes: tooBig)
        }
        // A plan whose activations cannot be allocated fails the same way, and the next works.
        let huge = Int(runtime.device.maxAllocation / 4) + 1
        let model = try Model(graph: Graph(
            nodes: [Node(name: "e", opType: "Expand", inputs: ["x", "shape"], outputs: ["y"])],
            inputs: [ValueInfo(name: "x", dtype: .float32, dims: [1])], outputs: [ValueInfo(name: "y", dtype: nil, dims: nil)],
            initializers: ["shape": Tensor(shape: [1], ints: [Int64(huge)])], opset: 17))
        #expect(throws: GPUInferError.self) { _ = try Session(model: model, runtime: runtime).run(["x": .init(shape: [1], floats: [1])]) }
        try runtime.selfTest()
    }

    /// On PoCL (host-unified CPU memory) weight buffers wrap the host arrays: the device reads the
    /// same bytes, kernels see the right values, and the host array is unchanged afterwards.
    @Test func constantBuffersWrapHostArraysOnCPUDevices() throws {
        let runtime = try TestDevice.require()
        var rng = TestRandom(seed: 3)
        let w = rng.tensor([7, 5, 3, 3])
        let b = try runtime.constantBuffer(w.floats)
        #expect(b.sharesHostMemory == runtime.device.sharesHostMemory)
        if runtime.device.type == "CPU" { #expect(b.sharesHostMemory, "PoCL reports CL_DEVICE_HOST_UNIFIED_MEMORY") }
        #expect(try runtime.read(b, count: w.count, as: Float.self) == w.floats)
        // A model run through such buffers matches the reference and leaves its weights intact.
        let x = rng.tensor([2, 5, 9, 11])
        let model = try singleNodeModel("Conv", attributes: ["pads": .ints([1, 1, 1, 1])], inputs: [x, w], constant: [1])
        let before = model.graph.initializers["in1"]!.floats
        let device = try Session(model: model, runtime: runtime).run(["in0": x])["out0"]!
        let reference = try ReferenceExecutor().run(model, inputs: ["in0": x])["out0"]!
        assertClose(device, reference, rtol: 1e-5, atol: 1e-5, "Conv through a shared weight buffer")  // 45-term fp32 dots
        #expect(model.graph.initializers["in1"]!.floats == before)
    }

    /// Programs build in the background while a plan is encoded; a build that fails still fails
    /// the plan (a typed error naming the file), not a later run or the process. The kernels come
    /// from a folder (`GPUINFER_KERNEL_DIR`) holding every kernel file with conv.cl broken.
    @Test func backgroundBuildErrorFailsThePlan() throws {
        guard let info = TestDevice.info else { throw GPUInferError.deviceNotFound(requested: "0", available: 0) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-kernels-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let kernels = repoRoot.appendingPathComponent("Kernels")
        for f in try FileManager.default.contentsOfDirectory(atPath: kernels.path) where f.hasSuffix(".cl") {
            try FileManager.default.copyItem(at: kernels.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        try Data("__kernel void broken(__global float* x) { x[0] = no_such_name; }\n".utf8).write(to: dir.appendingPathComponent("conv.cl"))
        var options = ExecutionOptions()
        options.kernelDirectory = dir.path
        options.conv = .generic
        let runtime = try CLRuntime(device: info, cache: ProgramCache(directory: nil), options: options)
        var rng = TestRandom(seed: 3)
        let model = try singleNodeModel("Conv", attributes: attrs(["pads": [1, 1, 1, 1]]), inputs: [rng.tensor([1, 3, 5, 5]), rng.tensor([4, 3, 3, 3])],
                                        constant: [1])
        let session = try Session(model: model, runtime: runtime, options: options)
        #expect {
            _ = try session.run(["in0": rng.tensor([1, 3, 5, 5])])
        } throws: { error in
            guard case let .buildFailed(program, _, log)? = error as? GPUInferError else { return false }
            return program == "conv.cl" && log.contains("no_such_name")
        }
        // The failed build is forgotten: with the file repaired, the same runtime builds it.
        try Data(contentsOf: kernels.appendingPathComponent("conv.cl")).write(to: dir.appendingPathComponent("conv.cl"))
        let y = try #require(try session.run(["in0": rng.tensor([1, 3, 5, 5])])["out0"])
        #expect(y.shape == [1, 4, 5, 5])
    }

    /// Kernel objects made before their program is built record their arguments: many kernels of
    /// one new program, launched with arguments set before the build finished, compute the same.
    @Test func argumentsSetBeforeTheBuildAreApplied() throws {
        let runtime = try TestDevice.require()
        let x = try runtime.buffer([Float](repeating: 2, count: 64))
        var outputs: [CLBuffer] = []
        for i in 0..<6 {
            // A fresh option set: a program nobody has built yet in this runtime.
            let k = try runtime.kernel("un_clip_f", file: "elementwise", options: "-DGPUINFER_TEST_\(UUID().uuidString.prefix(8).filter(\.isLetter))=\(i)")
            let y = try runtime.buffer(bytes: 64 * 4)
            try k.set(0, Int32(64))
            try k.set(1, buffer: x)
            try k.set(2, buffer: y)
            try k.set(3, Float(0))
            try k.set(4, Float(Float(i) / 2))
            try k.set(5, Int32(0))
            try runtime.enqueue(k, global: [64])
            outputs.append(y)
        }
        try runtime.finish()
        for (i, y) in outputs.enumerated() {
            #expect(try runtime.read(y, count: 64, as: Float.self) == [Float](repeating: min(2, Float(i) / 2), count: 64))
        }
    }

    /// On PoCL every launch that leaves the work-group shape open gets 8 × 1 × …: one compilation
    /// per kernel instead of one per layer (and SSDLite ran 1.5× faster with it).
    @Test func fixedWorkGroupShapesOnPoCL() throws {
        let runtime = try TestDevice.require()
        let ctx = EncodeContext(runtime: runtime, node: Node(name: "n", opType: "Relu", inputs: [], outputs: []))
        if runtime.device.compilesPerWorkGroupShape {
            #expect(ctx.fixedLocal([86, 1, 8]) == [8, 1, 1] && ctx.fixedLocal([3]) == [8])
        } else {
            #expect(ctx.fixedLocal([86, 1, 8]) == nil)
        }
    }
}

/// Results collected from concurrent sessions.
private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var tensors: [Tensor?] = []
    private(set) var errors: [String] = []
    func append(_ t: Tensor?) { lock.withLock { tensors.append(t) } }
    func fail(_ e: String) { lock.withLock { errors.append(e) } }
}
