// Operators of the Reduce family, registered in OpRegistry.

extension OpRegistry {
    static let reduceOps: [any Operator.Type] = [
        Reduce.self, Softmax.self, ArgMax.self, TopK.self, LpNormalization.self, Normalization.self,
        CumSum.self,
    ]
}
