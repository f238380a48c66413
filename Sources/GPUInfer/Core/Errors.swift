// Typed errors. Every failure a user can cause (bad file, unsupported op, missing device, device
// out of memory) surfaces as one of these, with what failed and where.

/// An error raised by gpuinfer: it says what went wrong and where.
public enum GPUInferError: Error, CustomStringConvertible, Equatable, Sendable {
    /// An OpenCL call failed: the status name and code, the call, and the kernel if any.
    case openCL(status: Int32, call: String, kernel: String?)
    /// An OpenCL program failed to build; `log` is the compiler's build log.
    case buildFailed(program: String, device: String, log: String)
    /// The model uses an operator (or an attribute value) this engine does not implement.
    case unsupportedOp(op: String, domain: String, node: String, opset: Int, reason: String)
    /// The model file is malformed: `location` says where (file, node, tensor).
    case invalidModel(location: String, reason: String)
    /// Shapes or types do not fit the operator.
    case shapeMismatch(node: String, op: String, reason: String)
    /// A tensor's element type is not supported.
    case unsupportedDType(String, location: String)
    /// A file could not be read or written.
    case io(path: String, reason: String)
    /// The caller passed something that does not fit the model (missing input, wrong shape).
    case invalidInput(String)
    /// No device with that index.
    case deviceNotFound(requested: String, available: Int)
    /// A device allocation failed.
    case outOfMemory(bytes: Int, device: String)
    /// An image file could not be decoded (not an image, truncated, corrupt, too large).
    case invalidImage(path: String, reason: String)
    /// An execution option (a GPUINFER_* variable or its command-line flag) has a value outside
    /// the allowed ones (`ExecutionOptions.table`).
    case invalidOption(name: String, value: String, allowed: String)

    public var description: String {
        switch self {
        case let .openCL(status, call, kernel):
            let name = CLStatus.name(status)
            return "OpenCL error \(name) (\(status)) in \(call)" + (kernel.map { " [\($0)]" } ?? "")
        case let .buildFailed(program, device, log):
            return "OpenCL program '\(program)' failed to build on \(device):\n\(log)"
        case let .unsupportedOp(op, domain, node, opset, reason):
            let qualified = domain.isEmpty ? op : "\(domain).\(op)"
            return "unsupported operator \(qualified) (opset \(opset)) at node '\(node)': \(reason)"
        case let .invalidModel(location, reason):
            return "invalid model (\(location)): \(reason)"
        case let .shapeMismatch(node, op, reason):
            return "shape error at node '\(node)' (\(op)): \(reason)"
        case let .unsupportedDType(type, location):
            return "unsupported element type \(type) (\(location))"
        case let .io(path, reason):
            return "\(path): \(reason)"
        case let .invalidInput(reason):
            return "invalid input: \(reason)"
        case let .deviceNotFound(requested, available):
            return "no device '\(requested)': \(available) OpenCL device(s) found (see `gpuinfer devices`); use 'cpu' for the reference backend"
        case let .outOfMemory(bytes, device):
            return "out of device memory allocating \(bytes) bytes on \(device)"
        case let .invalidImage(path, reason):
            return "\(path): invalid image: \(reason)"
        case let .invalidOption(name, value, allowed):
            return "invalid value '\(value)' for \(name): allowed \(allowed)"
        }
    }
}
