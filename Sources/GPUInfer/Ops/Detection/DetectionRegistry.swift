// Detection post-processing operators.

extension OpRegistry {
    static let detectionOps: [any Operator.Type] = [
        NonMaxSuppression.self,
        NonZero.self,
        Compress.self,
        Unique.self,
    ]
}
