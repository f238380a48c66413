// Opening files named by users and by models (images, models, external data, .npy inputs) so that
// only regular files are read: opening a FIFO for reading blocks until a writer appears (an
// `index` of a folder with a FIFO in it, or external data pointing at one, would hang forever),
// and a directory or a device is no image. The open is non-blocking, the type comes from fstat on
// the opened descriptor (no window between checking and reading), and anything but a regular
// file is a typed `io` error naming the path and what it is.
import Foundation
#if canImport(Glibc)
import Glibc
@inline(__always) private func systemOpen(_ path: UnsafePointer<CChar>, _ flags: Int32) -> Int32 { Glibc.open(path, flags) }
@inline(__always) private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int { Glibc.read(fd, buffer, count) }
#elseif canImport(Darwin)
import Darwin
@inline(__always) private func systemOpen(_ path: UnsafePointer<CChar>, _ flags: Int32) -> Int32 { Darwin.open(path, flags) }
@inline(__always) private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int { Darwin.read(fd, buffer, count) }
#endif

public enum RegularFile {
    /// What a non-regular file is, for messages.
    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO (named pipe)"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        default: "not a regular file"
        }
    }

    /// A read-only descriptor of the regular file at `path` (close it) and its size. `what` names
    /// the file's role in messages ("image", "model", "external data file").
    public static func open(_ path: String, what: String = "file") throws -> (fd: Int32, size: Int) {
        let fd = systemOpen(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            let reason = e == ENOENT ? "no such file" : e == EACCES ? "permission denied" : String(cString: strerror(e))
            throw GPUInferError.io(path: path, reason: "cannot open \(what): \(reason)")
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw GPUInferError.io(path: path, reason: "cannot stat \(what): \(reason)")
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw GPUInferError.io(path: path, reason: "\(kind(st.st_mode)), not a regular file: refused as \(what)")
        }
        // Regular files never block; reads go back to blocking mode all the same.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return (fd, Int(st.st_size))
    }

    /// Why `path` cannot be read as a regular file ("a FIFO (named pipe)", "permission denied", …),
    /// or nil when it can.
    public static func problem(_ path: String) -> String? {
        do {
            try check(path)
            return nil
        } catch let GPUInferError.io(_, reason) {
            return reason.replacingOccurrences(of: "cannot open file: ", with: "").replacingOccurrences(of: ": refused as file", with: "")
        } catch {
            return "\(error)"
        }
    }

    /// Throws unless `path` is a regular file that can be opened for reading.
    public static func check(_ path: String, what: String = "file") throws {
        let (fd, _) = try open(path, what: what)
        close(fd)
    }

    /// The whole regular file at `path`; more than `limit` bytes is an error (a file that grows
    /// while being read stops at `limit` too).
    public static func read(_ path: String, what: String = "file", limit: Int = Int.max) throws -> Data {
        let (fd, size) = try open(path, what: what)
        defer { close(fd) }
        guard size <= limit else { throw GPUInferError.io(path: path, reason: "\(what) is \(size) bytes, more than the \(limit) allowed") }
        var data = Data(count: size)
        var done = 0
        try data.withUnsafeMutableBytes { (buffer: UnsafeMutableRawBufferPointer) in
            guard let base = buffer.baseAddress else { return }
            while done < size {
                let n = systemRead(fd, base + done, size - done)
                if n < 0, errno == EINTR { continue }
                if n < 0 { throw GPUInferError.io(path: path, reason: "cannot read \(what): \(String(cString: strerror(errno)))") }
                if n == 0 { break }
                done += n
            }
        }
        // A file that shrank while being read is what it was at its end.
        return done < size ? data.prefix(done) : data
    }
}
