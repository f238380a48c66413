// Operators of the Conv family, registered in OpRegistry.

extension OpRegistry {
    static let convOps: [any Operator.Type] = [
        Conv.self, BlockedConv.self, ConvTranspose.self, Pool.self, BlockedPool.self, GlobalPool.self, Gemm.self, MatMul.self,
    ]
}
