// An exclusive lock on an index folder while it is written: two `index` runs into one folder would
// interleave their batches in one progress file and corrupt the index. flock on `.lock` in the
// folder: released when the run ends or its process dies (the kernel drops it), so a killed run
// never leaves a stale lock behind. The file holds the holder's process id, for the message.
import Foundation
import GPUInfer

final class IndexLock {
    static let file = ".lock"
    private var fd: Int32

    /// Takes the lock on `folder` or throws `RetrievalIndexError.locked` naming the holder.
    init(folder: String) throws {
        let path = (folder as NSString).appendingPathComponent(Self.file)
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw GPUInferError.io(path: path, reason: "cannot open the index lock: \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let e = errno
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buffer, buffer.count, 0)
            close(fd)
            fd = -1
            guard e == EWOULDBLOCK else { throw GPUInferError.io(path: path, reason: "cannot lock: \(String(cString: strerror(e)))") }
            let pid = n > 0 ? String(decoding: buffer.prefix(n), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
            throw RetrievalIndexError.locked(path: folder, holder: pid.isEmpty ? "process unknown" : "process \(pid)")
        }
        let me = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, me, me.count, 0)
    }

    func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { release() }
}
