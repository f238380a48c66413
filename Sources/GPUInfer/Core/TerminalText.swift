// Text from files (node and output names of a model, the names of indexed image files, paths)
// made safe to print: a terminal acts on control characters (ESC and OSC sequences recolour,
// retitle or rewrite the screen, BEL rings, CR and backspace overwrite what was printed) and a
// newline in a name can forge a whole result line. The command-line tool prints through
// `lines` (every control but newline and tab escaped) and interpolates names through `name`
// (newlines and tabs escaped too, so one name stays on its line).

public enum TerminalText {
    /// Whether `v` is a control character a terminal may act on: C0 (U+0000–U+001F), DEL, C1
    /// (U+0080–U+009F), and the bidirectional overrides and isolates (U+202A–U+202E,
    /// U+2066–U+2069) that reorder what follows them on screen.
    static func isControl(_ v: Unicode.Scalar) -> Bool {
        v.value < 0x20 || (0x7F...0x9F).contains(v.value) || (0x202A...0x202E).contains(v.value) || (0x2066...0x2069).contains(v.value)
    }

    static func escape(_ v: Unicode.Scalar) -> String {
        switch v {
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\t": return "\\t"
        default:
            let hex = String(v.value, radix: 16)
            return v.value <= 0xFF ? "\\x" + String(repeating: "0", count: 2 - hex.count) + hex : "\\u{\(hex)}"
        }
    }

    /// `s` as one printable line: every control character (newline and tab too) escaped as `\n`,
    /// `\r`, `\t`, `\xHH` or `\u{HHHH}`.
    public static func name(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: isControl) else { return s }
        var out = ""
        for v in s.unicodeScalars { if isControl(v) { out += escape(v) } else { out.unicodeScalars.append(v) } }
        return out
    }

    /// `s` with every control character but newline and tab escaped: for whole messages, whose own
    /// line breaks stay.
    public static func lines(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { isControl($0) && $0 != "\n" && $0 != "\t" }) else { return s }
        var out = ""
        for v in s.unicodeScalars {
            if isControl(v) && v != "\n" && v != "\t" { out += escape(v) } else { out.unicodeScalars.append(v) }
        }
        return out
    }
}
