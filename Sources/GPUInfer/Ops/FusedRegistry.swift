// Fused operators for model-local ONNX functions (a custom domain each): when a model calls such a
// function, the call stays one node and runs this kernel instead of the function body.

extension OpRegistry {
    static let fusedOps: [any Operator.Type] = [
        NetVLAD.self,
        ISqrtCov.self,
        SSDDetectionOutput.self,
        GeM.self,
    ]
}
