// File-system failures as messages that name the path and the operation and say what went wrong
// in words ("no space left on device", "permission denied", "is a character device, not a
// folder"), not Foundation's "Error Domain=NSCocoaErrorDomain Code=516 …" or "The operation could
// not be completed".
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum FileSystemErrors {
    /// The reason of a Foundation or POSIX file-system error: the POSIX error's text where there is
    /// one (the error itself or its underlying error), else the Cocoa code's meaning, else the
    /// localized description.
    public static func reason(_ error: Error) -> String {
        let ns = error as NSError
        func posix(_ code: Int) -> String {
            let text = String(cString: strerror(Int32(code)))
            return text.prefix(1).lowercased() + text.dropFirst()
        }
        if ns.domain == NSPOSIXErrorDomain { return posix(ns.code) }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain { return posix(underlying.code) }
        if ns.domain == NSCocoaErrorDomain {
            switch CocoaError.Code(rawValue: ns.code) {
            case .fileNoSuchFile, .fileReadNoSuchFile: return "no such file or directory"
            case .fileReadNoPermission, .fileWriteNoPermission: return "permission denied"
            case .fileWriteOutOfSpace: return "no space left on device"
            case .fileWriteVolumeReadOnly: return "read-only file system"
            case .fileWriteFileExists: return "a file of that name is in the way"
            case .fileWriteInvalidFileName: return "invalid file name"
            default: break
            }
        }
        return ns.localizedDescription
    }

    /// Creates the folder `path` (and its parents) unless it exists; a path that exists and is no
    /// folder (a file, a device such as /dev/full) is an io error saying what it is.
    public static func createFolder(_ path: String, what: String = "folder") throws {
        var st = stat()
        if stat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else {
                let kind = st.st_mode & S_IFMT == S_IFREG ? "a file" : RegularFile.kind(st.st_mode)
                throw GPUInferError.io(path: path, reason: "cannot use as \(what): it is \(kind)")
            }
            return
        }
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw GPUInferError.io(path: path, reason: "cannot create \(what): \(reason(error))")
        }
    }
}
