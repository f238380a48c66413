// Everything the tool prints: control characters that came from files (node and output names of
// a model, names of indexed image files, paths) are escaped (GPUInfer's TerminalText), so a
// name cannot drive the terminal (ESC/OSC sequences, BEL, CR) or forge a line of output.
import Foundation
import GPUInfer

enum FileHandleWriter {
    /// Writes `s` to standard error, every control character but newline and tab escaped.
    static func write(_ s: String) { FileHandle.standardError.write(Data(TerminalText.lines(s).utf8)) }
}

/// The standard library's `print` for this module (it shadows `Swift.print`): every control
/// character but newline and tab escaped.
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    Swift.print(TerminalText.lines(items.map { "\($0)" }.joined(separator: separator) + terminator), terminator: "")
}

/// A name from a file (node, output or file name, path) for one line of output: every control
/// character escaped, newlines and tabs too.
func shown(_ name: String) -> String { TerminalText.name(name) }
