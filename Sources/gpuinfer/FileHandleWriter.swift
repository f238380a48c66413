// Writes to standard error.
import Foundation

enum FileHandleWriter {
    static func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}
