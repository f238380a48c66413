// What made an index's descriptors: the model file's SHA-256 and the input size and preprocessing
// its images get. An index records it (manifest "fingerprint"); `search` compares the model it is
// given against it, so a model file replaced after indexing (same path, other weights) cannot rank
// with a different embedding without a word.
import Foundation
import GPUInfer

public enum ModelFingerprint {
    /// "sha256:<hex of the model file>; <preprocessing>". The file's digest is cached in
    /// `cacheDirectory`/fingerprints.json under its path, size, modification time and inode, so
    /// a 600 MB model is read once, not at every search.
    public static func of(modelAt path: String, preprocessing: String, cacheDirectory: URL?) throws -> String {
        "sha256:\(try fileDigest(path, cacheDirectory: cacheDirectory)); \(preprocessing)"
    }

    /// Whether `recorded` is a fingerprint of this kind (older indexes recorded a name and size).
    public static func isComparable(_ recorded: String?) -> Bool { recorded?.hasPrefix("sha256:") == true }

    static func fileDigest(_ path: String, cacheDirectory: URL?) throws -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { throw GPUInferError.io(path: path, reason: "cannot stat the model: \(String(cString: strerror(errno)))") }
        let key = "\(URL(fileURLWithPath: path).standardizedFileURL.path)|\(st.st_size)|\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)|\(st.st_ino)"
        let cacheFile = cacheDirectory?.appendingPathComponent("fingerprints.json")
        var cache: [String: String] = [:]
        if let cacheFile, let data = try? RegularFile.read(cacheFile.path, limit: 16 << 20) {
            cache = (try? JSONDecoder().decode([String: String].self, from: data)) ?? [:]
        }
        if let hit = cache[key], hit.count == 64 { return hit }
        let digest = try SHA256.file(path)
        if let cacheFile, let dir = cacheDirectory {
            // A cache that cannot be written only costs the next run a read of the model.
            cache[key] = digest
            if let data = try? JSONEncoder().encode(cache), (try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)) != nil {
                try? data.write(to: cacheFile, options: .atomic)
            }
        }
        return digest
    }
}
