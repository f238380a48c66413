// Element types. Floating-point tensors are stored as Float (fp32); every integer and bool type
// is stored as Int64 on the host and as `long` on the device, and narrowed only at the edges.

/// The element type of a tensor, with its ONNX `TensorProto.DataType` code.
public enum DType: Int, Sendable, CaseIterable, CustomStringConvertible {
    case float32 = 1
    case uint8 = 2
    case int8 = 3
    case uint16 = 4
    case int16 = 5
    case int32 = 6
    case int64 = 7
    case bool = 9
    case uint32 = 12

    /// Maps an ONNX data type code; nil for types the engine does not support.
    public init?(onnx code: Int) { self.init(rawValue: code) }

    /// Whether the host storage is `[Float]` (otherwise `[Int64]`).
    public var isFloat: Bool { self == .float32 }

    /// Bytes per element in ONNX raw data.
    public var onnxByteSize: Int {
        switch self {
        case .float32, .int32, .uint32: 4
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .int64: 8
        }
    }

    /// Bytes per element in a device buffer (Float or Int64).
    public var deviceByteSize: Int { isFloat ? 4 : 8 }

    /// Wraps an Int64 into this type's range, as a C cast would.
    public func wrap(_ v: Int64) -> Int64 {
        switch self {
        case .float32, .int64: v
        case .int32: Int64(Int32(truncatingIfNeeded: v))
        case .uint32: Int64(UInt32(truncatingIfNeeded: v))
        case .int16: Int64(Int16(truncatingIfNeeded: v))
        case .uint16: Int64(UInt16(truncatingIfNeeded: v))
        case .int8: Int64(Int8(truncatingIfNeeded: v))
        case .uint8: Int64(UInt8(truncatingIfNeeded: v))
        case .bool: v != 0 ? 1 : 0
        }
    }

    public var description: String {
        switch self {
        case .float32: "float32"
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .int32: "int32"
        case .int64: "int64"
        case .bool: "bool"
        case .uint32: "uint32"
        }
    }

    /// Name of an ONNX data type code, for error messages.
    public static func onnxName(_ code: Int) -> String {
        let names = [0: "UNDEFINED", 1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32",
                     7: "INT64", 8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32",
                     13: "UINT64", 14: "COMPLEX64", 15: "COMPLEX128", 16: "BFLOAT16"]
        return names[code] ?? "type code \(code)"
    }
}
