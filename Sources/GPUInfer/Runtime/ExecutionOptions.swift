// Execution options: every knob that changes which kernels run (and where the caches live), in one
// typed struct. `ExecutionOptions.fromEnvironment()` is the only code in the library that reads
// the environment: one table of names, allowed values, defaults and help text (`gpuinfer options`
// prints it). A bad value is a typed error naming the variable and its allowed values. The kernel
// style (`kernelFamily(for:)`) is the one place the device type decides between GPU- and
// CPU-style kernels.
import Foundation

/// Which kernels a plan uses. The defaults are the engine's choices; the other values exist for
/// A/B measurements, tuning and the tests that reach every variant.
public struct ExecutionOptions: Sendable, Equatable {
    /// The kernel family: work-group GPU kernels or register-blocked CPU kernels.
    public enum KernelStyle: String, Sendable, CaseIterable { case auto, gpu, cpu }
    /// `generic` keeps every convolution on the direct kernels (conv2d_c4p2 / conv2d_c1p4 and the
    /// pointwise GEMM): no blocked, depthwise, pixel, Winograd or local-memory kernel. `gemm` runs
    /// every convolution but depthwise 3×3 on the GPU style's local-memory implicit GEMM
    /// (conv2d_gemm) in any kernel style.
    public enum ConvMode: String, Sendable, CaseIterable { case auto, generic, gemm }
    /// `gemm` keeps pointwise convolutions on the strided GEMM on every device.
    public enum PointwiseMode: String, Sendable, CaseIterable { case auto, gemm }
    /// Depthwise 3×3 kernel: `local` the GPU style's local-memory tile kernel on any device, `gpu`
    /// the per-work-item GPU kernel (conv2d_dw3x3), `rows` conv2d_dw3x3_cpu for every stride.
    public enum DepthwiseMode: String, Sendable, CaseIterable { case auto, local, gpu, rows }
    /// Winograd for 3×3 stride-1 convolutions on the blocked path: the rule, never, wherever it
    /// applies, or F(2×2, 3×3) / F(4×4, 3×3) wherever it applies.
    public enum WinogradMode: String, Sendable, CaseIterable {
        case auto, off = "0", everywhere = "1", f2 = "2", f4 = "4"
    }
    /// GEMM kernel (where its layout condition holds).
    public enum GemmKernel: String, Sendable, CaseIterable { case auto, clblast, local, tile, dot, rows }
    /// `generic` keeps pooling on the per-element kernels.
    public enum PoolMode: String, Sendable, CaseIterable { case auto, generic }
    /// Activation layout between CPU-style convolutions (Passes/BlockedLayout.swift): auto = blocked on
    /// CPU style, nchw everywhere, blocked = the channel-blocked layout [N][C/16][H][W][16] (CPU style only).
    public enum LayoutMode: String, Sendable, CaseIterable { case auto, nchw, blocked }
    /// NetVLAD's WPCA projection kernel.
    public enum NetVLADWPCA: String, Sendable, CaseIterable { case auto, workgroup, rows }
    /// iSQRT-COV's Newton–Schulz product kernel.
    public enum ISqrtCovProduct: String, Sendable, CaseIterable { case auto, tile, blocked }
    /// Retrieval scores kernel.
    public enum SearchScores: String, Sendable, CaseIterable { case auto, tiled, packed }
    /// A register tile of two extents (output channels × pixels, rows × columns).
    public struct Tile: Sendable, Equatable, CustomStringConvertible {
        public var a: Int, b: Int
        public init(_ a: Int, _ b: Int) { (self.a, self.b) = (a, b) }
        public var description: String { "\(a)x\(b)" }
    }
    /// conv1x1_px: the rule's tile, never, or this tile wherever it applies.
    public enum PixelTile: Sendable, Equatable { case auto, off, tile(Tile) }

    public var kernelStyle: KernelStyle = .auto
    /// The CPU profile the CPU-style kernels are sized for; nil: the device's (`CLDeviceInfo.cpuProfile`).
    public var cpuProfile: CPUProfile.ISA?
    public var conv: ConvMode = .auto
    /// conv2d_blocked's tile (CO 4, 8 or 16 × PX 1…24); nil: the tuning database, else the default.
    public var convTile: Tile?
    public var convPointwise: PointwiseMode = .auto
    public var convPixelTile: PixelTile = .auto
    public var convDepthwise: DepthwiseMode = .auto
    public var winograd: WinogradMode = .auto
    /// The Winograd GEMM's register block: output channels (1…24) × panels of 16 tiles (1…4) per
    /// work-item; nil: the tuning database, else the CPU profile's default.
    public var winogradTile: Tile?
    /// The channel-blocked Winograd GEMM's register block: blocks of 16 output channels (1…4) ×
    /// tiles (1…24), one float16 accumulator each; nil: the tuning database, else the CPU profile's default.
    public var winogradBlockedTile: Tile?
    /// Budget of the Winograd workspace per chunk of tiles, in KiB (the two buffers stay in L2).
    public var winogradChunkKiB = 1024
    /// Tiles per Winograd chunk (a multiple of 16) instead of the budget's, for tests that must
    /// reach several chunks; no environment variable.
    public var winogradChunkTiles: Int?
    public var gemm: GemmKernel = .auto
    /// gemm_dot / gemm_rows tile (R and C 1…8); nil: the tuning database, else the default.
    public var gemmTile: Tile?
    /// The work-group tile of the local-memory GEMM kernels (gemm_local, conv2d_gemm); beats the tuning database.
    public var localTile: LocalGemmTile?
    public var pool: PoolMode = .auto
    /// Activation layout between CPU-style convolutions ($GPUINFER_LAYOUT).
    public var layout: LayoutMode = .auto
    /// The float8 binary elementwise kernels on CPU-style devices.
    public var elementwiseVector8 = true
    /// The 8×8 tiled transpose on CPU-style devices.
    public var transposeTiles = true
    public var netvladWPCA: NetVLADWPCA = .auto
    /// Storage of the memory-bound weight streams on CPU-style devices (NetVLAD's WPCA, fully
    /// connected layers on gemm_dot): fp32, or bf16/fp16 widened in the kernels (ReducedPrecision.swift).
    public var weightPrecision: WeightPrecision = .fp32
    public var isqrtcovProduct: ISqrtCovProduct = .auto
    public var searchScores: SearchScores = .auto
    /// Copy weights into device buffers even where the device shares host memory (PoCL).
    public var copyWeights = false
    /// Fold the activation after a Conv, Gemm or MatMul into it at load (`LoadOptions(self)`).
    public var fuseActivations = true
    /// Fold residual Adds into the Conv before them at load (`LoadOptions(self)`).
    public var fuseResiduals = true
    /// Images decoded ahead of the running batch (0 or 1).
    public var pipelineLookahead = 1
    /// Kernel sources read from this folder instead of the embedded ones (kernel development).
    public var kernelDirectory: String?
    /// The folders the caches and the model zoo use.
    public var folders = Folders()

    public init() {}

    /// Folders the program cache, tuning database and model zoo use.
    public struct Folders: Sendable, Equatable {
        /// Compiled program cache; nil disables it.
        public var cache: URL?
        /// Tuning database; nil disables it.
        public var tuning: URL?
        /// Extra folders searched for zoo models, in order.
        public var models: [String] = []
        public init(cache: URL? = nil, tuning: URL? = nil, models: [String] = []) {
            self.cache = cache
            self.tuning = tuning
            self.models = models
        }

        /// The folders the environment configures (no value of these variables is invalid):
        /// $GPUINFER_CACHE_DIR (empty or GPUINFER_NO_CACHE=1: no cache), else
        /// $XDG_CACHE_HOME/gpuinfer, else ~/.cache/gpuinfer; the tuning database in
        /// $GPUINFER_TUNING_DIR, else tuning/ in the cache folder (GPUINFER_NO_TUNING=1: none);
        /// $GPUINFER_MODELS, colon-separated.
        public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> Folders {
            func flag(_ name: String) -> Bool { env[name].map { $0 == "1" || $0.lowercased() == "true" } ?? false }
            func nonEmpty(_ name: String) -> String? { env[name].flatMap { $0.isEmpty ? nil : $0 } }
            // The per-user folder, and $GPUINFER_CACHE_DIR when it names one. An empty
            // GPUINFER_CACHE_DIR turns the program cache off; the tuning database then stays in the
            // per-user folder.
            let user = nonEmpty("XDG_CACHE_HOME").map { URL(fileURLWithPath: $0).appendingPathComponent("gpuinfer") }
                ?? nonEmpty("HOME").map { URL(fileURLWithPath: $0).appendingPathComponent(".cache/gpuinfer") }
            let cacheDir = nonEmpty("GPUINFER_CACHE_DIR").map { URL(fileURLWithPath: $0) }
            var folders = Folders()
            if !flag("GPUINFER_NO_CACHE") { folders.cache = env["GPUINFER_CACHE_DIR"] != nil ? cacheDir : user }
            if !flag("GPUINFER_NO_TUNING") {
                folders.tuning = nonEmpty("GPUINFER_TUNING_DIR").map { URL(fileURLWithPath: $0) } ?? (cacheDir ?? user)?.appendingPathComponent("tuning")
            }
            folders.models = (env["GPUINFER_MODELS"] ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
            return folders
        }

        /// The folders of this process's environment, read once.
        public static let process = Folders.fromEnvironment()
    }

    /// The options the environment sets (unset variables keep the defaults); the folders as
    /// `Folders.fromEnvironment`. Throws `invalidOption` for the first bad value, in table order.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> ExecutionOptions {
        var options = ExecutionOptions()
        options.folders = .fromEnvironment(env)
        for entry in table {
            guard let text = env[entry.name] else { continue }
            try options.set(entry.name, text)
        }
        return options
    }

    /// Sets the option named `name` (a GPUINFER_* variable of `table`) from its text form;
    /// empty text restores the default.
    public mutating func set(_ name: String, _ text: String) throws {
        guard let entry = Self.table.first(where: { $0.name == name }) else {
            throw GPUInferError.invalidOption(name: name, value: text, allowed: "one of " + Self.table.map(\.name).joined(separator: ", "))
        }
        let value = text.trimmingCharacters(in: .whitespaces)
        if value.isEmpty {
            entry.reset(&self)
            return
        }
        guard entry.parse(&self, value) else {
            throw GPUInferError.invalidOption(name: name, value: text, allowed: entry.values)
        }
    }

    /// The kernel family for `device`: the style, or with `auto` the device's type (GPUs run the
    /// work-group kernels, every other device the CPU-style register-blocked kernels).
    public func kernelFamily(for device: CLDeviceInfo) -> KernelFamily {
        switch kernelStyle {
        case .gpu: .gpu
        case .cpu: .cpu
        case .auto: device.isGPU ? .gpu : .cpu
        }
    }

    /// The CPU profile for `device`: the forced one, else the device's.
    public func cpuProfile(for device: CLDeviceInfo) -> CPUProfile {
        cpuProfile.map(CPUProfile.init) ?? device.cpuProfile
    }

    /// The current value of each option, in `table` order, as its variable would spell it.
    public var settings: [(name: String, value: String)] { Self.table.map { ($0.name, $0.show(self)) } }

    /// The options that differ from the defaults, as `NAME=value` (space-separated; "defaults" when
    /// none does), for test messages and benchmark reports.
    public var summary: String {
        let defaults = Dictionary(uniqueKeysWithValues: ExecutionOptions().settings.map { ($0.name, $0.value) })
        var parts = settings.filter { defaults[$0.name] != $0.value }.map { "\($0.name.replacingOccurrences(of: "GPUINFER_", with: ""))=\($0.value)" }
        if let chunk = winogradChunkTiles { parts.append("winogradChunkTiles=\(chunk)") }
        return parts.isEmpty ? "defaults" : parts.joined(separator: " ")
    }
}

/// The kernel family a plan encodes with (`ExecutionOptions.kernelFamily(for:)`).
public enum KernelFamily: String, Sendable { case gpu, cpu }

extension ExecutionOptions {
    /// One option: its environment variable, allowed values, default and meaning.
    public struct Entry: Sendable {
        public let name: String
        public let values: String
        public let defaultValue: String
        public let help: String
        let parse: @Sendable (inout ExecutionOptions, String) -> Bool
        let show: @Sendable (ExecutionOptions) -> String
        let reset: @Sendable (inout ExecutionOptions) -> Void
    }

    /// An option whose values are an enum's raw values.
    static func choice<E: RawRepresentable & CaseIterable & Sendable>(
        _ name: String, _ path: WritableKeyPath<ExecutionOptions, E> & Sendable, _ help: String, aliases: [String: E] = [:]
    ) -> Entry where E.RawValue == String {
        Entry(name: name, values: E.allCases.map(\.rawValue).joined(separator: ", "), defaultValue: ExecutionOptions()[keyPath: path].rawValue,
              help: help,
              parse: { o, text in
                  guard let v = E(rawValue: text.lowercased()) ?? aliases[text.lowercased()] else { return false }
                  o[keyPath: path] = v
                  return true
              },
              show: { $0[keyPath: path].rawValue }, reset: { $0[keyPath: path] = ExecutionOptions()[keyPath: path] })
    }

    /// A yes/no option spelled 1/0 (also on/off, true/false).
    static func flag(_ name: String, _ path: WritableKeyPath<ExecutionOptions, Bool> & Sendable, _ help: String) -> Entry {
        Entry(name: name, values: "1, 0 (also on/off, true/false)", defaultValue: ExecutionOptions()[keyPath: path] ? "1" : "0", help: help,
              parse: { o, text in
                  switch text.lowercased() {
                  case "1", "on", "true", "yes": o[keyPath: path] = true
                  case "0", "off", "false", "no": o[keyPath: path] = false
                  default: return false
                  }
                  return true
              },
              show: { $0[keyPath: path] ? "1" : "0" }, reset: { $0[keyPath: path] = ExecutionOptions()[keyPath: path] })
    }

    /// An integer option within `range`.
    static func integer(_ name: String, _ path: WritableKeyPath<ExecutionOptions, Int> & Sendable, _ range: ClosedRange<Int>, _ help: String) -> Entry {
        Entry(name: name, values: "an integer in \(range.lowerBound)...\(range.upperBound)", defaultValue: "\(ExecutionOptions()[keyPath: path])",
              help: help,
              parse: { o, text in
                  guard let v = Int(text), range.contains(v) else { return false }
                  o[keyPath: path] = v
                  return true
              },
              show: { "\($0[keyPath: path])" }, reset: { $0[keyPath: path] = ExecutionOptions()[keyPath: path] })
    }

    /// Parses `AxB` with A in `a` and B in `b`.
    static func tile(_ text: String, _ a: [Int], _ b: ClosedRange<Int>) -> Tile? {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == 2, let x = parts[0], let y = parts[1], a.contains(x), b.contains(y) else { return nil }
        return Tile(x, y)
    }

    /// An optional `Tile` option written AxB (A in `a`, B in `b`); empty restores nil.
    static func tileEntry(_ name: String, _ path: WritableKeyPath<ExecutionOptions, Tile?> & Sendable, _ a: [Int], _ b: ClosedRange<Int>,
                          values: String, _ help: String) -> Entry {
        Entry(name: name, values: values, defaultValue: "", help: help,
              parse: { o, t in
                  guard let v = tile(t, a, b) else { return false }
                  o[keyPath: path] = v
                  return true
              },
              show: { $0[keyPath: path]?.description ?? "" }, reset: { $0[keyPath: path] = nil })
    }

    /// Every option, in the order `gpuinfer options` prints them.
    public static let table: [Entry] = [
        choice("GPUINFER_KERNEL_STYLE", \.kernelStyle,
               "kernel family: gpu = work-group kernels, cpu = register-blocked CPU kernels, auto = the device's type (also --kernel-style)"),
        Entry(name: "GPUINFER_CPU_PROFILE", values: "auto, " + CPUProfile.ISA.allCases.map(\.rawValue).joined(separator: ", "), defaultValue: "auto",
              help: "vector ISA the CPU-style kernels' tiles are sized for (auto: read from the device: PoCL's CPU name and native vector width)",
              parse: { o, t in
                  if t.lowercased() == "auto" {
                      o.cpuProfile = nil
                      return true
                  }
                  guard let v = CPUProfile.ISA(rawValue: t.lowercased()) else { return false }
                  o.cpuProfile = v
                  return true
              },
              show: { $0.cpuProfile?.rawValue ?? "auto" }, reset: { $0.cpuProfile = nil }),
        choice("GPUINFER_CONV", \.conv,
               "generic: every convolution on the direct kernels (no blocked, depthwise, pixel, Winograd or local-memory kernel); gemm: all but depthwise 3×3 on the local-memory implicit GEMM (the GPU style's)"),
        tileEntry("GPUINFER_CONV_TILE", \.convTile, [4, 8, 16], 1...24, values: "COxPX with CO in 4, 8, 16 and PX in 1...24, or empty",
                  "conv2d_blocked tile; beats the tuning database"),
        choice("GPUINFER_CONV_POINTWISE", \.convPointwise, "gemm: pointwise convolutions on the strided GEMM on every device"),
        Entry(name: "GPUINFER_CONV_PX", values: "auto, off, or COxPX with CO in 1...8 and PX in 1...4", defaultValue: "auto",
              help: "conv1x1_px (CPU style, ungrouped pointwise on large maps): off keeps conv2d_blocked, COxPX sets the tile",
              parse: { o, t in
                  switch t.lowercased() {
                  case "auto": o.convPixelTile = .auto
                  case "off": o.convPixelTile = .off
                  default:
                      guard let v = tile(t, Array(1...8), 1...4) else { return false }
                      o.convPixelTile = .tile(v)
                  }
                  return true
              },
              show: {
                  switch $0.convPixelTile {
                  case .auto: "auto"
                  case .off: "off"
                  case let .tile(t): t.description
                  }
              }, reset: { $0.convPixelTile = .auto }),
        choice("GPUINFER_CONV_DW", \.convDepthwise, "depthwise 3×3: local = the GPU style's local-memory tile kernel on any device, gpu = the per-work-item GPU kernel, rows = conv2d_dw3x3_cpu for every stride"),
        choice("GPUINFER_CONV_WINOGRAD", \.winograd,
               "Winograd 3×3 (CPU style): auto = where it measured faster, 0 = never, 1 = wherever it applies, 2/4 = F(2×2)/F(4×4) wherever it applies",
               aliases: ["off": .off, "on": .everywhere]),
        Entry(name: "GPUINFER_CONV_WINOGRAD_R", values: "R or RxV with R in 1...24 and V in 1...4, or empty", defaultValue: "",
              help: "Winograd GEMM block: R output channels × V panels of 16 tiles per work-item; beats the tuning database",
              parse: { o, t in
                  guard let v = tile(t.contains("x") ? t : t + "x1", Array(1...24), 1...4) else { return false }
                  o.winogradTile = v
                  return true
              },
              show: { $0.winogradTile?.description ?? "" }, reset: { $0.winogradTile = nil }),
        tileEntry("GPUINFER_CONV_WINOGRAD_C16", \.winogradBlockedTile, Array(1...4), 1...24, values: "KxPX with K in 1...4 and PX in 1...24, or empty",
                  "channel-blocked Winograd GEMM block: K blocks of 16 output channels × PX tiles; beats the tuning database"),
        integer("GPUINFER_CONV_WINOGRAD_KB", \.winogradChunkKiB, 16...(1 << 20), "Winograd workspace budget per chunk of tiles, KiB"),
        choice("GPUINFER_GEMM", \.gemm, "GEMM kernel where its layout condition holds (clblast = CLBlast's tuned GEMM, auto on GPUs it knows; local = the GPU style's local-memory tiles, tile = 4×4 per work-item, dot/rows = CPU style)"),
        tileEntry("GPUINFER_GEMM_TILE", \.gemmTile, Array(1...8), 1...8, values: "RxC with R and C in 1...8, or empty",
                  "gemm_dot / gemm_rows tile; beats the tuning database"),
        Entry(name: "GPUINFER_LOCAL_TILE", values: "TSMxTSNxTSK/WPTMxWPTN (tile rows, columns, depth / rows, columns per work-item), or empty",
              defaultValue: "", help: "work-group tile of gemm_local and conv2d_gemm (GPU style); beats the tuning database",
              parse: { o, t in
                  guard let v = LocalGemmTile(parsing: t), v.fits(maxWorkGroup: 1024, localMemory: 64 << 10) else { return false }
                  o.localTile = v
                  return true
              },
              show: { $0.localTile?.description ?? "" }, reset: { $0.localTile = nil }),
        choice("GPUINFER_POOL", \.pool, "generic: pooling on the per-element kernels"),
        choice("GPUINFER_LAYOUT", \.layout,
               "activations between CPU-style convolutions: blocked = 16-channel blocks [N][C/16][H][W][16] (auto on CPU style), nchw = plain NCHW"),
        flag("GPUINFER_ELEMENTWISE_V8", \.elementwiseVector8, "float8 binary elementwise kernels (CPU style)"),
        flag("GPUINFER_TRANSPOSE_TILES", \.transposeTiles, "8×8 tiled transposes (CPU style)"),
        choice("GPUINFER_WEIGHT_PRECISION", \.weightPrecision,
               "storage of memory-bound weight streams on CPU-style devices (NetVLAD's WPCA, fully connected layers): bf16/fp16 halve the bytes read, fp32 arithmetic (also --precision)"),
        choice("GPUINFER_NETVLAD_WPCA", \.netvladWPCA, "NetVLAD WPCA kernel (auto: workgroup on GPU style, rows on CPU style)"),
        choice("GPUINFER_ISQRTCOV_PRODUCT", \.isqrtcovProduct, "iSQRT-COV product kernel (auto: tile on GPU style, blocked on CPU style)"),
        choice("GPUINFER_SEARCH_SCORES", \.searchScores, "retrieval scores kernel (auto: tiled on GPU style, packed on CPU style)"),
        flag("GPUINFER_COPY_WEIGHTS", \.copyWeights, "copy weights into device buffers even where the device shares host memory"),
        flag("GPUINFER_FUSE_ACTIVATIONS", \.fuseActivations, "fold the activation after a Conv, Gemm or MatMul into it at load"),
        flag("GPUINFER_FUSE_RESIDUAL", \.fuseResiduals, "fold residual Adds into the Conv before them at load"),
        integer("GPUINFER_PIPELINE", \.pipelineLookahead, 0...1, "images decoded ahead of the running batch"),
        Entry(name: "GPUINFER_KERNEL_DIR", values: "a folder, or empty", defaultValue: "",
              help: "read Kernels/*.cl from this folder instead of the embedded sources",
              parse: { o, t in
                  o.kernelDirectory = t
                  return true
              },
              show: { $0.kernelDirectory ?? "" }, reset: { $0.kernelDirectory = nil }),
    ]

    /// The folder variables (any value is valid), for `gpuinfer options`.
    public static let folderVariables: [(name: String, help: String)] = [
        ("GPUINFER_CACHE_DIR", "compiled program cache (default $XDG_CACHE_HOME/gpuinfer or ~/.cache/gpuinfer; empty: none)"),
        ("GPUINFER_NO_CACHE", "1: no program cache"),
        ("GPUINFER_TUNING_DIR", "tuning database (default tuning/ in the cache folder)"),
        ("GPUINFER_NO_TUNING", "1: ignore the tuning database"),
        ("GPUINFER_MODELS", "colon-separated folders searched for zoo models"),
    ]
}

extension LoadOptions {
    /// The load options the execution options imply (activation and residual fusion), the rest at their defaults.
    public init(_ execution: ExecutionOptions) {
        self.init(fuseActivations: execution.fuseActivations, fuseResiduals: execution.fuseResiduals)
    }
}
