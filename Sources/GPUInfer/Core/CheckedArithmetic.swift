// Checked integer arithmetic for shapes, attribute values and offsets read from files. Swift traps
// on overflow; a model or file is not allowed to make it: an out-of-range result is a typed error.
// Thrown from an operator's type inference, the error is attributed to the node (Model's
// inferTypes wrapper turns it into a shape error naming node and op).
public enum Checked {
    static func overflow(_ a: Int, _ op: String, _ b: Int, _ what: String) -> GPUInferError {
        .invalidInput("\(what.isEmpty ? "" : what + ": ")\(a) \(op) \(b) overflows a 64-bit integer")
    }

    /// a + b, or a typed error naming `what` when it overflows.
    public static func add(_ a: Int, _ b: Int, _ what: @autoclosure () -> String = "") throws -> Int {
        let (r, o) = a.addingReportingOverflow(b)
        if o { throw overflow(a, "+", b, what()) }
        return r
    }

    /// a − b.
    public static func sub(_ a: Int, _ b: Int, _ what: @autoclosure () -> String = "") throws -> Int {
        let (r, o) = a.subtractingReportingOverflow(b)
        if o { throw overflow(a, "−", b, what()) }
        return r
    }

    /// a × b.
    public static func mul(_ a: Int, _ b: Int, _ what: @autoclosure () -> String = "") throws -> Int {
        let (r, o) = a.multipliedReportingOverflow(by: b)
        if o { throw overflow(a, "×", b, what()) }
        return r
    }

    /// The sum of `values`.
    public static func sum(_ values: [Int], _ what: @autoclosure () -> String = "") throws -> Int {
        var s = 0
        for v in values { s = try add(s, v, what()) }
        return s
    }

    /// The product of `values` (1 for none).
    public static func product(_ values: [Int], _ what: @autoclosure () -> String = "") throws -> Int {
        var p = 1
        for v in values { p = try mul(p, v, what()) }
        return p
    }
}
