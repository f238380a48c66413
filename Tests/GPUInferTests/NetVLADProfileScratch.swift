import Foundation
import Testing
@testable import GPUInfer

@Suite struct NetVLADProfileScratch {
    @Test func profileHead() throws {
        for o in [4096] {
            let model = try NetVLADTests.headModel(features: [nil, 512, 12, 18], weights: NetVLADTests.randomWeights(d: 512, k: 64, o: o, seed: 21))
            let session = try Session(model: model, device: .openCL(0), profiling: true)
            for batch in [3, 4, 8, 16] {
                var rng = TestRandom(seed: 22)
                let x = rng.tensor([batch, 512, 12, 18], -300, 300)
                _ = try session.run(["features": x])
                var best = UInt64.max
                for _ in 0..<3 { _ = try session.run(["features": x], profile: true); best = min(best, session.lastTimings.map(\.nanoseconds).reduce(0, +)) }
                print("PROFILE O=\(o) batch \(batch): \(Double(best) / 1e6) ms")
            }
        }
    }
}
