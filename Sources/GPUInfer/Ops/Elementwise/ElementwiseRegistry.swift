// Operators of the Elementwise family, registered in OpRegistry.

extension OpRegistry {
    static let elementwiseOps: [any Operator.Type] = [
        Unary.self, Clip.self, Binary.self, Variadic.self, Where.self, Cast.self, BatchNormalization.self,
    ]
}
