// Operators of the Conv family, registered in OpRegistry.

extension OpRegistry {
    static let convOps: [any Operator.Type] = [
    ]
}
