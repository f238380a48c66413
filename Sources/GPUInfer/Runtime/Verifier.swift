// Node-by-node comparison of a device run with the reference backend (`gpuinfer verify`).

/// How one node's device outputs compare with the reference.
public struct NodeComparison: Sendable {
    public var node: String
    public var op: String
    public var output: String
    public var shape: [Int]
    /// Largest |device − reference|.
    public var maxAbsError: Float
    /// Largest |device − reference| / max(|reference|, 1e-6) over elements.
    public var maxRelError: Float
    /// Whether every element satisfies |d − r| ≤ atol + rtol·|r| (NaN only where the reference has NaN).
    public var withinTolerance: Bool
}

public enum Verifier {
    /// Runs `model` on `session`'s device and on the reference backend, keeping every
    /// intermediate value, and compares each computed node output in topological order.
    public static func compare(_ session: Session, inputs: [String: Tensor], rtol: Float = 1e-3, atol: Float = 1e-4) throws -> [NodeComparison] {
        guard session.runtime != nil else { throw GPUInferError.invalidInput("verify needs an OpenCL device, not the cpu reference backend") }
        let model = session.model
        let reference = try ReferenceExecutor().runAll(model, inputs: inputs, keepAll: true)
        let device = try session.runKeepingAll(inputs)
        let spec = try model.specialize(inputs)
        var result: [NodeComparison] = []
        for i in spec.liveNodes {
            let node = model.graph.nodes[i]
            for name in node.outputs where !name.isEmpty {
                guard let r = reference[name], let d = device[name] else { continue }
                result.append(compare(node: node, output: name, device: d, reference: r, rtol: rtol, atol: atol))
            }
        }
        return result
    }

    static func compare(node: Node, output: String, device d: Tensor, reference r: Tensor, rtol: Float, atol: Float) -> NodeComparison {
        var c = NodeComparison(node: node.label, op: node.opType, output: output, shape: r.shape, maxAbsError: 0, maxRelError: 0, withinTolerance: true)
        guard d.shape == r.shape, d.dtype.isFloat == r.dtype.isFloat else {
            c.withinTolerance = false
            c.maxAbsError = .infinity
            c.maxRelError = .infinity
            return c
        }
        for k in 0..<r.count {
            let x = Float(d.double(at: k)), y = Float(r.double(at: k))
            if x.isNaN || y.isNaN {
                if x.isNaN != y.isNaN { c.withinTolerance = false; c.maxAbsError = .nan }
                continue
            }
            if x == y { continue }
            let e = abs(x - y)
            c.maxAbsError = max(c.maxAbsError, e)
            c.maxRelError = max(c.maxRelError, e / max(abs(y), 1e-6))
            if !(e <= atol + rtol * abs(y)) { c.withinTolerance = false }
        }
        return c
    }
}
