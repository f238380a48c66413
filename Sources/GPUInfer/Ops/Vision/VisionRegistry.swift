// Operators of the Vision family (region feature extraction), registered in OpRegistry.

extension OpRegistry {
    static let visionOps: [any Operator.Type] = [
        RoiAlign.self,
    ]
}
