// Operators of the Layout family, registered in OpRegistry.

extension OpRegistry {
    static let layoutOps: [any Operator.Type] = [
    ]
}
