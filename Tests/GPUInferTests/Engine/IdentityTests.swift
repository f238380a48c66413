// Identity: an alias of its input, no kernel.
import Testing
@testable import GPUInfer

@Suite struct IdentityTests {
    @Test func identityPassesValuesThrough() throws {
        var rng = TestRandom(seed: 1)
        let x = rng.tensor([2, 3, 5])
        try checkOp("Identity", inputs: [x], expected: [x], rtol: 0, atol: 0)
    }
}
