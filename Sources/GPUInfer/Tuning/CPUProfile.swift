// The CPU profile: what the register-blocked CPU-style kernels are sized for. The same machine
// kind comes as an AVX2 CPU (16 ymm registers of 8 floats) one day and as an AVX-512 CPU (32 zmm
// registers of 16 floats) the next; a register block sized for one spills or idles on the other.
// The profile is read from the OpenCL device (PoCL names the LLVM CPU it compiles for in the device
// name, e.g. `pthread-skylake-avx512-AMD EPYC`, `pthread-haswell-Intel(R) Xeon(R)…`, and reports
// its native float vector width), can be forced ($GPUINFER_CPU_PROFILE) for A/B runs and for the
// tests that check the defaults of both, and gives every CPU kernel family its default tile and
// tuning search space.
import Foundation

/// The vector ISA and register file the CPU-style kernels are sized for.
public struct CPUProfile: Sendable, Equatable, CustomStringConvertible {
    /// The vector instruction set the device's compiler targets.
    public enum ISA: String, Sendable, CaseIterable {
        /// AVX-512 (Skylake-SP and later Xeons, Ice Lake, Sapphire Rapids, Zen 4/5): 32 × 16 floats.
        case avx512
        /// AVX2 + FMA (Haswell … Alder Lake, Zen 1–3): 16 × 8 floats.
        case avx2
        /// SSE / AVX without FMA and other 128-bit x86: 16 × 4 floats.
        case sse
        /// AArch64 NEON (Arm cores, Apple): 32 × 4 floats.
        case neon
        /// Anything else (a GPU's CPU-style run, an unknown CPU): sized like AVX2.
        case generic
    }

    public let isa: ISA

    public init(_ isa: ISA) { self.isa = isa }

    /// Vector registers the compiler can allocate.
    public var vectorRegisters: Int {
        switch isa {
        case .avx512, .neon: 32
        case .avx2, .sse, .generic: 16
        }
    }

    /// Floats per vector register.
    public var floatLanes: Int {
        switch isa {
        case .avx512: 16
        case .avx2, .generic: 8
        case .sse, .neon: 4
        }
    }

    /// Whether 32 wide registers hold a 24-accumulator block (the AVX-512 tiles).
    public var wide: Bool { isa == .avx512 }

    public var description: String { "\(isa.rawValue) (\(vectorRegisters) × \(floatLanes) floats)" }

    /// LLVM CPU names (as PoCL spells them in device names) with AVX-512F.
    static let avx512CPUs = ["avx512", "cascadelake", "cooperlake", "cannonlake", "icelake", "tigerlake", "rocketlake",
                             "sapphirerapids", "emeraldrapids", "graniterapids", "diamondrapids", "znver4", "znver5", "x86-64-v4",
                             "knl", "knm"]
    /// LLVM CPU names with AVX2 + FMA but no AVX-512.
    static let avx2CPUs = ["haswell", "broadwell", "skylake", "kabylake", "coffeelake", "alderlake", "raptorlake", "meteorlake",
                           "arrowlake", "lunarlake", "pantherlake", "gracemont", "sierraforest", "grandridge", "clearwaterforest",
                           "znver1", "znver2", "znver3", "bdver4", "x86-64-v3"]
    /// Names that say AArch64.
    static let armCPUs = ["aarch64", "arm64", "cortex", "neoverse", "apple-", "ampere", "graviton", "thunderx", "a64fx"]

    /// The profile of a device: GPUs are `generic` (their CPU-style runs are tests); CPUs by the LLVM
    /// CPU name in the device name, else by the native float vector width (16: AVX-512, 8: AVX2,
    /// 4: SSE or NEON by the name).
    public static func detect(name: String, nativeFloatWidth: Int, isGPU: Bool) -> CPUProfile {
        if isGPU { return CPUProfile(.generic) }
        let n = name.lowercased()
        // "skylake-avx512" must not read as AVX2's "skylake": the AVX-512 names are tested first.
        if avx512CPUs.contains(where: n.contains) { return CPUProfile(.avx512) }
        if avx2CPUs.contains(where: n.contains) { return CPUProfile(.avx2) }
        let arm = armCPUs.contains(where: n.contains)
        switch nativeFloatWidth {
        case 16...: return CPUProfile(.avx512)
        case 8: return CPUProfile(.avx2)
        case 4: return CPUProfile(arm ? .neon : .sse)
        default: return CPUProfile(arm ? .neon : .generic)
        }
    }

    // MARK: Tile defaults and search spaces of the CPU kernel families

    /// The Winograd GEMM block (output channels R × panels V of 16 tiles; R·V float16
    /// accumulators). AVX2: 6 × 1 (6 ymm pairs + the panel + a broadcast fit 16 registers). AVX-512:
    /// 8 × 2 (16 zmm accumulators, two panel loads per 8 broadcasts). Measured on a Zen 4 EPYC on
    /// VGG's and ResNet's 3×3 layers (50×75 256→256, 25×37 512→512, 56×56 64→64, 28×28 128→128):
    /// 6 × 1 is 1.1–1.9× slower than blocks of 16 or more accumulators on the large layers; among
    /// 8×2, 12×2, 8×3, 16×1 and 24×1 the differences stayed within that machine's noise (±15 %).
    public var winogradBlock: ExecutionOptions.Tile { wide ? .init(8, 2) : .init(6, 1) }

    /// Winograd GEMM blocks the tuner searches: accumulators (R·V vectors of 16 floats, two
    /// registers each below AVX-512) within the register file.
    public func winogradBlockFits(r: Int, v: Int) -> Bool {
        let registersPerVector = max(1, 16 / floatLanes)
        return (1...24).contains(r) && (1...4).contains(v) && (r * v + v) * registersPerVector <= vectorRegisters * (wide ? 1 : 2)
    }

    /// The channel-blocked Winograd GEMM's register block (blocks of 16 output channels × tiles,
    /// one float16 accumulator each). AVX-512: 2 × 12 (24 accumulators, 2 weight vectors and a
    /// broadcast of its 32 registers; per input channel 14 loads for 24 multiply-adds). AVX2: 1 × 5,
    /// conv2d_blocked's block (a float16 takes two of its 16 registers).
    public var winogradBlockedTile: ExecutionOptions.Tile { wide ? .init(2, 12) : .init(1, 5) }

    /// Channel-blocked Winograd GEMM blocks the tuner searches: accumulators, weight vectors and a
    /// broadcast within the register file.
    public func winogradBlockedTileFits(k: Int, px: Int) -> Bool {
        let registersPerVector = max(1, 16 / floatLanes)
        return (1...4).contains(k) && (1...24).contains(px) && (k * px + k) * registersPerVector + 1 <= vectorRegisters
    }

    /// Whether a 3×3 stride-1 convolution of `c` → `cout` channels runs Winograd F(2×2, 3×3) rather
    /// than conv2d_blocked (before the map-size test, `ConvAlgorithm.winogradRule`). AVX2 and the
    /// others: both counts at least 16 and one at least 32 (with 8 channels the transforms cost more
    /// than they save, 16 → 16 even, from 32 channels on 1.7–4× faster than that machine's direct
    /// kernel). AVX-512: both at least 64. There the channel-blocked direct kernel reaches 140–190
    /// GFLOP/s on 32 channels while the transforms, a quarter of the multiply-adds, take most of
    /// Winograd's time: measured on a Zen 4 EPYC (per layer, median of 5 profiled runs) 32 → 32 at
    /// 80×80 1.6× faster direct, 16 → 16 at 160×160 even, 64 → 64 at 40×40 and 56×56 1.2–1.3×
    /// faster on Winograd, 128 → 128 at 28×28 1.9×, 256 → 256 at 14×14 2.9×.
    /// `blocked`: the channel-blocked Winograd kernels (BlockedConv), whose transforms load and store
    /// whole float16 vectors. AVX-512: both counts at least 16; measured on the same Zen 4 (per layer,
    /// median of 5 interleaved profiled runs, against conv2d_blocked in the blocked layout):
    /// F(4×4) 16 → 16 at 160×160 1.3× faster, 32 → 32 at 80×80 2.8×, 64 → 64 at 56×56 3.2×,
    /// 128 → 128 at 28×28 2.9×; F(2×2) 512 → 512 at 14×14 3.1×. AVX2 and the others: the rule above
    /// (not measured on that machine's blocked kernels).
    public func winogradPays(c: Int, cout: Int, blocked: Bool = false) -> Bool {
        if wide { return min(c, cout) >= (blocked ? 16 : 64) }
        return min(c, cout) >= 16 && max(c, cout) >= 32
    }

    /// conv2d_blocked's default pixel columns (CO = 16: one float16 accumulator per column).
    /// AVX2: 5 (10 ymm accumulators + the weight vector; 7 spill, measured). AVX-512: 12 (12 zmm
    /// accumulators + the weight vector + broadcasts, no spill). On whole models (MobileNetV2,
    /// ResNet-50, YOLOv8n on a Zen 4) 5, 8, 12 and 16 columns measured within noise of each other:
    /// there this kernel is bound by its loads and scalar stores, not by its register block.
    public var blockedColumns: Int { wide ? 12 : 5 }

    /// conv1x1_px's tile (output channels × float8 pixel vectors; CO·PX float8 accumulators).
    /// AVX2: 6 × 2 (12 ymm accumulators + 2 loads + a broadcast fit 16 registers; best or tied on
    /// SSDLite's layers). AVX-512: 8 × 3 (24 accumulators of its 32 registers; 1.2–1.7× faster than
    /// 6 × 2 on 56×56 64→256 and 38×38 32→192 on a Zen 4).
    public var pixelTile: ExecutionOptions.Tile { wide ? .init(8, 3) : .init(6, 2) }

    /// Whether a conv1x1_px tile's float8 accumulators, loads and a broadcast fit the registers
    /// (float8 takes two 128-bit registers on SSE and NEON).
    public func pixelTileFits(co: Int, px: Int) -> Bool {
        let float8Registers = vectorRegisters / max(1, 8 / floatLanes)
        return co * px + px + 1 <= float8Registers + (wide ? 0 : 8)
    }

    /// conv2d_blocked's default columns for rows `width` output columns wide (a pointwise
    /// convolution's row is its whole H·W plane): `blockedColumns`, or a count near it (from 2/3 of
    /// it up to 4 more on AVX-512, where 16 accumulators still fit; never more on AVX2) that computes
    /// fewer idle columns in each row's last tile, the nearest to the default among equals. The 7×7
    /// planes of mobile networks' last stages (49 pixels) take 10 columns (50 computed) instead of
    /// 12 (60), 14×14 planes 14 (196) instead of 12 (204).
    public func blockedColumns(width: Int) -> Int {
        blockedColumns(width: width, default: blockedColumns)
    }

    /// conv2d_blocked's default columns for a strided convolution: AVX-512 6 (AVX2 its 5). With
    /// stride s a column's taps lie s pixels from its neighbour's, so a tile of PX columns reads
    /// (PX − 1)·s + KW scalars per kernel row where stride 1 shares all but PX + KW − 1; measured on
    /// a Zen 4 EPYC (median of 7 profiled runs, per layer), 4–7 columns against 12–14:
    /// 3×3/2 256→256 28×28 1.1–1.7×, 128→128 56×56 1.5–2.4×, 64→64 112×112 1.5–2×, 7×7/2 3→64
    /// 224×224 (ResNet's first layer) 1.2–1.3×. `width`: the output row, as `blockedColumns(width:)`.
    public func stridedBlockedColumns(width: Int?) -> Int {
        let d = wide ? 6 : blockedColumns
        guard let width else { return d }
        return blockedColumns(width: width, default: d)
    }

    private func blockedColumns(width: Int, default d: Int) -> Int {
        guard width > 0 else { return d }
        func cost(_ px: Int) -> Int { (width + px - 1) / px * px }
        var best = d
        for px in max(2, (2 * d + 2) / 3)...(wide ? min(blockedColumnsMax, d + 4) : d) {
            let (c, b) = (cost(px), cost(best))
            if c < b || (c == b && abs(px - d) < abs(best - d)) { best = px }
        }
        return best
    }

    /// conv2d_blocked's largest pixel-column count for the tuner.
    public var blockedColumnsMax: Int { wide ? 24 : 16 }
}
