// On-disk cache of OpenCL program binaries.
//
// Key: SHA-256(format version ‖ source ‖ build options ‖ CL_DEVICE_NAME ‖ CL_DRIVER_VERSION ‖
// CL_PLATFORM_VERSION). File: <dir>/<hex key>.clbin = magic "GPUICLB2", UInt64 length,
// SHA-256(key ‖ binary), binary. Written to a temporary file and renamed, so readers never see a
// partial file. The folder is $GPUINFER_CACHE_DIR, else $XDG_CACHE_HOME/gpuinfer, else
// ~/.cache/gpuinfer; GPUINFER_NO_CACHE=1 (or an empty GPUINFER_CACHE_DIR) disables it. Devices
// whose driver caches programs itself (PoCL, `CLDeviceInfo.driverCachesPrograms`) skip it: there it
// would only cost time.
//
// The cache heals itself: an entry whose magic, length or checksum is wrong (a file cut short, bit
// rot, an entry of another key copied over), or that the driver rejects (clCreateProgramWithBinary
// or the build fails), is deleted and the program compiled from source and stored again. A binary
// can also pass every check and still crash the driver when loaded, which no check in this process
// can catch: so a `<key>.loading` marker holding the process id is written before a binary is
// handed to the driver and removed after; a marker left by a process that no longer runs means
// that load never returned: that entry is discarded, and a `<key>.skip` file keeps the key's
// programs compiled from source from then on.
import COpenCL
import Foundation

/// Builds OpenCL programs, reusing binaries from disk when it can.
public final class ProgramCache: @unchecked Sendable {
    /// Bumped whenever the file format or anything else that changes binaries changes.
    static let formatVersion = "gpuinfer-clbin-2"
    private static let magic = Array("GPUICLB2".utf8)
    /// Bytes before the binary: magic, length, checksum.
    private static let headerBytes = 8 + 8 + 32

    /// The folder, or nil when caching is disabled.
    public let directory: URL?
    private let lock = NSLock()
    private var _compiles = 0
    private var _hits = 0
    private var _records: [BuildRecord] = []

    /// One program this cache compiled or loaded: kernel file, build options, wall time, source.
    public struct BuildRecord: Sendable, Equatable {
        public let file: String
        public let options: String
        public let seconds: Double
        /// Loaded from a cached binary (else compiled from source).
        public let cached: Bool
    }

    /// Every program built through this cache, in order (`gpuinfer bench` reports them).
    public var records: [BuildRecord] { lock.withLock { _records } }

    /// Programs compiled from source since this cache was created.
    public var compiles: Int { lock.withLock { _compiles } }
    /// Programs loaded from a cached binary.
    public var hits: Int { lock.withLock { _hits } }

    /// Whether the folder is also used on devices whose driver caches programs itself (tests of
    /// the cache mechanism on PoCL); by default those devices skip it.
    public let evenWhereDriverCaches: Bool

    public init(directory: URL?, evenWhereDriverCaches: Bool = false) {
        self.directory = directory
        self.evenWhereDriverCaches = evenWhereDriverCaches
    }

    /// The cache in the folder the environment configures (`ExecutionOptions.Folders`).
    public static let `default` = ProgramCache(directory: ExecutionOptions.Folders.process.cache)

    /// Key for one program on one device.
    static func key(source: String, options: String, device: CLDeviceInfo) -> String {
        var bytes: [UInt8] = []
        for part in [formatVersion, source, options, device.name, device.driverVersion, device.platformVersion] {
            bytes += Array(part.utf8)
            bytes.append(0)
        }
        return SHA256.hex(bytes)
    }

    func build(runtime: CLRuntime, name: String, source: String, options: String) throws -> CLProgram {
        let key = Self.key(source: source, options: options, device: runtime.device)
        let clock = ContinuousClock(), start = clock.now
        func record(cached: Bool) {
            _records.append(BuildRecord(file: name, options: options, seconds: (clock.now - start).seconds, cached: cached))
        }
        let directory = runtime.device.driverCachesPrograms && !evenWhereDriverCaches ? nil : self.directory
        if let dir = directory {
            let entry = dir.appendingPathComponent(key + ".clbin"), marker = dir.appendingPathComponent(key + ".loading")
            let skip = dir.appendingPathComponent(key + ".skip")
            if Self.loadCrashedBefore(marker) {
                // A process died loading this entry: never hand it, or a binary of this key, to the
                // driver again (the `.skip` file keeps the key out of the cache).
                discard(entry, marker: marker, reason: "an earlier load of it did not return")
                try? Data().write(to: skip)
            } else if FileManager.default.fileExists(atPath: skip.path) {
                // This key's binaries crashed a load once: compiled from source every time.
            } else if FileManager.default.fileExists(atPath: entry.path) {
                if let binary = readEntry(entry, key: key) {
                    try? Data("\(getpid())".utf8).write(to: marker)
                    let program = try? fromBinary(runtime: runtime, name: name, binary: binary, options: options)
                    try? FileManager.default.removeItem(at: marker)
                    if let program {
                        lock.withLock { _hits += 1; record(cached: true) }
                        return program
                    }
                    discard(entry, marker: nil, reason: "the driver rejected it")
                } else {
                    discard(entry, marker: nil, reason: "bad header or checksum")
                }
            }
        }
        let program = try fromSource(runtime: runtime, name: name, source: source, options: options)
        lock.withLock { _compiles += 1; record(cached: false) }
        if let dir = directory, !FileManager.default.fileExists(atPath: dir.appendingPathComponent(key + ".skip").path),
           let binary = try? binaryOf(program) {
            writeEntry(dir, key: key, binary: binary)
        }
        return program
    }

    private func fromSource(runtime: CLRuntime, name: String, source: String, options: String) throws -> CLProgram {
        var status: cl_int = 0
        let program: cl_program? = source.withCString { ptr in
            var p: UnsafePointer<CChar>? = ptr
            var length = strlen(ptr)
            return clCreateProgramWithSource(runtime.context, 1, &p, &length, &status)
        }
        guard let program, status == CL_SUCCESS else {
            throw GPUInferError.openCL(status: status, call: "clCreateProgramWithSource", kernel: name + ".cl")
        }
        let wrapped = CLProgram(program: program, name: name)
        try buildProgram(runtime: runtime, wrapped, options: options)
        return wrapped
    }

    private func fromBinary(runtime: CLRuntime, name: String, binary: [UInt8], options: String) throws -> CLProgram {
        var status: cl_int = 0
        var binaryStatus: cl_int = 0
        var device: cl_device_id? = runtime.device.deviceID
        let program: cl_program? = binary.withUnsafeBufferPointer { buf in
            var ptr: UnsafePointer<UInt8>? = buf.baseAddress
            var length = buf.count
            return clCreateProgramWithBinary(runtime.context, 1, &device, &length, &ptr, &binaryStatus, &status)
        }
        guard let program, status == CL_SUCCESS, binaryStatus == CL_SUCCESS else {
            throw GPUInferError.openCL(status: status != CL_SUCCESS ? status : binaryStatus, call: "clCreateProgramWithBinary", kernel: name + ".cl")
        }
        let wrapped = CLProgram(program: program, name: name)
        try buildProgram(runtime: runtime, wrapped, options: options)
        return wrapped
    }

    private func buildProgram(runtime: CLRuntime, _ program: CLProgram, options: String) throws {
        var device: cl_device_id? = runtime.device.deviceID
        let status = clBuildProgram(program.program, 1, &device, options, nil, nil)
        if status != CL_SUCCESS {
            var size = 0
            clGetProgramBuildInfo(program.program, runtime.device.deviceID, cl_program_build_info(CL_PROGRAM_BUILD_LOG), 0, nil, &size)
            var log = [CChar](repeating: 0, count: size + 1)
            clGetProgramBuildInfo(program.program, runtime.device.deviceID, cl_program_build_info(CL_PROGRAM_BUILD_LOG), size, &log, nil)
            let text = String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if status == CL_BUILD_PROGRAM_FAILURE || !text.isEmpty {
                throw GPUInferError.buildFailed(program: program.name + ".cl", device: runtime.device.name, log: text)
            }
            throw GPUInferError.openCL(status: status, call: "clBuildProgram", kernel: program.name + ".cl")
        }
    }

    private func binaryOf(_ program: CLProgram) throws -> [UInt8] {
        var size = 0
        try clCheck(clGetProgramInfo(program.program, cl_program_info(CL_PROGRAM_BINARY_SIZES), MemoryLayout<Int>.size, &size, nil), "clGetProgramInfo(BINARY_SIZES)")
        guard size > 0 else { return [] }
        var binary = [UInt8](repeating: 0, count: size)
        try binary.withUnsafeMutableBufferPointer { buf in
            var ptr: UnsafeMutablePointer<UInt8>? = buf.baseAddress
            try clCheck(clGetProgramInfo(program.program, cl_program_info(CL_PROGRAM_BINARIES), MemoryLayout<UnsafeMutablePointer<UInt8>>.size, &ptr, nil), "clGetProgramInfo(BINARIES)")
        }
        return binary
    }

    /// Entries discarded (bad, rejected or crash-prone) since this cache was created.
    public var discarded: Int { lock.withLock { _discarded } }
    private var _discarded = 0

    /// Deletes a bad entry (and its marker), so that the program is compiled and stored afresh.
    private func discard(_ entry: URL, marker: URL?, reason: String) {
        try? FileManager.default.removeItem(at: entry)
        if let marker { try? FileManager.default.removeItem(at: marker) }
        lock.withLock { _discarded += 1 }
    }

    /// Whether `marker` was left by a process that is gone (its load never returned). A marker of
    /// a live process is another process loading the same entry right now.
    static func loadCrashedBefore(_ marker: URL) -> Bool {
        guard let data = try? RegularFile.read(marker.path, limit: 64) else { return false }
        guard let pid = Int32(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else { return true }
        if pid == getpid() { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    /// The binary of a well-formed entry for `key`: magic, length and checksum all agree.
    private func readEntry(_ url: URL, key: String) -> [UInt8]? {
        guard let data = try? RegularFile.read(url.path, what: "program cache entry"), data.count > Self.headerBytes else { return nil }
        let bytes = [UInt8](data)
        guard Array(bytes[0..<8]) == Self.magic else { return nil }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(bytes[8 + i]) << (8 * UInt64(i)) }
        guard length == UInt64(bytes.count - Self.headerBytes) else { return nil }
        let binary = Array(bytes[Self.headerBytes...])
        guard Array(bytes[16..<48]) == Self.checksum(key: key, binary: binary) else { return nil }
        return binary
    }

    /// SHA-256(key ‖ 0 ‖ binary): an entry is only ever valid for its own key.
    static func checksum(key: String, binary: [UInt8]) -> [UInt8] { SHA256.digest(Array(key.utf8) + [0] + binary) }

    private func writeEntry(_ dir: URL, key: String, binary: [UInt8]) {
        guard !binary.isEmpty else { return }
        var data = Self.magic
        let length = UInt64(binary.count)
        for i in 0..<8 { data.append(UInt8((length >> (8 * UInt64(i))) & 0xff)) }
        data += Self.checksum(key: key, binary: binary)
        data += binary
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let tmp = dir.appendingPathComponent(".\(key).\(ProcessInfo.processInfo.processIdentifier).\(UInt32.random(in: 0...UInt32.max)).tmp")
            try Data(data).write(to: tmp)
            if rename(tmp.path, dir.appendingPathComponent(key + ".clbin").path) != 0 {
                try? FileManager.default.removeItem(at: tmp)
            }
        } catch {
            // A cache that cannot be written only costs compile time.
        }
    }
}

/// SHA-256 (FIPS 180-4): program-cache keys, index shard checksums. `Hasher` takes the message
/// in pieces (files of any size in bounded memory).
public enum SHA256 {
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    /// An incremental SHA-256.
    public struct Hasher {
        private var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        private var pending: [UInt8] = []
        private var length: UInt64 = 0
        private var w = [UInt32](repeating: 0, count: 64)

        public init() {}

        public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
            length &+= UInt64(bytes.count)
            pending.append(contentsOf: bytes)
            var start = 0
            while pending.count - start >= 64 {
                compress(start)
                start += 64
            }
            if start > 0 { pending.removeFirst(start) }
        }

        private mutating func compress(_ chunk: Int) {
            for i in 0..<16 {
                let j = chunk + 4 * i
                w[i] = UInt32(pending[j]) << 24 | UInt32(pending[j + 1]) << 16 | UInt32(pending[j + 2]) << 8 | UInt32(pending[j + 3])
            }
            for i in 16..<64 {
                let s0 = w[i - 15].rotr(7) ^ w[i - 15].rotr(18) ^ (w[i - 15] >> 3)
                let s1 = w[i - 2].rotr(17) ^ w[i - 2].rotr(19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
            for i in 0..<64 {
                let s1 = e.rotr(6) ^ e.rotr(11) ^ e.rotr(25)
                let ch = (e & f) ^ (~e & g)
                let t1 = hh &+ s1 &+ ch &+ SHA256.k[i] &+ w[i]
                let s0 = a.rotr(2) ^ a.rotr(13) ^ a.rotr(22)
                let maj = (a & b) ^ (a & c) ^ (b & c)
                let t2 = s0 &+ maj
                (hh, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
            }
            h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d
            h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
        }

        /// The digest of everything passed to `update`.
        public mutating func finalize() -> [UInt8] {
            let bitLength = length &* 8
            var tail: [UInt8] = [0x80]
            while (pending.count + tail.count) % 64 != 56 { tail.append(0) }
            for i in (0..<8).reversed() { tail.append(UInt8((bitLength >> (8 * UInt64(i))) & 0xff)) }
            let saved = length
            update(tail)
            length = saved
            return h.flatMap { v in (0..<4).map { UInt8((v >> (24 - 8 * UInt32($0))) & 0xff) } }
        }
    }

    public static func digest(_ message: [UInt8]) -> [UInt8] {
        var hasher = Hasher()
        hasher.update(message)
        return hasher.finalize()
    }

    public static func hex(_ message: [UInt8]) -> String { hexString(digest(message)) }

    static func hexString(_ digest: [UInt8]) -> String {
        digest.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    /// The hex digest of a file, read in 4 MiB pieces.
    public static func file(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw GPUInferError.io(path: path, reason: "cannot open to checksum") }
        defer { try? handle.close() }
        var hasher = Hasher()
        while true {
            let chunk: Data
            do { chunk = try handle.read(upToCount: 4 << 20) ?? Data() } catch { throw GPUInferError.io(path: path, reason: "cannot read: \(error)") }
            if chunk.isEmpty { break }
            hasher.update(chunk)
        }
        return hexString(hasher.finalize())
    }
}

private extension UInt32 {
    func rotr(_ n: UInt32) -> UInt32 { (self >> n) | (self << (32 - n)) }
}
