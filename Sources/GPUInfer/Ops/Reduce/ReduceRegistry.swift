// Operators of the Reduce family, registered in OpRegistry.

extension OpRegistry {
    static let reduceOps: [any Operator.Type] = [
    ]
}
