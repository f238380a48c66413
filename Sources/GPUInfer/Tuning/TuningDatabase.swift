// The kernel tuning database: per device, the kernel parameters `gpuinfer tune` measured fastest
// for one kernel family and one shape.
//
// One JSON file per device in <dir>/<device-slug>-<hash>.json, where the hash is SHA-256 of
// (platform name ‖ device name ‖ driver version) and the file repeats those three fields (a file
// for another device or driver is ignored). Each entry: kernel family, shape signature, kernel file
// and the SHA-256 of that file's source (common.cl prepended), the parameters, and the default's
// and the winner's measured time. An entry whose kernel source changed since it was measured is
// stale and ignored. The folder is $GPUINFER_TUNING_DIR, else tuning/ inside the program cache's
// folder ($GPUINFER_CACHE_DIR, $XDG_CACHE_HOME/gpuinfer or ~/.cache/gpuinfer);
// GPUINFER_NO_TUNING=1 disables it. An unreadable, corrupt or wrong-version file gives one warning
// on stderr and today's defaults, never an error. Writes go to a temporary file and are renamed.
import Foundation

/// One tunable kernel choice: a kernel family (e.g. "conv_blocked") and a shape signature that
/// names everything the choice depends on (channels, kernel window, strides, output size, batch).
public struct TuningKey: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Kernel family, also the prefix of the parameters' meaning ("conv_blocked": CO, PX).
    public let family: String
    /// Kernel file (Kernels/<kernel>.cl) whose source hash guards the entry.
    public let kernel: String
    /// Shape signature, e.g. "c64 co256 g1 k3x3 s1x1 d1x1 p1,1,1,1 o56x56 n1".
    public let signature: String

    public init(family: String, kernel: String, signature: String) {
        self.family = family
        self.kernel = kernel
        self.signature = signature
    }

    public var description: String { "\(family)[\(signature)]" }
}

/// Where a kernel's parameters came from.
public enum TuningSource: String, Sendable, Codable {
    /// The hard-coded defaults (no database entry).
    case defaults
    /// A tuning database entry.
    case database
    /// An environment override ($GPUINFER_CONV_TILE, $GPUINFER_GEMM_TILE …), which beats the database.
    case environment
    /// A candidate being measured by the tuner.
    case candidate
}

/// The parameters one node's kernel was built with, recorded in the plan (`Session.tuningChoices`).
public struct TuningChoice: Sendable, CustomStringConvertible {
    public let node: String
    public let key: TuningKey
    public let parameters: [String: Int]
    public let defaults: [String: Int]
    public let source: TuningSource
    /// The search space: axes in search order, and which combinations the kernel accepts.
    let space: TuningSpace

    public var description: String {
        "\(node): \(key) \(TuningDatabase.format(parameters)) (\(source.rawValue))"
    }
}

/// The values a tuner may try for a kernel's parameters.
struct TuningSpace: Sendable {
    /// Parameter name → values, searched one axis at a time in this order.
    var axes: [(name: String, values: [Int])]
    /// Whether the kernel accepts a parameter set (also guards database entries edited by hand).
    var isValid: @Sendable ([String: Int]) -> Bool
}

/// Why a tuning database file was not used.
public enum TuningDatabaseError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case corrupt(path: String, reason: String)
    case wrongVersion(path: String, found: Int, expected: Int)
    case otherDevice(path: String, found: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): "\(path): cannot read the tuning database (\(reason))"
        case let .corrupt(path, reason): "\(path): corrupt tuning database (\(reason))"
        case let .wrongVersion(path, found, expected): "\(path): tuning database format \(found), this gpuinfer reads format \(expected)"
        case let .otherDevice(path, found): "\(path): tuning database is for another device or driver (\(found))"
        }
    }
}

/// One stored measurement.
public struct TuningEntry: Codable, Sendable, Equatable {
    public var family: String
    public var signature: String
    public var kernel: String
    /// SHA-256 of the kernel's source when measured.
    public var kernelHash: String
    public var parameters: [String: Int]
    public var defaultParameters: [String: Int]
    /// Median device time of the node with the defaults and with `parameters`.
    public var defaultNanoseconds: UInt64
    public var tunedNanoseconds: UInt64

    var key: TuningKey { TuningKey(family: family, kernel: kernel, signature: signature) }
}

/// Tuned kernel parameters for every device, backed by one JSON file per device.
public final class TuningDatabase: @unchecked Sendable {
    /// Version of the file format; files of another version are ignored (with a warning).
    public static let formatVersion = 1

    /// The folder, or nil for an in-memory database that never reads or writes files.
    public let directory: URL?
    private let lock = NSLock()
    private var loaded: [String: DeviceFile] = [:]
    private var problems: [String: TuningDatabaseError] = [:]
    private var warned = Set<String>()
    /// Where warnings go (stderr by default; tests collect them).
    var warn: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(("warning: " + $0 + "\n").utf8)) }

    public init(directory: URL?) {
        self.directory = directory
    }

    /// The database in the folder the environment configures (`ExecutionOptions.Folders`; nil
    /// with GPUINFER_NO_TUNING=1 or no folder).
    public static let `default`: TuningDatabase? = ExecutionOptions.Folders.process.tuning.map { TuningDatabase(directory: $0) }

    // MARK: Device identity and files

    /// The fields that identify a device's file.
    struct DeviceIdentity: Codable, Equatable {
        var platform: String
        var device: String
        var driver: String
        init(_ info: CLDeviceInfo) {
            platform = info.platformName
            device = info.name
            driver = info.driverVersion
        }
    }

    /// The file's contents.
    struct DeviceFile: Codable {
        var format: Int
        var platform: String
        var device: String
        var driver: String
        var entries: [TuningEntry]
    }

    /// The file that holds `device`'s entries (nil for an in-memory database).
    public func fileURL(for device: CLDeviceInfo) -> URL? {
        directory?.appendingPathComponent(Self.fileName(DeviceIdentity(device)))
    }

    static func fileName(_ id: DeviceIdentity) -> String {
        let slug = String(id.device.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }.prefix(40))
        let hash = SHA256.hex(Array("\(id.platform)\u{0}\(id.device)\u{0}\(id.driver)".utf8)).prefix(12)
        return "\(slug)-\(hash).json"
    }

    /// The loaded entries of `device` (reading its file on first use).
    private func file(_ device: CLDeviceInfo) -> DeviceFile {
        let id = DeviceIdentity(device)
        let name = Self.fileName(id)
        if let f = loaded[name] { return f }
        var f = DeviceFile(format: Self.formatVersion, platform: id.platform, device: id.device, driver: id.driver, entries: [])
        if let url = directory?.appendingPathComponent(name) {
            do {
                if let read = try Self.read(url, id: id) { f = read }
            } catch let e as TuningDatabaseError {
                problems[name] = e
                if warned.insert(name).inserted { warn("\(e); using the default kernel parameters") }
            } catch {
                problems[name] = .unreadable(path: url.path, reason: "\(error)")
            }
        }
        loaded[name] = f
        return f
    }

    /// Reads and checks a device file; nil when there is none.
    static func read(_ url: URL, id: DeviceIdentity) throws -> DeviceFile? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw TuningDatabaseError.unreadable(path: url.path, reason: FileSystemErrors.reason(error)) }
        // The version first, so a newer format is reported as such and not as corrupt.
        struct Version: Decodable { var format: Int }
        let version: Version
        do { version = try JSONDecoder().decode(Version.self, from: data) } catch {
            throw TuningDatabaseError.corrupt(path: url.path, reason: Self.reason(error))
        }
        guard version.format == formatVersion else { throw TuningDatabaseError.wrongVersion(path: url.path, found: version.format, expected: formatVersion) }
        let file: DeviceFile
        do { file = try JSONDecoder().decode(DeviceFile.self, from: data) } catch {
            throw TuningDatabaseError.corrupt(path: url.path, reason: Self.reason(error))
        }
        guard file.platform == id.platform, file.device == id.device, file.driver == id.driver else {
            throw TuningDatabaseError.otherDevice(path: url.path, found: "\(file.device), \(file.platform), driver \(file.driver)")
        }
        return file
    }

    private static func reason(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c): "invalid JSON: \(c.debugDescription)"
        case DecodingError.keyNotFound(let k, _): "missing field '\(k.stringValue)'"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            "wrong type at \(c.codingPath.map(\.stringValue).joined(separator: ".")): \(c.debugDescription)"
        default: "\(error)"
        }
    }

    // MARK: Lookup and update

    /// Why `device`'s file was not used, or nil when it was read (or there is none).
    public func problem(for device: CLDeviceInfo) -> TuningDatabaseError? {
        lock.withLock {
            _ = file(device)
            return problems[Self.fileName(DeviceIdentity(device))]
        }
    }

    /// The stored parameters for `key` on `device`, or nil (no entry, or its kernel source changed).
    public func parameters(for key: TuningKey, device: CLDeviceInfo) -> [String: Int]? {
        guard let hash = KernelLibrary.sourceHash(key.kernel) else { return nil }
        return lock.withLock {
            file(device).entries.first { $0.key == key && $0.kernelHash == hash }?.parameters
        }
    }

    /// Every entry of `device`, stale ones included.
    public func entries(for device: CLDeviceInfo) -> [TuningEntry] {
        lock.withLock { file(device).entries }
    }

    /// Adds or replaces the entry for `key` in memory (`save` writes it).
    public func store(_ key: TuningKey, parameters: [String: Int], defaults: [String: Int], defaultNanoseconds: UInt64,
                      tunedNanoseconds: UInt64, device: CLDeviceInfo) {
        guard let hash = KernelLibrary.sourceHash(key.kernel) else { return }
        let entry = TuningEntry(family: key.family, signature: key.signature, kernel: key.kernel, kernelHash: hash, parameters: parameters,
                                defaultParameters: defaults, defaultNanoseconds: defaultNanoseconds, tunedNanoseconds: tunedNanoseconds)
        lock.withLock {
            var f = file(device)
            f.entries.removeAll { $0.key == key }
            f.entries.append(entry)
            f.entries.sort { ($0.family, $0.signature) < ($1.family, $1.signature) }
            loaded[Self.fileName(DeviceIdentity(device))] = f
        }
    }

    /// Writes `device`'s entries (replacing an unreadable file). Throws `GPUInferError.io`.
    public func save(device: CLDeviceInfo) throws {
        guard let directory else { return }
        let name = Self.fileName(DeviceIdentity(device))
        let f = lock.withLock { file(device) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let url = directory.appendingPathComponent(name)
        do {
            let data = try encoder.encode(f)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let tmp = directory.appendingPathComponent(".\(name).\(ProcessInfo.processInfo.processIdentifier).\(UInt32.random(in: 0...UInt32.max)).tmp")
            try data.write(to: tmp)
            guard rename(tmp.path, url.path) == 0 else {
                let reason = String(cString: strerror(errno))
                try? FileManager.default.removeItem(at: tmp)
                throw GPUInferError.io(path: url.path, reason: "cannot replace the tuning database: \(reason)")
            }
        } catch let e as GPUInferError {
            throw e
        } catch {
            throw GPUInferError.io(path: url.path, reason: "cannot write the tuning database: \(FileSystemErrors.reason(error))")
        }
        lock.withLock { problems[name] = nil }
    }

    /// Removes every entry of `device`, in memory and on disk.
    public func reset(device: CLDeviceInfo) throws {
        let id = DeviceIdentity(device)
        let name = Self.fileName(id)
        lock.withLock {
            loaded[name] = DeviceFile(format: Self.formatVersion, platform: id.platform, device: id.device, driver: id.driver, entries: [])
            problems[name] = nil
        }
        guard let url = directory?.appendingPathComponent(name), FileManager.default.fileExists(atPath: url.path) else { return }
        do { try FileManager.default.removeItem(at: url) } catch {
            throw GPUInferError.io(path: url.path, reason: "cannot remove the tuning database: \(FileSystemErrors.reason(error))")
        }
    }

    /// "CO=16 PX=5".
    public static func format(_ parameters: [String: Int]) -> String {
        parameters.keys.sorted().map { "\($0)=\(parameters[$0]!)" }.joined(separator: " ")
    }
}

extension KernelLibrary {
    private static let hashLock = NSLock()
    nonisolated(unsafe) private static var hashes: [String: String] = [:]

    /// SHA-256 of the source a program of Kernels/<file>.cl is built from (common.cl included), or
    /// nil when there is no such file.
    static func sourceHash(_ file: String) -> String? {
        hashLock.lock()
        defer { hashLock.unlock() }
        if let h = hashes[file] { return h }
        guard let source = source(file) else { return nil }
        let h = SHA256.hex(Array(source.utf8))
        hashes[file] = h
        return h
    }
}
