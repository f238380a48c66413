// Structure-aware mutation of a retrieval index folder: manifest.json and files.jsonl are parsed as
// JSON and one value changed (numbers to the edges, types swapped, keys removed or added, lines
// duplicated, dropped or reordered); descriptors.npy gets a header whose shape, dtype or order
// lies, or a payload of the wrong length. `RetrievalIndex.load` and a search must then succeed or
// throw a typed error (RetrievalIndexError or GPUInferError).
import Foundation
import GPUInfer

public enum IndexMutator {
    nonisolated(unsafe) static let jsonValues: [Any] = [
        0, -1, 1, 2, 5, 6, 7, Int64.max, Int64.min, Int64(Int32.max) + 1, 1e308, -1e308, 0.5, 1 << 40,
        "", "x", "../../etc/passwd", "\u{1B}[31mred", NSNull(), true, false, [Any](), ["a"], [String: Any](),
        String(repeating: "9", count: 400),
    ]

    /// Mutates `bytes`, the content of the index file `file`.
    public static func mutate(file: String, _ bytes: Data, _ rng: inout FuzzRandom) -> (Data, String) {
        switch file {
        case "manifest.json":
            guard var object = (try? JSONSerialization.jsonObject(with: bytes)) as? [String: Any] else { return (bytes, "unparsed") }
            let what = mutateObject(&object, &rng)
            return ((try? JSONSerialization.data(withJSONObject: object)) ?? bytes, what)
        case "files.jsonl":
            var lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            if lines.last == "" { lines.removeLast() }
            guard !lines.isEmpty else { return (bytes, "empty") }
            let i = rng.below(lines.count)
            let what: String
            switch rng.below(6) {
            case 0: lines.append(lines[i]); what = "line \(i) duplicated"
            case 1: lines.remove(at: i); what = "line \(i) removed"
            case 2: lines.swapAt(i, rng.below(lines.count)); what = "lines swapped"
            case 3: lines.insert(rng.pick(["{}", "[]", "null", "{\"path\":", "1", "\u{0}"]), at: i); what = "junk line"
            default:
                guard var object = (try? JSONSerialization.jsonObject(with: Data(lines[i].utf8))) as? [String: Any] else { return (bytes, "unparsed line") }
                what = "line \(i): " + mutateObject(&object, &rng)
                lines[i] = String(decoding: (try? JSONSerialization.data(withJSONObject: object)) ?? Data(), as: UTF8.self)
            }
            return (Data((lines.joined(separator: "\n") + "\n").utf8), what)
        default:
            return mutateNpy(bytes, &rng)
        }
    }

    static func mutateObject(_ object: inout [String: Any], _ rng: inout FuzzRandom) -> String {
        let keys = object.keys.sorted()
        if keys.isEmpty || rng.chance(0.1) {
            object["extra_\(rng.below(9))"] = rng.pick(jsonValues)
            return "key added"
        }
        let key = rng.pick(keys)
        if rng.chance(0.15) {
            object[key] = nil
            return "\(key) removed"
        }
        if var nested = object[key] as? [String: Any], rng.chance(0.7) {
            let what = mutateObject(&nested, &rng)
            object[key] = nested
            return "\(key)." + what
        }
        if var array = object[key] as? [Any], !array.isEmpty, rng.chance(0.7) {
            array[rng.below(array.count)] = rng.pick(jsonValues)
            object[key] = array
            return "\(key)[…] changed"
        }
        let value = rng.pick(jsonValues)
        object[key] = value
        return "\(key) = \(String(describing: value).prefix(24))"
    }

    /// A .npy file with its header dictionary rewritten or its payload resized.
    static func mutateNpy(_ bytes: Data, _ rng: inout FuzzRandom) -> (Data, String) {
        let b = [UInt8](bytes)
        guard b.count >= 10, b[0] == 0x93 else { return (bytes, "not npy") }
        let headerLength = Int(b[8]) | Int(b[9]) << 8
        guard b.count >= 10 + headerLength else { return (bytes, "short") }
        var header = String(decoding: b[10..<(10 + headerLength)], as: UTF8.self)
        let payload = Array(b[(10 + headerLength)...])
        let what: String
        switch rng.below(5) {
        case 0:
            let shapes = ["()", "(0,)", "(5,)", "(5, 6, 1)", "(-1, 6)", "(9223372036854775807, 6)", "(5, 9223372036854775807)",
                          "(4294967296, 4294967296)", "(6, 5)", "(0, 6)", "(5, 0)", "(99999999999999999999, 1)"]
            let s = rng.pick(shapes)
            header = header.replacingOccurrences(of: #"\([0-9, ]*\)"#, with: s, options: .regularExpression)
            what = "shape \(s)"
        case 1:
            let d = rng.pick(["<f8", ">f4", "|b1", "<i8", "|O", "<f2", "<c8", "<U3", "f4", "<f4"])
            header = header.replacingOccurrences(of: #"'descr': '[^']*'"#, with: "'descr': '\(d)'", options: .regularExpression)
            what = "descr \(d)"
        case 2:
            header = header.replacingOccurrences(of: "False", with: "True")
            what = "fortran order"
        case 3:
            var p = payload
            if rng.chance(0.5) { p = Array(p.prefix(rng.below(p.count + 1))) } else { p += [UInt8](repeating: 0x7f, count: 1 + rng.below(64)) }
            return (Data(b[..<(10 + headerLength)] + p), "payload \(p.count) bytes")
        default:
            // Payload floats to NaN/∞ (the loader normalises rows).
            var p = payload
            let n = p.count / 4
            guard n > 0 else { return (bytes, "empty payload") }
            let v = rng.pick([Float.nan, .infinity, -.infinity, 0, .greatestFiniteMagnitude])
            for _ in 0..<(1 + rng.below(4)) {
                let i = rng.below(n)
                withUnsafeBytes(of: v.bitPattern.littleEndian) { p.replaceSubrange((i * 4)..<(i * 4 + 4), with: $0) }
            }
            return (Data(b[..<(10 + headerLength)] + p), "payload values \(v)")
        }
        var h = Array(header.utf8)
        // The header stays padded to a multiple of 64 as writers do (or not, now and then).
        if rng.chance(0.8) { while (10 + h.count) % 64 != 0 { h.insert(0x20, at: h.count - 1) } }
        let n = h.count
        return (Data(b[0..<8] + [UInt8(n & 0xff), UInt8(n >> 8)] + h + payload), what)
    }
}
