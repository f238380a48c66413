// The CPU profile (Tuning/CPUProfile.swift): read from device names and vector widths as PoCL
// reports them, forced by the option, and the tile defaults and tuning spaces that follow it.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct CPUProfileTests {
    /// PoCL device names (`pthread-<LLVM CPU>-<brand>`, older `cpu-<LLVM CPU>-…`) and widths.
    @Test(arguments: [
        ("pthread-skylake-avx512-AMD EPYC", 16, CPUProfile.ISA.avx512),
        ("pthread-znver4-AMD Ryzen 9 7950X 16-Core Processor", 16, .avx512),
        ("cpu-sapphirerapids-Intel(R) Xeon(R) Platinum 8480+", 16, .avx512),
        ("pthread-icelake-server-Intel(R) Xeon(R) Gold 6338", 16, .avx512),
        ("pthread-haswell-Intel(R) Xeon(R) CPU E5-2680 v3", 8, .avx2),
        // Skylake client has no AVX-512: "skylake" alone is AVX2, "skylake-avx512" is not.
        ("pthread-skylake-Intel(R) Core(TM) i7-6700", 8, .avx2),
        ("pthread-znver3-AMD EPYC 7763 64-Core Processor", 8, .avx2),
        ("pthread-alderlake-12th Gen Intel(R) Core(TM) i7-12700", 8, .avx2),
        ("pthread-cortex-a72-ARM", 4, .neon),
        ("pthread-neoverse-v1-Graviton3", 4, .neon),
        ("pthread-x86-64-QEMU Virtual CPU", 4, .sse),
        // Unknown names fall back on the native float vector width.
        ("pthread-futurecore-Vendor CPU", 16, .avx512),
        ("pthread-futurecore-Vendor CPU", 8, .avx2),
        ("some device", 0, .generic),
    ])
    func detectsTheISA(name: String, width: Int, isa: CPUProfile.ISA) {
        #expect(CPUProfile.detect(name: name, nativeFloatWidth: width, isGPU: false).isa == isa, "\(name), width \(width)")
    }

    @Test func gpusAreGeneric() {
        #expect(CPUProfile.detect(name: "NVIDIA H100 80GB HBM3", nativeFloatWidth: 1, isGPU: true).isa == .generic)
        #expect(CPUProfile.detect(name: "pthread-skylake-avx512", nativeFloatWidth: 16, isGPU: true).isa == .generic)
    }

    /// The option beats the device, and `auto` (nil) is the device's profile.
    @Test func optionForcesTheProfile() throws {
        let device = try #require(TestDevice.info)
        var options = ExecutionOptions()
        #expect(options.cpuProfile(for: device) == device.cpuProfile)
        for isa in CPUProfile.ISA.allCases {
            options.cpuProfile = isa
            #expect(options.cpuProfile(for: device).isa == isa)
        }
    }

    /// conv2d_blocked's columns by row width: fewer idle columns in the last tile, never more
    /// columns than the profile's registers take (AVX2 stays at or below 5).
    @Test func blockedColumnsFollowTheRowWidth() {
        let avx2 = CPUProfile(.avx2), avx512 = CPUProfile(.avx512)
        // 7×7 and 14×14 planes as one row, a 13-column row, 28×28, 112 columns, a 1-column row (the
        // fewest columns in range: one tile either way).
        #expect([49, 196, 13, 784, 112, 1].map(avx512.blockedColumns(width:)) == [10, 14, 13, 14, 14, 8])
        #expect([49, 7, 12, 1].map(avx2.blockedColumns(width:)) == [5, 4, 4, 4])
        for profile in CPUProfile.ISA.allCases.map(CPUProfile.init) {
            for width in 1...300 {
                let px = profile.blockedColumns(width: width)
                #expect(px >= 2 && px <= max(profile.blockedColumns, min(profile.blockedColumnsMax, 16)), "\(profile) \(width)")
                #expect((width + px - 1) / px * px <= (width + profile.blockedColumns - 1) / profile.blockedColumns * profile.blockedColumns)
            }
        }
    }

    /// Strided convolutions take fewer columns on AVX-512 (6, or the count near it that suits the
    /// row width); AVX2 keeps its 5.
    @Test func stridedConvolutionsTakeFewerColumns() {
        let avx2 = CPUProfile(.avx2), avx512 = CPUProfile(.avx512)
        #expect(avx512.stridedBlockedColumns(width: nil) == 6 && avx2.stridedBlockedColumns(width: nil) == 5)
        // ResNet's 14, 28 and 112 columns: 7 (no idle column); YOLO's 160: 5.
        #expect([14, 28, 112, 160].map { avx512.stridedBlockedColumns(width: $0) } == [7, 7, 7, 5])
        for width in [7, 13, 49, 150] { #expect(avx2.stridedBlockedColumns(width: width) == avx2.blockedColumns(width: width)) }
    }

    /// Register files and the defaults that follow them: AVX-512's blocks use its 32 wide registers,
    /// AVX2's stay within 16; every default lies in the tuner's space for its profile.
    @Test func defaultsFollowTheRegisterFile() {
        let avx2 = CPUProfile(.avx2), avx512 = CPUProfile(.avx512)
        #expect(avx2.vectorRegisters == 16 && avx2.floatLanes == 8 && avx512.vectorRegisters == 32 && avx512.floatLanes == 16)
        #expect(avx2.winogradBlock == .init(6, 1) && avx2.blockedColumns == 5 && avx2.pixelTile == .init(6, 2))
        #expect(avx512.winogradBlock.a * avx512.winogradBlock.b > 6 && avx512.blockedColumns > 5)
        for profile in CPUProfile.ISA.allCases.map(CPUProfile.init) {
            let block = profile.winogradBlock
            #expect(profile.winogradBlockFits(r: block.a, v: block.b), "\(profile)")
            #expect(profile.blockedColumns <= profile.blockedColumnsMax, "\(profile)")
            #expect(profile.pixelTileFits(co: profile.pixelTile.a, px: profile.pixelTile.b), "\(profile)")
        }
        // 24 rows × 1 panel: 24 zmm accumulators fit AVX-512, not AVX2 (48 ymm).
        #expect(avx512.winogradBlockFits(r: 24, v: 1) && !avx2.winogradBlockFits(r: 24, v: 1))
        #expect(!avx512.winogradBlockFits(r: 16, v: 2))
    }
}
