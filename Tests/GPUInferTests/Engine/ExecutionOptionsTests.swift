// ExecutionOptions (Runtime/ExecutionOptions.swift): the one table of GPUINFER_* variables —
// parsing, typed errors naming the variable, defaults, the README listing every variable, and the
// rule that no other library file reads the environment or the device type for kernel choice.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct ExecutionOptionsTests {
    @Test func defaultsWhenNothingIsSet() throws {
        let o = try ExecutionOptions.fromEnvironment([:])
        var expected = ExecutionOptions()
        expected.folders = ExecutionOptions.Folders()
        #expect(o == expected)
        #expect(o.summary == "defaults")
    }

    @Test func valuesParse() throws {
        let o = try ExecutionOptions.fromEnvironment([
            "GPUINFER_KERNEL_STYLE": "GPU", "GPUINFER_CONV": "generic", "GPUINFER_CONV_TILE": "8x3", "GPUINFER_CONV_PX": "4x2",
            "GPUINFER_CONV_DW": "rows", "GPUINFER_CONV_WINOGRAD": "4", "GPUINFER_CONV_WINOGRAD_R": "8", "GPUINFER_CONV_WINOGRAD_KB": "256",
            "GPUINFER_GEMM": "dot", "GPUINFER_GEMM_TILE": "2x4", "GPUINFER_POOL": "generic", "GPUINFER_ELEMENTWISE_V8": "off",
            "GPUINFER_TRANSPOSE_TILES": "0", "GPUINFER_NETVLAD_WPCA": "workgroup", "GPUINFER_ISQRTCOV_PRODUCT": "tile",
            "GPUINFER_SEARCH_SCORES": "tiled", "GPUINFER_COPY_WEIGHTS": "1", "GPUINFER_FUSE_RESIDUAL": "0", "GPUINFER_FUSE_ACTIVATIONS": "off", "GPUINFER_PIPELINE": "0",
            "GPUINFER_KERNEL_DIR": "/tmp/k", "GPUINFER_CACHE_DIR": "/tmp/c", "GPUINFER_MODELS": "/a:/b", "GPUINFER_CPU_PROFILE": "AVX2",
        ])
        #expect(o.cpuProfile == .avx2)
        #expect(try ExecutionOptions.fromEnvironment(["GPUINFER_CONV_WINOGRAD_R": "12x2"]).winogradTile == .init(12, 2))
        #expect(try ExecutionOptions.fromEnvironment(["GPUINFER_CPU_PROFILE": "auto"]).cpuProfile == nil)
        #expect(o.kernelStyle == .gpu && o.conv == .generic && o.convTile == .init(8, 3) && o.convPixelTile == .tile(.init(4, 2)))
        #expect(o.convDepthwise == .rows && o.winograd == .f4 && o.winogradTile == .init(8, 1) && o.winogradChunkKiB == 256)
        #expect(o.gemm == .dot && o.gemmTile == .init(2, 4) && o.pool == .generic && !o.elementwiseVector8 && !o.transposeTiles)
        #expect(o.netvladWPCA == .workgroup && o.isqrtcovProduct == .tile && o.searchScores == .tiled && o.copyWeights && !o.fuseResiduals)
        #expect(o.pipelineLookahead == 0 && o.kernelDirectory == "/tmp/k")
        #expect(o.folders.cache?.path == "/tmp/c" && o.folders.tuning?.path == "/tmp/c/tuning" && o.folders.models == ["/a", "/b"])
        #expect(!LoadOptions(o).fuseResiduals && !LoadOptions(o).fuseActivations && !o.fuseActivations)
        // Legacy spellings and empty values (= the default).
        #expect(try ExecutionOptions.fromEnvironment(["GPUINFER_CONV_WINOGRAD": "off"]).winograd == .off)
        #expect(try ExecutionOptions.fromEnvironment(["GPUINFER_CONV_WINOGRAD": "0"]).winograd == .off)
        #expect(try ExecutionOptions.fromEnvironment(["GPUINFER_CONV_TILE": ""]).convTile == nil)
        #expect(try ExecutionOptions.fromEnvironment(["GPUINFER_CONV_PX": "off"]).convPixelTile == .off)
        // The local-memory GEMM tile, and the GPU-style variants of the kernel choices.
        let local = try ExecutionOptions.fromEnvironment(["GPUINFER_LOCAL_TILE": "32x64x8/2x4", "GPUINFER_CONV": "gemm",
                                                          "GPUINFER_CONV_DW": "local", "GPUINFER_GEMM": "local"])
        #expect(local.localTile == LocalGemmTile(tsm: 32, tsn: 64, tsk: 8, wptm: 2, wptn: 4) && local.localTile?.description == "32x64x8/2x4")
        #expect(local.conv == .gemm && local.convDepthwise == .local && local.gemm == .local)
        #expect(try ExecutionOptions.fromEnvironment(["GPUINFER_LOCAL_TILE": ""]).localTile == nil)
    }

    /// Every bad value is a typed error naming the variable, the value and the allowed values.
    @Test(arguments: [
        ("GPUINFER_KERNEL_STYLE", "fpga"), ("GPUINFER_CONV", "fast"), ("GPUINFER_CONV_TILE", "3x5"), ("GPUINFER_CONV_TILE", "16x25"),
        ("GPUINFER_CONV_TILE", "8"), ("GPUINFER_CONV_TILE", "8x"), ("GPUINFER_CONV_PX", "9x1"), ("GPUINFER_CONV_DW", "cols"),
        ("GPUINFER_CONV_WINOGRAD", "3"), ("GPUINFER_CONV_WINOGRAD_R", "0"), ("GPUINFER_CONV_WINOGRAD_R", "six"),
        ("GPUINFER_CONV_WINOGRAD_KB", "1"), ("GPUINFER_GEMM", "blas"), ("GPUINFER_GEMM_TILE", "9x1"), ("GPUINFER_POOL", "x"),
        ("GPUINFER_ELEMENTWISE_V8", "maybe"), ("GPUINFER_NETVLAD_WPCA", "columns"), ("GPUINFER_ISQRTCOV_PRODUCT", "x"),
        ("GPUINFER_SEARCH_SCORES", "dense"), ("GPUINFER_COPY_WEIGHTS", "2"), ("GPUINFER_PIPELINE", "2"),
        ("GPUINFER_CONV_WINOGRAD_R", "99999999999999999999999"), ("GPUINFER_CONV_WINOGRAD_R", "8x5"), ("GPUINFER_CONV_WINOGRAD_R", "25x1"),
        ("GPUINFER_CPU_PROFILE", "avx1024"), ("GPUINFER_CPU_PROFILE", "AVX-512"),
        // Not the form, not divisible, 2048 work-items, 8 work-items, 64 KiB + of local memory, 0.
        ("GPUINFER_LOCAL_TILE", "64x64x16"), ("GPUINFER_LOCAL_TILE", "64x64x16/3x4"), ("GPUINFER_LOCAL_TILE", "128x128x8/1x8"),
        ("GPUINFER_LOCAL_TILE", "8x8x8/2x4"), ("GPUINFER_LOCAL_TILE", "256x256x64/8x8"), ("GPUINFER_LOCAL_TILE", "0x64x16/1x4"),
    ])
    func badValueIsATypedError(name: String, value: String) throws {
        #expect {
            try ExecutionOptions.fromEnvironment([name: value])
        } throws: { error in
            guard case let .invalidOption(n, v, allowed)? = error as? GPUInferError else { return false }
            return n == name && v == value && !allowed.isEmpty && "\(error)".contains(name) && "\(error)".contains("allowed")
        }
    }

    @Test func tableIsConsistent() {
        let names = ExecutionOptions.table.map(\.name)
        #expect(Set(names).count == names.count)
        #expect(names.allSatisfy { $0.hasPrefix("GPUINFER_") })
        for e in ExecutionOptions.table {
            // Each default parses and round-trips through `set`.
            var o = ExecutionOptions()
            #expect((try? o.set(e.name, e.defaultValue)) != nil, "\(e.name) default '\(e.defaultValue)'")
            #expect(o == ExecutionOptions(), "\(e.name)")
        }
        var o = ExecutionOptions()
        #expect(throws: GPUInferError.self) { try o.set("GPUINFER_NO_SUCH_OPTION", "1") }
    }

    /// The README documents every variable of the table and the folder variables.
    @Test func readmeListsEveryVariable() throws {
        let readme = try String(contentsOfFile: repoRoot.path + "/README.md", encoding: .utf8)
        for name in ExecutionOptions.table.map(\.name) + ExecutionOptions.folderVariables.map(\.name) {
            #expect(readme.contains(name), "README.md does not mention \(name)")
        }
    }

    /// Only Runtime/ExecutionOptions.swift reads the environment, and only it reads the device
    /// type to choose kernels (Session.swift reads it to pick the `auto` device, CLDevice.swift sets it).
    @Test func oneFileReadsTheEnvironment() throws {
        let root = repoRoot.path + "/Sources/GPUInfer"
        let files = FileManager.default.enumerator(atPath: root)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }
        var readers: [String] = [], typeReaders: [String] = []
        for f in files {
            let text = try String(contentsOfFile: root + "/" + f, encoding: .utf8)
            if text.contains("processInfo.environment") || text.contains("getenv(") { readers.append(f) }
            if text.contains(".isGPU") || text.contains("\\.isGPU") { typeReaders.append(f) }
        }
        #expect(readers == ["Runtime/ExecutionOptions.swift"])
        #expect(Set(typeReaders) == ["Runtime/ExecutionOptions.swift", "Runtime/Session.swift"])
    }
}

/// The command line: `gpuinfer options`, and a bad option value (variable or flag) exits 1 naming it.
@Suite struct ExecutionOptionsCLITests {
    @Test func optionsCommandPrintsTheTable() throws {
        let r = try gpuinfer(["options"], environment: ["GPUINFER_CONV_TILE": "8x3"])
        #expect(r.status == 0, "\(r.err)")
        for e in ExecutionOptions.table { #expect(r.out.contains(e.name), "\(e.name)") }
        #expect(r.out.contains("GPUINFER_CONV_TILE = 8x3 (set)"))
        let json = try gpuinfer(["options", "--json"])
        let rows = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: String]]
        #expect(rows?.count == ExecutionOptions.table.count + ExecutionOptions.folderVariables.count)
    }

    @Test(arguments: [["options"], ["run", "missing.onnx"], ["bench", "netvlad", "--iterations", "1"]])
    func badVariableExitsOneNamingIt(args: [String]) throws {
        let r = try gpuinfer(args, environment: ["GPUINFER_GEMM": "blas"])
        #expect(r.status == 1, "\(args): \(r.out) \(r.err)")
        #expect(r.err.contains("GPUINFER_GEMM") && r.err.contains("blas") && r.err.contains("tile, dot, rows"), "\(r.err)")
    }

    @Test func badKernelStyleFlagExitsOne() throws {
        let r = try gpuinfer(["run", "missing.onnx", "--kernel-style", "fpga"])
        #expect(r.status == 1)
        #expect(r.err.contains("--kernel-style") && r.err.contains("fpga") && r.err.contains("auto, gpu, cpu"), "\(r.err)")
    }
}
