// The reference backend's memory budget: a tensor it is about to compute must fit in the memory
// the system has available, or the run stops with a typed out-of-memory error (the device path
// checks each buffer against the device's limits the same way). Without it a hostile model (a
// Resize by 10⁶, a Pad or Conv with huge pads, a Tile or ConstantOfShape of 2³³ elements) makes
// Swift abort on a failed allocation.
import Foundation

public enum HostMemory {
    /// Bytes the system can still give this process: /proc/meminfo's MemAvailable, else the
    /// physical memory.
    public static func available() -> Int {
        min(systemAvailable(), budget ?? Int.max)
    }

    private static let budgetLock = NSLock()
    nonisolated(unsafe) private static var _budget: Int?
    /// A process-wide cap on `available()` (nil: none): a program that runs untrusted models on the
    /// reference backend side by side (the structure-aware fuzzer) bounds each tensor with it.
    public static var budget: Int? {
        get { budgetLock.withLock { _budget } }
        set { budgetLock.withLock { _budget = newValue } }
    }

    private static func systemAvailable() -> Int {
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kb = Int(line.split(separator: " ").dropFirst().first ?? "") {
            return kb.multipliedReportingOverflow(by: 1024).overflow ? Int.max : kb * 1024
        }
        let (bytes, overflow) = Int(ProcessInfo.processInfo.physicalMemory).multipliedReportingOverflow(by: 1)
        return overflow ? Int.max : bytes
    }

    /// Throws `outOfMemory` when a tensor of type `t` (an element count that overflows counts as
    /// too large) would not fit in the available memory.
    /// `available` is read only for tensors of 64 MB or more.
    static func check(_ t: TensorType, node: String, available: @autoclosure () -> Int) throws {
        let elementBytes = t.dtype.deviceByteSize
        guard let count = Shape.checkedCount(t.shape), !count.multipliedReportingOverflow(by: elementBytes).overflow else {
            throw GPUInferError.outOfMemory(bytes: Int.max, device: "the cpu reference backend: node '\(node)' output \(t.shape) has more elements than can be counted")
        }
        let bytes = count * elementBytes
        guard bytes >= 1 << 26 else { return }
        let available = available()
        guard bytes <= available else {
            throw GPUInferError.outOfMemory(bytes: bytes, device: "the cpu reference backend (node '\(node)', output \(t.shape); \(available) bytes available)")
        }
    }
}
