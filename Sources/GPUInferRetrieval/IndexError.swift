// Typed errors of retrieval indexes: what is wrong with which file of the index folder.
import GPUInfer

/// An index folder (or the descriptors given to an index) is missing, corrupt, truncated or
/// inconsistent.
public enum RetrievalIndexError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A file the index needs does not exist.
    case missingFile(path: String)
    /// A file exists but its contents are not what the format says (bad JSON, bad .npy header,
    /// wrong element type, a descriptor that is not unit length …).
    case corrupt(path: String, reason: String)
    /// A file is shorter than its header or the manifest says.
    case truncated(path: String, expectedBytes: Int, actualBytes: Int)
    /// The files disagree with each other (count, dimension, model), or an operation mixes
    /// incompatible indexes or descriptors.
    case mismatch(path: String, reason: String)
    /// The manifest names a format version this build does not read.
    case unsupportedVersion(path: String, found: Int, supported: Int)
    /// Descriptors handed to `add` cannot go into the index.
    case invalidDescriptors(reason: String)
    /// The output folder already holds a finished index (indexing refuses to overwrite it).
    case alreadyExists(path: String)
    /// `--restart` on a folder whose files of an index's names (`manifest.json`, `files.jsonl`,
    /// `descriptors.npy`, …) are not an index's: they are somebody's own and stay.
    case notAnIndex(path: String, files: [String])
    /// Another process is writing this index folder (it holds the folder's lock).
    case locked(path: String, holder: String)

    public var description: String {
        switch self {
        case let .missingFile(path): "\(path): index file missing"
        case let .corrupt(path, reason): "\(path): corrupt index file: \(reason)"
        case let .truncated(path, expected, actual): "\(path): truncated index file: \(actual) bytes, expected \(expected)"
        case let .mismatch(path, reason): "\(path): index files disagree: \(reason)"
        case let .unsupportedVersion(path, found, supported): "\(path): index format version \(found) is not supported (this build reads versions 1 to \(supported))"
        case let .invalidDescriptors(reason): "invalid descriptors: \(reason)"
        case let .alreadyExists(path): "\(path): a finished index is already there (pass --restart to rebuild it, or choose another --output)"
        case let .locked(path, holder):
            "\(path): another index run is writing this folder (\(holder)); wait for it to finish, or choose another --output"
        case let .notAnIndex(path, files):
            "\(path): not a gpuinfer index, yet it holds \(files.joined(separator: ", ")): --restart would overwrite them; choose another --output"
        }
    }
}
