// NumPy .npy files (format 1.0–3.0): float32 and int64 (also int32/uint8/bool read), C order.
import Foundation

public enum Npy {
    /// Reads a .npy file.
    public static func read(path: String) throws -> Tensor {
        return try decode(try RegularFile.read(path, what: ".npy file"), name: path)
    }

    /// Decodes .npy bytes.
    public static func decode(_ data: Data, name: String = "<npy>") throws -> Tensor {
        let bytes = [UInt8](data)
        func fail(_ reason: String) -> GPUInferError { .io(path: name, reason: "not a valid .npy file: \(reason)") }
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else { throw fail("bad magic") }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        } else if major == 2 || major == 3 {
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        } else {
            throw fail("unsupported version \(major)")
        }
        guard headerLength >= 0, headerStart + headerLength <= bytes.count else { throw fail("truncated header") }
        let header = String(decoding: bytes[headerStart..<headerStart + headerLength], as: UTF8.self)
        guard let descr = field(header, "descr"), let fortran = field(header, "fortran_order"), let shapeText = field(header, "shape") else {
            throw fail("header lacks descr, fortran_order or shape")
        }
        guard fortran.hasPrefix("False") else { throw fail("Fortran-order arrays are not supported") }
        let dims = shapeText.trimmingCharacters(in: "(").split(whereSeparator: { $0 == "," || $0 == ")" || $0 == " " })
        var shape: [Int] = []
        for d in dims {
            guard let v = Int(d), v >= 0 else { throw fail("bad shape \(shapeText)") }
            shape.append(v)
        }
        guard let count = Shape.checkedCount(shape), count <= 1 << 34 else { throw fail("shape \(shape) is too large") }
        let type = descr.replacingOccurrences(of: "'", with: "").replacingOccurrences(of: "\"", with: "")
        let body = headerStart + headerLength
        let sizes: [String: Int] = ["<f4": 4, "<i8": 8, "<i4": 4, "|u1": 1, "|b1": 1, "|i1": 1, "<f8": 8]
        guard let size = sizes[type] else { throw fail("unsupported dtype \(type) (supported: float32, float64, int64, int32, int8, uint8, bool)") }
        guard bytes.count - body == count * size else {
            throw fail("data has \(bytes.count - body) bytes, shape \(shape) of \(type) needs \(count * size)")
        }
        return bytes.withUnsafeBytes { raw -> Tensor in
            let p = UnsafeRawBufferPointer(rebasing: raw[body...])
            switch type {
            case "<f4": return Tensor(shape: shape, floats: (0..<count).map { Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) })
            case "<f8": return Tensor(shape: shape, floats: (0..<count).map { Float(Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self)))) })
            case "<i8": return Tensor(shape: shape, ints: (0..<count).map { Int64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) })
            case "<i4": return Tensor(shape: shape, ints: (0..<count).map { Int64(Int32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }, dtype: .int32)
            case "|i1": return Tensor(shape: shape, ints: (0..<count).map { Int64(Int8(bitPattern: p[$0])) }, dtype: .int8)
            case "|b1": return Tensor(shape: shape, ints: (0..<count).map { p[$0] != 0 ? 1 : 0 }, dtype: .bool)
            default: return Tensor(shape: shape, ints: (0..<count).map { Int64(p[$0]) }, dtype: .uint8)
            }
        }
    }

    /// Encodes a tensor as .npy (float32 → `<f4`, int64 → `<i8`, int32 → `<i4`, bool → `|b1`, uint8 → `|u1`; other integer types as int64).
    public static func encode(_ t: Tensor) -> Data {
        let descr: String
        switch t.dtype {
        case .float32: descr = "<f4"
        case .int32: descr = "<i4"
        case .bool: descr = "|b1"
        case .uint8: descr = "|u1"
        default: descr = "<i8"
        }
        let shape = t.shape.isEmpty ? "()" : t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var out = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
        out.append(contentsOf: Array(header.utf8))
        switch descr {
        case "<f4": t.floats.withUnsafeBytes { out.append(contentsOf: $0) }
        case "<i4": t.ints.map { Int32(truncatingIfNeeded: $0) }.withUnsafeBytes { out.append(contentsOf: $0) }
        case "|b1", "|u1": out.append(contentsOf: t.ints.map { UInt8(truncatingIfNeeded: $0) })
        default: t.ints.withUnsafeBytes { out.append(contentsOf: $0) }
        }
        return out
    }

    /// Writes a tensor as a .npy file (atomically).
    public static func write(_ t: Tensor, path: String) throws {
        do { try encode(t).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw GPUInferError.io(path: path, reason: "cannot write: \(FileSystemErrors.reason(error))")
        }
    }

    /// File names (without extension) for the values `names`, one each and all distinct, also
    /// when compared ignoring case (as case-insensitive file systems do): `fileName(forValue:)`,
    /// and for a name whose file name an earlier value already took (`a/b`, `a:b` and `a_b` all map
    /// to `a_b`) the first free of `a_b~2`, `a_b~3`, …, so that no output overwrites another.
    public static func fileNames(forValues names: [String]) -> [String] {
        var taken = Set<String>()
        return names.map { name in
            let base = fileName(forValue: name)
            var candidate = base
            var k = 2
            while taken.contains(candidate.lowercased()) {
                candidate = "\(base)~\(k)"
                k += 1
            }
            taken.insert(candidate.lowercased())
            return candidate
        }
    }

    /// A file name (without extension) for a graph value: characters that cannot stand in a
    /// file name (`/`, `\\`, `:`, control characters) become `_`; "", "." and ".." get a `_` prefix.
    public static func fileName(forValue name: String) -> String {
        let mapped = String(name.map { c -> Character in
            c == "/" || c == "\\" || c == ":" || c.asciiValue.map({ $0 < 32 }) == true ? "_" : c
        })
        return mapped.isEmpty || mapped == "." || mapped == ".." ? "_" + mapped : mapped
    }

    private static func field(_ header: String, _ key: String) -> String? {
        guard let r = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else { return nil }
        var rest = header[r.upperBound...].drop { $0 == " " || $0 == ":" }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        }
        if let end = rest.firstIndex(where: { $0 == "," || $0 == "}" }) { rest = rest[..<end] }
        return rest.trimmingCharacters(in: " ")
    }
}

private extension Substring {
    func trimmingCharacters(in c: Character) -> String { String(self).trimmingCharacters(in: c) }
}
