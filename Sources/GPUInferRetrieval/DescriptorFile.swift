// Streaming reader and writer for the index's float32 (or float16) [N, D] .npy descriptor matrix: the body is
// copied straight between the file and a [Float] (a 100,000 × 4096 matrix is 1.6 GB, too big for
// the general `Npy` reader, which builds intermediate arrays), and every malformation is a typed
// `RetrievalIndexError`.
import GPUInfer
import Foundation

/// How an index stores its descriptors on disk: float32, or float16 (half the bytes; a unit
/// vector's components lose at most 2⁻¹¹ of their value, so a cosine moves by at most ~5e-4).
public enum DescriptorStorage: String, Sendable, Codable, CaseIterable {
    case float32 = "f32", float16 = "f16"
    var descr: String { self == .float32 ? "<f4" : "<f2" }
    public var bytes: Int { self == .float32 ? 4 : 2 }
}

enum DescriptorFile {
    /// Writes `values` (row-major [rows, dimension]) as a version 1.0 `<f4` (or `<f2`) .npy,
    /// through a temporary file renamed into place.
    static func write(_ values: [Float], rows: Int, dimension: Int, path: String, storage: DescriptorStorage = .float32) throws {
        var header = "{'descr': '\(storage.descr)', 'fortran_order': False, 'shape': (\(rows), \(dimension)), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
        data.append(contentsOf: Array(header.utf8))
        let temp = path + ".tmp"
        guard FileManager.default.createFile(atPath: temp, contents: data), let handle = FileHandle(forWritingAtPath: temp) else {
            throw GPUInferError.io(path: temp, reason: "cannot create")
        }
        do {
            try handle.seekToEnd()
            if storage == .float16 {
                let step = 1 << 24
                for offset in stride(from: 0, to: values.count, by: step) {
                    let half = values[offset..<min(offset + step, values.count)].map { Float16($0) }
                    try half.withUnsafeBytes { try handle.write(contentsOf: Data($0)) }
                }
            } else {
                try values.withUnsafeBytes { raw in
                    let step = 1 << 26
                    for offset in stride(from: 0, to: raw.count, by: step) {
                        try handle.write(contentsOf: Data(UnsafeRawBufferPointer(rebasing: raw[offset..<min(offset + step, raw.count)])))
                    }
                }
            }
            try handle.close()
            try replace(path, with: temp)
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(atPath: temp)
            throw GPUInferError.io(path: path, reason: "cannot write: \(error)")
        }
    }

    /// Reads a `<f4` or `<f2` C-order 2-D .npy: returns (values as float32, rows, dimension, storage).
    static func read(path: String) throws -> (values: [Float], rows: Int, dimension: Int, storage: DescriptorStorage) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FileManager.default.fileExists(atPath: path) ? GPUInferError.io(path: path, reason: "cannot read") as Error
                : RetrievalIndexError.missingFile(path: path)
        }
        defer { try? handle.close() }
        func corrupt(_ reason: String) -> RetrievalIndexError { .corrupt(path: path, reason: "not a float32/float16 [N, D] .npy: \(reason)") }
        let fileSize = Int((try? handle.seekToEnd()) ?? 0)
        try? handle.seek(toOffset: 0)
        let prefix = [UInt8]((try? handle.read(upToCount: 12)) ?? Data())
        guard prefix.count >= 10, prefix[0] == 0x93, Array(prefix[1..<6]) == Array("NUMPY".utf8) else { throw corrupt("bad magic") }
        let (headerStart, headerLength): (Int, Int)
        switch prefix[6] {
        case 1: (headerStart, headerLength) = (10, Int(prefix[8]) | Int(prefix[9]) << 8)
        case 2, 3:
            guard prefix.count >= 12 else { throw corrupt("truncated header") }
            (headerStart, headerLength) = (12, Int(prefix[8]) | Int(prefix[9]) << 8 | Int(prefix[10]) << 16 | Int(prefix[11]) << 24)
        default: throw corrupt("unsupported .npy version \(prefix[6])")
        }
        guard headerLength <= 1 << 20, headerStart + headerLength <= fileSize else { throw corrupt("truncated header") }
        try? handle.seek(toOffset: UInt64(headerStart))
        let header = String(decoding: (try? handle.read(upToCount: headerLength)) ?? Data(), as: UTF8.self)
        let compact = header.filter { !$0.isWhitespace }.replacingOccurrences(of: "\"", with: "'")
        let storage: DescriptorStorage
        if compact.contains("'descr':'<f4'") { storage = .float32 } else if compact.contains("'descr':'<f2'") { storage = .float16 } else {
            throw corrupt("element type is not little-endian float32 ('<f4') or float16 ('<f2')")
        }
        guard compact.contains("'fortran_order':False") else { throw corrupt("not C order") }
        guard let open = compact.range(of: "'shape':("), let close = compact[open.upperBound...].firstIndex(of: ")") else {
            throw corrupt("header has no shape")
        }
        let dims = compact[open.upperBound..<close].split(separator: ",").map { Int($0) }
        guard dims.count == 2, let rows = dims[0], let dimension = dims[1], rows >= 0, dimension >= 1 else {
            throw corrupt("shape (\(compact[open.upperBound..<close])) is not (N, D)")
        }
        let (count, overflow) = rows.multipliedReportingOverflow(by: dimension)
        guard !overflow, count <= 1 << 34 else { throw corrupt("shape (\(rows), \(dimension)) is too large") }
        let body = headerStart + headerLength
        let expected = body + count * storage.bytes
        if fileSize < expected { throw RetrievalIndexError.truncated(path: path, expectedBytes: expected, actualBytes: fileSize) }
        if fileSize > expected { throw corrupt("\(fileSize - expected) bytes after the data") }
        try? handle.seek(toOffset: UInt64(body))
        var failure: Error?
        if storage == .float16 {
            // Pieces of 16 Mi halves, widened exactly to float32.
            var values: [Float] = []
            values.reserveCapacity(count)
            var read = 0
            while read < count {
                let n = min(1 << 24, count - read)
                guard let chunk = try? handle.read(upToCount: n * 2), chunk.count == n * 2 else {
                    throw RetrievalIndexError.truncated(path: path, expectedBytes: expected, actualBytes: body + read * 2)
                }
                chunk.withUnsafeBytes { raw in
                    for i in 0..<n { values.append(Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))) }
                }
                read += n
            }
            return (values, rows, dimension, storage)
        }
        let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            var offset = 0
            while offset < raw.count {
                guard let chunk = try? handle.read(upToCount: min(1 << 26, raw.count - offset)), !chunk.isEmpty else {
                    failure = RetrievalIndexError.truncated(path: path, expectedBytes: expected, actualBytes: body + offset)
                    break
                }
                chunk.copyBytes(to: UnsafeMutableRawBufferPointer(rebasing: raw[offset..<(offset + chunk.count)]))
                offset += chunk.count
            }
            if offset < raw.count, let base = raw.baseAddress { memset(base + offset, 0, raw.count - offset) }
            initialized = count
        }
        if let failure { throw failure }
        return (values, rows, dimension, storage)
    }

    /// Moves `temp` over `path` (replacing it).
    static func replace(_ path: String, with temp: String) throws {
        if rename(temp, path) != 0 {
            throw GPUInferError.io(path: path, reason: "cannot rename \(temp) into place: \(String(cString: strerror(errno)))")
        }
    }
}
