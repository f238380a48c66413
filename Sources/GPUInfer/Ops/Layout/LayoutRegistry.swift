// Operators of the Layout family, registered in OpRegistry.

extension OpRegistry {
    static let layoutOps: [any Operator.Type] = [
        Reshape.self, Flatten.self, Squeeze.self, Unsqueeze.self,
        ShapeOp.self, SizeOp.self, ConstantOp.self, ConstantOfShape.self, RandomUniformOp.self, RangeOp.self,
        Transpose.self, DepthSpace.self, Slice.self, Expand.self, Tile.self, Concat.self, Split.self,
        Gather.self, GatherElements.self, GatherND.self, ScatterND.self, Pad.self, Resize.self,
        ScatterElements.self,
    ]
}
