// Operators of the Elementwise family, registered in OpRegistry.

extension OpRegistry {
    static let elementwiseOps: [any Operator.Type] = [
    ]
}
