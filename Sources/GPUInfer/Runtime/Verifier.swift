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
    /// Whether every element satisfies |d − r| ≤ atol·scale + rtol·|r| (NaN only where the reference has NaN).
    public var withinTolerance: Bool
    /// max(1, largest |reference|): the absolute tolerance is relative to the output's magnitude.
    public var scale: Float = 1
    /// Largest |device − reference| against the reference backend's own end-to-end run (rounding
    /// differences of every earlier node carried along; informational, not judged).
    public var endToEndMaxAbsError: Float = 0
}

public enum Verifier {
    /// Runs `model` on `session`'s device keeping every intermediate value, and checks each node
    /// in isolation: its device outputs against the reference operator applied to the very
    /// inputs the device computed, so a node is judged by its own rounding, not by the drift of
    /// every node before it (a 50-layer network drifts by far more than any one layer's error).
    /// The reference backend's end-to-end run is compared too and reported as
    /// `endToEndMaxAbsError`. Elements pass when |d − r| ≤ atol·max(1, max|r|) + rtol·|r|.
    public static func compare(_ session: Session, inputs: [String: Tensor], rtol: Float = 1e-3, atol: Float = 1e-4) throws -> [NodeComparison] {
        guard session.runtime != nil else { throw GPUInferError.invalidInput("verify needs an OpenCL device, not the cpu reference backend") }
        let model = session.model
        let endToEnd = try ReferenceExecutor().runAll(model, inputs: inputs, keepAll: true)
        let kept = try session.runKeepingAll(inputs)
        let device = kept.values
        var result: [NodeComparison] = []
        for i in kept.nodes {
            let node = model.graph.nodes[i]
            let nodeInputs: [Tensor?] = node.inputs.map { name in
                name.isEmpty ? nil : kept.constants[name] ?? device[name] ?? inputs[name]
            }
            let isolated = try model.operators[i].reference(nodeInputs)
            for (o, name) in node.outputs.enumerated() where !name.isEmpty && o < isolated.count {
                guard let d = device[name] else { continue }
                var c = compare(node: node, output: name, device: d, reference: isolated[o], rtol: rtol, atol: atol)
                if let r = endToEnd[name] {
                    c.endToEndMaxAbsError = compare(node: node, output: name, device: d, reference: r, rtol: rtol, atol: atol).maxAbsError
                }
                result.append(c)
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
        var scale: Float = 1
        for k in 0..<r.count {
            let y = abs(Float(r.double(at: k)))
            if y.isFinite { scale = max(scale, y) }
        }
        c.scale = scale
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
            if !(e <= atol * scale + rtol * abs(y)) { c.withinTolerance = false }
        }
        return c
    }
}
