// NetVLAD: the fused head (ai.gpuinfer::NetVLAD) against hand-computed values, its OpenCL kernels
// against its reference, the fused node against the inlined function body and onnxruntime, and
// the full exported model (Models/netvlad.py via Tests/Models/make_netvlad_fixtures.py) on PoCL.
//
// Tolerances. Every output is L2-normalized (|y| ≤ 1). Device and reference sum the same terms in
// different orders (tree reductions, strided partial sums); the longest sums have J = D·K terms
// (global norm, WPCA: 32768 at the real size), whose relative rounding error is ≈ √J·2⁻²⁴ ≈ 1e-5
// typically, on outputs of magnitude ~1/√O, so 1e-5 absolute (the required bound for fused vs
// function body) holds with margin; OpenCL exp has ≤ 4 ulp. The full model adds VGG16's 13
// convolutions (sums of up to 4608 products, computed by other kernels in other orders); there
// the bound is the required cosine ≥ 0.99999, and max |Δ| is reported.
import Foundation
import Testing
@testable import GPUInfer

@Suite(.serialized) struct NetVLADTests {
    static let script = "Tests/Models/make_netvlad_fixtures.py"

    /// A one-node model calling ai.gpuinfer::NetVLAD on graph input "features" with the weights
    /// (assignment, centroids, WPCA weight, WPCA bias) as initializers.
    static func headModel(features: [Int?], weights: [Tensor], attributes: [String: Attribute] = [:]) throws -> Model {
        let names = ["assignment", "centroids", "wpca_weight", "wpca_bias"]
        let node = Node(name: "netvlad", opType: "NetVLAD", domain: NetVLAD.domain, inputs: ["features"] + names,
                        outputs: ["descriptor"], attributes: attributes)
        let graph = Graph(nodes: [node], inputs: [ValueInfo(name: "features", dtype: .float32, dims: features)],
                          outputs: [ValueInfo(name: "descriptor", dtype: .float32, dims: nil)],
                          initializers: Dictionary(uniqueKeysWithValues: zip(names, weights)), opset: 17,
                          opsets: ["": 17, NetVLAD.domain: 1])
        return try Model(graph: graph)
    }

    /// The first `count` items of a batch.
    static func prefix(_ t: Tensor, _ count: Int) -> Tensor {
        let per = t.count / t.shape[0]
        return Tensor(shape: [count] + t.shape.dropFirst(), floats: Array(t.floats.prefix(count * per)))
    }

    /// Runs `features` through a head model on the reference backend and the device; checks the
    /// device against the reference (max |Δ| ≤ 1e-5, see the file header) and returns both.
    @discardableResult
    static func checkHead(_ model: Model, _ features: Tensor, _ what: String, options: ExecutionOptions = ExecutionOptions(),
                          sourceLocation: SourceLocation = #_sourceLocation) throws -> (reference: Tensor, device: Tensor) {
        let reference = try #require(try ReferenceExecutor().run(model, inputs: ["features": features])["descriptor"])
        let device = try #require(try Session(model: model, runtime: try TestDevice.require(), options: options).run(["features": features])["descriptor"])
        print("NetVLAD \(what): device vs reference \(TensorDiff(device, reference))")
        checkOutput(device, reference, maxAbs: 1e-5, minCosine: 0.99999, "\(what): device vs reference", sourceLocation: sourceLocation)
        return (reference, device)
    }

    /// Random head weights: assignment [K,D,1,1] (or [K,D]), centroids [D,K], WPCA [O,D·K], bias [O].
    static func randomWeights(d: Int, k: Int, o: Int, seed: UInt64, assignment4D: Bool = true) -> [Tensor] {
        var rng = TestRandom(seed: seed)
        return [rng.tensor(assignment4D ? [k, d, 1, 1] : [k, d], -3, 3), rng.tensor([d, k], -0.5, 0.5),
                rng.tensor([o, d * k]), rng.tensor([o], -0.1, 0.1)]
    }

    /// D=3, K=2, two descriptors, computed by hand:
    /// preL2: x₁ = (3,4,0) → (0.6,0.8,0), x₂ = (0,0,2) → (0,0,1).
    /// Logits W·x̂ with W₀ = (ln3/0.6, 0, 0), W₁ = (0, 0, ln2): x₁ → (ln3, 0) → a = (3/4, 1/4);
    /// x₂ → (0, ln2) → a = (1/3, 2/3). Masses: 13/12, 11/12.
    /// Σ a·x: cluster 0 (0.45, 0.6, 1/3), cluster 1 (0.15, 0.2, 2/3). Negated centroids
    /// C[:,0] = (0,0,−4/13), C[:,1] = (0,0,−4/11) add (0,0,−1/3) each: V₀ = (0.45,0.6,0) (norm 0.75),
    /// V₁ = (0.15,0.2,1/3) (norm 5/12). Intra: V₀ = (0.6,0.8,0), V₁ = (0.36,0.48,0.8).
    /// Flattened d·2+k: [0.6, 0.36, 0.8, 0.48, 0, 0.8], norm √2.
    /// WPCA: row 0 = √2·e₂, bias −0.5 → 0.8 − 0.5 = 0.3; row 1 = (√2/2)·e₅ → 0.4. Final L2: (0.6, 0.8).
    /// (A K-major flatten would give row 0 → 0 − 0.5: the test pins the D-major order.)
    /// Image 2 holds the same descriptors in the other order (the sum is order-free): (0.6, 0.8).
    @Test func referenceMatchesHandComputedValues() throws {
        let s2 = Float(2).squareRoot()
        let weights = [
            Tensor(shape: [2, 3, 1, 1], floats: [Float(log(3.0) / 0.6), 0, 0, 0, 0, Float(log(2.0))]),
            Tensor(shape: [3, 2], floats: [0, 0, 0, 0, -4.0 / 13, -4.0 / 11]),
            Tensor(shape: [2, 6], floats: [0, 0, s2, 0, 0, 0, 0, 0, 0, 0, 0, s2 / 2]),
            Tensor(shape: [2], floats: [-0.5, 0]),
        ]
        // [N=2, D=3, H=1, W=2]: image 1 (x₁, x₂), image 2 (x₂, x₁).
        let x = Tensor(shape: [2, 3, 1, 2], floats: [3, 0, 4, 0, 0, 2, 0, 3, 0, 4, 2, 0])
        let model = try Self.headModel(features: [nil, 3, 1, 2], weights: weights)
        let (reference, _) = try Self.checkHead(model, x, "hand-computed case")
        // ~20 fp32 roundings of O(1) values (ln, exp, divisions, square roots): ≤ 2e-6.
        assertClose(reference, Tensor(shape: [2, 2], floats: [0.6, 0.8, 0.6, 0.8]), rtol: 0, atol: 2e-6, "NetVLAD reference vs hand-computed")
    }

    /// Zero descriptors: preL2 gives 0 (0 / √1e-12), the assignment is uniform, and only the
    /// centroid term remains: V[:,k] = P/K·C[:,k]. With C = one-hot columns every cluster's
    /// intra-normalized column is e_k, the flattened vector has K ones at d·K + k over norm √K.
    @Test func zeroDescriptorsLeaveTheCentroidTerm() throws {
        let (d, k, p) = (3, 2, 4)
        let centroids = Tensor(shape: [d, k], floats: [-1, 0, 0, -1, 0, 0])  // −e₀, −e₁
        // WPCA = identity on the 6 flattened values, zero bias: the output is the flattened vector.
        var eye = [Float](repeating: 0, count: 36)
        for i in 0..<6 { eye[i * 6 + i] = 1 }
        let weights = [Tensor(shape: [k, d], floats: [1, 2, 3, -1, 0, 1]), centroids, Tensor(shape: [6, 6], floats: eye), Tensor(zeros: [6])]
        let model = try Self.headModel(features: [1, d, 1, p], weights: weights)
        let (reference, _) = try Self.checkHead(model, Tensor(zeros: [1, d, 1, p]), "zero descriptors")
        let h = Float(1 / 2.0.squareRoot())
        assertClose(reference, Tensor(shape: [1, 6], floats: [-h, 0, 0, -h, 0, 0]), rtol: 0, atol: 1e-6, "zero descriptors vs hand-computed")
    }

    /// Options that force the WPCA kernel variant.
    static func options(_ variant: NetVLAD.WPCAVariant) -> ExecutionOptions {
        var options = ExecutionOptions()
        options.netvladWPCA = variant == .rows ? .rows : .workgroup
        return options
    }

    /// Awkward sizes: D=13, K=5, H·W=7 (D·K = 65: a float8 tail), O=6 (not a multiple of the 4- or
    /// 2-row tiles); batch 1 (GEMV), 3 (a tile of 4 with a tail), 6 and 9 (tiles of 8, one and two),
    /// with both WPCA variants; the assignment weight as [K,D,1,1] and as [K,D].
    @Test(arguments: [NetVLAD.WPCAVariant.rows, .workGroup], [(1, true), (3, true), (6, false), (9, false)])
    func deviceMatchesReferenceOnAwkwardSizes(variant: NetVLAD.WPCAVariant, shape: (batch: Int, assignment4D: Bool)) throws {
        let weights = Self.randomWeights(d: 13, k: 5, o: 6, seed: 11, assignment4D: shape.assignment4D)
        let model = try Self.headModel(features: [nil, 13, 1, 7], weights: weights)
        var rng = TestRandom(seed: 12)
        let features = rng.tensor([shape.batch, 13, 1, 7], -2, 2)
        // Both kernel styles: the CPU style's register-blocked assignment and aggregation
        // (P = 7 and K = 5: one partial float16 block each), the GPU style's per-output kernels.
        for style in [ExecutionOptions.KernelStyle.cpu, .gpu] {
            var options = Self.options(variant)
            options.kernelStyle = style
            try Self.checkHead(model, features, "D=13 K=5 P=7 batch \(shape.batch) \(variant) \(style)", options: options)
        }
    }

    /// The real head sizes D=512, K=64, 12×18 (WPCA output cut to 256 to keep the reference fast),
    /// batch 1 (GEMV) and 2 (GEMM tile), with both WPCA variants.
    @Test(arguments: [NetVLAD.WPCAVariant.rows, .workGroup], [1, 2])
    func deviceMatchesReferenceOnRealSizes(variant: NetVLAD.WPCAVariant, batch: Int) throws {
        let model = try Self.headModel(features: [nil, 512, 12, 18], weights: Self.randomWeights(d: 512, k: 64, o: 256, seed: 21))
        var rng = TestRandom(seed: 22)
        let features = rng.tensor([batch, 512, 12, 18], -300, 300)
        for style in [ExecutionOptions.KernelStyle.cpu, .gpu] {
            var options = Self.options(variant)
            options.kernelStyle = style
            try Self.checkHead(model, features, "D=512 K=64 12×18 batch \(batch) \(variant) \(style)", options: options)
        }
    }

    /// Bad shapes (here centroids given as [K, D]) are reported naming the input and the expected shape.
    @Test func rejectsInconsistentShapes() throws {
        var w = Self.randomWeights(d: 4, k: 3, o: 2, seed: 1)
        w[1] = Tensor(zeros: [3, 4])
        expectGPUInferError("centroids [K,D]", mentions: ["centroids", "[4, 3]"], { if case .shapeMismatch = $0 { true } else { false } }) {
            let model = try Self.headModel(features: [1, 4, 2, 2], weights: w)
            _ = try ReferenceExecutor().run(model, inputs: ["features": Tensor(zeros: [1, 4, 2, 2])])
        }
    }

    /// The exported head models (Models/netvlad.py's function): the fused node on the device, the
    /// inlined function body (useFusedKernels: false) on the device, the fused reference and
    /// onnxruntime all agree within 1e-5.
    @Test(arguments: ["head_small", "head_real"])
    func fusedNodeMatchesFunctionBodyAndOnnxRuntime(name: String) throws {
        let path = try GeneratedData.require("netvlad/\(name).onnx", script: Self.script)
        let x = try Npy.read(path: GeneratedData.url("netvlad/\(name)_input.npy").path)
        let ort = try Npy.read(path: GeneratedData.url("netvlad/\(name)_expected.npy").path)
        let fusedModel = try Model(path: path)
        #expect(fusedModel.graph.nodes.map(\.opType) == ["NetVLAD"])
        let (reference, fused) = try Self.checkHead(fusedModel, x, "\(name) fused")
        let inlinedModel = try Model(path: path, options: LoadOptions(useFusedKernels: false))
        #expect(!inlinedModel.graph.nodes.contains { $0.opType == "NetVLAD" })
        let inlined = try #require(try Session(model: inlinedModel, runtime: try TestDevice.require()).run(["features": x])["descriptor"])
        print("NetVLAD \(name): fused vs inlined \(TensorDiff(fused, inlined)), fused vs onnxruntime \(TensorDiff(fused, ort)), "
              + "reference vs onnxruntime \(TensorDiff(reference, ort)), inlined vs onnxruntime \(TensorDiff(inlined, ort))")
        checkOutput(fused, inlined, maxAbs: 1e-5, minCosine: 0.99999, "\(name): fused vs inlined function body (device)")
        checkOutput(fused, ort, maxAbs: 1e-5, minCosine: 0.99999, "\(name): fused (device) vs onnxruntime")
        checkOutput(reference, ort, maxAbs: 1e-5, minCosine: 0.99999, "\(name): fused reference vs onnxruntime")
        checkOutput(inlined, ort, maxAbs: 1e-5, minCosine: 0.99999, "\(name): inlined (device) vs onnxruntime")
    }

    /// The full exported model (random weights, seed 0) on the device at batch 1 and 2 against
    /// onnxruntime: cosine ≥ 0.99999, unit norms.
    @Test func fullModelMatchesOnnxRuntime() throws {
        let path = try GeneratedData.require("netvlad/netvlad.onnx", script: Self.script)
        let input = try Npy.read(path: GeneratedData.url("netvlad/input.npy").path)
        let model = try Model(path: path)
        #expect(model.graph.nodes.filter { $0.opType == "NetVLAD" && $0.domain == NetVLAD.domain }.count == 1)
        #expect(model.metadata["gpuinfer.model"] == "netvlad" && model.metadata["gpuinfer.input_width"] == "300"
                && model.metadata["gpuinfer.input_height"] == "200" && model.metadata["gpuinfer.channel_order"] == "RGB"
                && model.metadata["gpuinfer.weights"] == "random-seed-0", "metadata: \(model.metadata)")
        // Both kernel styles (the GPU-style kernels run on PoCL too); batch 2 in the engine's own style only.
        for options in OpVariants.kernelStyles {
            let session = Session(model: model, runtime: try TestDevice.require(), options: options)
            for batch in options.kernelStyle == .gpu ? [1] : [1, 2] {
                let ort = try Npy.read(path: GeneratedData.url("netvlad/descriptor_b\(batch).npy").path)
                let start = Date()
                let y = try #require(try session.run(["image": Self.prefix(input, batch)])["descriptor"])
                print("NetVLAD full model, fused head, batch \(batch) [\(options.summary)]: \(String(format: "%.2f", Date().timeIntervalSince(start))) s on the device, \(TensorDiff(y, ort))")
                checkOutput(y, ort, maxAbs: 1e-3, minCosine: 0.99999, "full model (fused head) batch \(batch) [\(options.summary)] vs onnxruntime")
                for b in 0..<batch {
                    let norm = y.floats[b * 4096..<(b + 1) * 4096].reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
                    #expect(abs(norm - 1) < 1e-5, "descriptor \(b) norm \(norm)")
                }
            }
        }
    }

    /// The --plain export (function inlined, standard ops only) runs through the generic ops and
    /// gives onnxruntime's descriptors at batch 2.
    @Test func plainExportMatchesOnnxRuntime() throws {
        let path = try GeneratedData.require("netvlad/netvlad_plain.onnx", script: Self.script)
        let input = try Npy.read(path: GeneratedData.url("netvlad/input.npy").path)
        let ort = try Npy.read(path: GeneratedData.url("netvlad/descriptor_b2.npy").path)
        let model = try Model(path: path)
        #expect(model.graph.nodes.allSatisfy { $0.domain.isEmpty } && model.graph.functions.isEmpty)
        let start = Date()
        let y = try #require(try Session(model: model, runtime: try TestDevice.require()).run(["image": input])["descriptor"])
        print("NetVLAD full model, plain ops, batch 2: \(String(format: "%.2f", Date().timeIntervalSince(start))) s on the device, \(TensorDiff(y, ort))")
        checkOutput(y, ort, maxAbs: 1e-3, minCosine: 0.99999, "plain export batch 2 vs onnxruntime")
    }

    /// `--weights` with a synthetic npz of the checkpoint's names and shapes: the initializers are
    /// the documented transforms (HWIO → OIHW, WPCA kernel [1,1,32768,4096] → [4096,32768], centers
    /// [1,1,1,512,64] → [512,64]). The Python fixture checks every tensor; this checks that the
    /// engine's loader reads the same values back.
    @Test func npzWeightsLandWhereDocumented() throws {
        let path = try GeneratedData.require("netvlad/netvlad_npz.onnx", script: Self.script)
        func npz(_ name: String) throws -> Tensor { try Npy.read(path: GeneratedData.url("netvlad/npz_\(name).npy").path) }
        let graph = try ONNXLoader.load(path: path)
        #expect(graph.metadata["gpuinfer.weights"] == "synthetic.npz")
        let w = try #require(graph.initializers["conv1_1.weight"]), hwio = try npz("conv1_1_kernel")
        #expect(w.shape == [64, 3, 3, 3] && hwio.shape == [3, 3, 3, 64])
        var mismatches = 0
        forEachIndex(w.shape) { flat, i in
            if w.floats[flat] != hwio.floats[((i[2] * 3 + i[3]) * 3 + i[1]) * 64 + i[0]] { mismatches += 1 }
        }
        #expect(mismatches == 0, "conv1_1.weight[o,i,h,w] != kernel[h,w,i,o] at \(mismatches) places")
        #expect(graph.initializers["conv5_3.bias"]?.floats == (try npz("conv5_3_bias")).floats)
        #expect(graph.initializers["wpca.bias"]?.floats == (try npz("wpca_bias")).floats)
        #expect(graph.initializers["netvlad.centroids"]?.shape == [512, 64])
        #expect(graph.initializers["netvlad.centroids"]?.floats == (try npz("cluster_centers")).floats)
        let wpca = try #require(graph.initializers["wpca.weight"]), cols = try npz("wpca_kernel_cols")
        #expect(wpca.shape == [4096, 32768])
        for (c, row) in [0, 1, 4095].enumerated() {
            #expect(Array(wpca.floats[row * 32768..<(row + 1) * 32768]) == Array(cols.floats[c * 32768..<(c + 1) * 32768]),
                    "wpca.weight row \(row) != WPCA/kernel[0,0,:,\(row)]")
        }
    }
}
