// The work-group tile of the local-memory GEMM kernels (Kernels/conv_gemm.cl: gemm_local for
// Gemm/MatMul, conv2d_gemm for convolutions): a TSM × TSN output tile per work-group, TSK deep
// slices of the reduction staged in local memory, WPTM × WPTN outputs per work-item.
import Foundation

public struct LocalGemmTile: Equatable, Sendable, CustomStringConvertible {
    public var tsm: Int, tsn: Int, tsk: Int, wptm: Int, wptn: Int

    /// Work-group size [TSN/WPTN, TSM/WPTM, 1].
    var local: [Int] { [tsn / wptn, tsm / wptm, 1] }
    var workItems: Int { (tsn / wptn) * (tsm / wptm) }
    /// Local memory of one work-group: the two staged tiles, each with a padding column.
    var localBytes: Int { 4 * tsk * (tsm + tsn + 2) }
    var defines: String { "-DTSM=\(tsm) -DTSN=\(tsn) -DTSK=\(tsk) -DWPTM=\(wptm) -DWPTN=\(wptn)" }
    var parameters: [String: Int] { ["TSM": tsm, "TSN": tsn, "TSK": tsk, "WPTM": wptm, "WPTN": wptn] }
    public var description: String { "\(tsm)x\(tsn)x\(tsk)/\(wptm)x\(wptn)" }

    public init(tsm: Int, tsn: Int, tsk: Int, wptm: Int, wptn: Int) {
        (self.tsm, self.tsn, self.tsk, self.wptm, self.wptn) = (tsm, tsn, tsk, wptm, wptn)
    }

    /// Parses `description`'s form, "TSMxTSNxTSK/WPTMxWPTN"; nil for anything else.
    public init?(parsing text: String) {
        let halves = text.lowercased().split(separator: "/", omittingEmptySubsequences: false)
        guard halves.count == 2 else { return nil }
        let a = halves[0].split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        let b = halves[1].split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        guard a.count == 3, b.count == 2, let tsm = a[0], let tsn = a[1], let tsk = a[2], let wptm = b[0], let wptn = b[1],
              [tsm, tsn, tsk, wptm, wptn].allSatisfy({ (1...256).contains($0) }) else { return nil }
        self.init(tsm: tsm, tsn: tsn, tsk: tsk, wptm: wptm, wptn: wptn)
    }

    init?(_ p: [String: Int]) {
        guard let tsm = p["TSM"], let tsn = p["TSN"], let tsk = p["TSK"], let wptm = p["WPTM"], let wptn = p["WPTN"] else { return nil }
        self.init(tsm: tsm, tsn: tsn, tsk: tsk, wptm: wptm, wptn: wptn)
    }

    /// Whether a device with these limits runs the tile: divisible work per work-item, a
    /// work-group of 16…`maxWorkGroup` work-items, both tiles in `localMemory` bytes.
    public func fits(maxWorkGroup: Int, localMemory: Int) -> Bool {
        guard tsm > 0, tsn > 0, tsk > 0, wptm > 0, wptn > 0, tsm % wptm == 0, tsn % wptn == 0, wptm * wptn <= 64 else { return false }
        return (16...max(16, maxWorkGroup)).contains(workItems) && localBytes <= localMemory
    }

    /// The default for an M × N output (rows: output channels or A's rows; columns: pixels or
    /// B's columns): the smallest of 4, 8, 16, 32, 64 rows covering M (a layer with 16 or 24 output
    /// channels stages no rows it does not need), 64 columns (32 or 16 for narrower outputs), 16
    /// deep; 16 × 16 work-items (8 × 8 where the device allows fewer than 256).
    static func defaultTile(m: Int, n: Int, maxWorkGroup: Int) -> LocalGemmTile {
        let side = maxWorkGroup >= 256 ? 16 : 8
        let tsm = m <= 4 ? 4 : m <= 8 ? 8 : m <= 16 ? 16 : m <= 32 ? 32 : 64
        let tsn = n <= 16 ? 16 : n <= 32 ? 32 : 64
        return LocalGemmTile(tsm: tsm, tsn: tsn, tsk: 16, wptm: max(1, tsm / side), wptn: max(1, tsn / side))
    }

    /// The search space of `gpuinfer tune`.
    static func space(maxWorkGroup: Int, localMemory: Int) -> TuningSpace {
        TuningSpace(axes: [("TSM", [4, 8, 16, 32, 64, 128]), ("TSN", [16, 32, 64, 128]), ("TSK", [8, 16, 32]),
                           ("WPTM", [1, 2, 4, 8]), ("WPTN", [1, 2, 4, 8])]) { p in
            LocalGemmTile(p)?.fits(maxWorkGroup: maxWorkGroup, localMemory: localMemory) ?? false
        }
    }
}

extension EncodeContext {
    /// The local-memory GEMM tile for `key`: `options.localTile` ($GPUINFER_LOCAL_TILE) wins, then the tuner's
    /// candidate or the tuning database, else `LocalGemmTile.defaultTile`. A tile the device cannot
    /// run (a database from another driver version) falls back to the default; a forced one is an error.
    func localGemmTile(_ key: TuningKey, m: Int, n: Int) throws -> LocalGemmTile {
        let maxWG = runtime.device.maxWorkGroupSize, lmem = Int(clamping: runtime.device.localMemory)
        if let forced = options.localTile, !forced.fits(maxWorkGroup: maxWG, localMemory: lmem) {
            throw GPUInferError.invalidOption(name: "GPUINFER_LOCAL_TILE", value: forced.description,
                                              allowed: "a tile of at most \(maxWG) work-items and \(lmem) bytes of local memory on this device")
        }
        let fallback = LocalGemmTile.defaultTile(m: m, n: n, maxWorkGroup: maxWG)
        let space = LocalGemmTile.space(maxWorkGroup: maxWG, localMemory: lmem)
        let chosen = tunedParameters(key, defaults: fallback.parameters, space: space, environment: options.localTile?.parameters)
        guard let tile = LocalGemmTile(chosen), tile.fits(maxWorkGroup: maxWG, localMemory: lmem) else { return fallback }
        return tile
    }
}
