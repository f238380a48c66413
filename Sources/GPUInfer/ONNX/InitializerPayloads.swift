// Large initializer payloads found in the protobuf wire format without decoding them, so that a
// model's weights go from the file straight into tensors: one copy, instead of the mapped file,
// swift-protobuf's `Data` copy of every raw_data field and the tensor all alive at once.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A serialized ModelProto with the `raw_data` of its large graph initializers cut out, and where
/// those bytes are in the original. Everything else (nodes, functions, small tensors) is kept.
struct InitializerPayloads {
    /// The ModelProto without the cut payloads; decodes like the original otherwise.
    let stripped: Data
    /// Initializer ordinal (position among `GraphProto.initializer`) → byte range of its raw_data
    /// in the original bytes.
    let ranges: [Int: Range<Int>]

    /// Payloads smaller than this stay in the protobuf.
    static let minimumBytes = 4096

    /// Scans `bytes` (a ModelProto). Nil when there is nothing to cut or the structure is anything
    /// but plain (malformed, groups, two graph fields, a tensor with two raw_data fields or with a
    /// data_location): the caller then decodes the original, which reports any error.
    static func scan(_ bytes: UnsafeRawBufferPointer) -> InitializerPayloads? {
        var out = Data()
        var ranges: [Int: Range<Int>] = [:]
        var graphs = 0
        let ok = fields(bytes, 0..<bytes.count) { field, wire, value, whole in
            guard field == 7, wire == 2 else { out.append(bytes, whole); return true }
            graphs += 1
            guard graphs == 1, let graph = stripGraph(bytes, value, &ranges) else { return false }
            appendLengthDelimited(&out, field: 7, graph)
            return true
        }
        guard ok, !ranges.isEmpty else { return nil }
        return InitializerPayloads(stripped: out, ranges: ranges)
    }

    /// GraphProto field 5 (initializer) entries with their payload cut, the rest copied.
    private static func stripGraph(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ ranges: inout [Int: Range<Int>]) -> Data? {
        var out = Data()
        var ordinal = 0
        let ok = fields(bytes, range) { field, wire, value, whole in
            guard field == 5, wire == 2 else { out.append(bytes, whole); return true }
            defer { ordinal += 1 }
            guard let (tensor, payload) = stripTensor(bytes, value) else { return false }
            if let payload { ranges[ordinal] = payload }
            appendLengthDelimited(&out, field: 5, tensor)
            return true
        }
        return ok ? out : nil
    }

    /// A TensorProto without its raw_data (field 9) when that is its only, large, in-place payload.
    private static func stripTensor(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> (Data, Range<Int>?)? {
        var raw: [Range<Int>] = []
        var hasLocation = false
        let ok = fields(bytes, range) { field, wire, value, _ in
            if field == 9, wire == 2 { raw.append(value) }
            if field == 14 { hasLocation = true }
            return true
        }
        guard ok else { return nil }
        guard raw.count == 1, !hasLocation, raw[0].count >= minimumBytes else {
            return (Data(UnsafeRawBufferPointer(rebasing: bytes[range])), nil)
        }
        var out = Data()
        _ = fields(bytes, range) { field, wire, _, whole in
            if !(field == 9 && wire == 2) { out.append(bytes, whole) }
            return true
        }
        return (out, raw[0])
    }

    /// Calls `body(field, wireType, value, whole)` for each field in `range` (`value`: the payload
    /// of a length-delimited field, else the encoded value; `whole`: key included). False when
    /// the bytes are malformed, use groups, or `body` returns false.
    private static func fields(_ p: UnsafeRawBufferPointer, _ range: Range<Int>,
                               _ body: (Int, Int, Range<Int>, Range<Int>) -> Bool) -> Bool {
        var i = range.lowerBound
        while i < range.upperBound {
            let start = i
            guard let key = varint(p, &i, range.upperBound), key >> 3 > 0, key >> 3 <= Int32.max else { return false }
            let wire = Int(key & 7)
            let valueStart = i
            switch wire {
            case 0: guard varint(p, &i, range.upperBound) != nil else { return false }
            case 1: i += 8
            case 5: i += 4
            case 2:
                guard let n = varint(p, &i, range.upperBound), n <= UInt64(range.upperBound - i) else { return false }
                let value = i..<(i + Int(n))
                i += Int(n)
                guard body(Int(key >> 3), wire, value, start..<i) else { return false }
                continue
            default: return false
            }
            guard i <= range.upperBound, body(Int(key >> 3), wire, valueStart..<i, start..<i) else { return false }
        }
        return true
    }

    private static func varint(_ p: UnsafeRawBufferPointer, _ i: inout Int, _ end: Int) -> UInt64? {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while i < end, shift < 64 {
            let b = p[i]
            i += 1
            v |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return v }
            shift += 7
        }
        return nil
    }

    private static func appendVarint(_ out: inout Data, _ value: UInt64) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    private static func appendLengthDelimited(_ out: inout Data, field: Int, _ payload: Data) {
        appendVarint(&out, UInt64(field) << 3 | 2)
        appendVarint(&out, UInt64(payload.count))
        out.append(payload)
    }
}

private extension Data {
    mutating func append(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) {
        append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[range]))
    }
}

/// Reads byte ranges of a model file with `pread`, straight into the caller's memory.
final class PayloadFile: @unchecked Sendable {
    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = try RegularFile.open(path, what: "model").fd
    }

    deinit { close(fd) }

    /// Fills `into` with the bytes at `offset`; a short file is an error.
    func read(at offset: Int, into: UnsafeMutableRawBufferPointer) throws {
        guard let base = into.baseAddress else { return }
        var done = 0
        while done < into.count {
            let n = pread(fd, base + done, into.count - done, off_t(offset + done))
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                throw GPUInferError.io(path: path, reason: n < 0 ? "read failed: \(String(cString: strerror(errno)))" : "file ended at byte \(offset + done) while reading a tensor")
            }
            done += n
        }
    }
}
