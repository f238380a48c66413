// .npy read/write: round trips for every written dtype and rank, NumPy-written headers.
import Foundation
import Testing
@testable import GPUInfer

@Suite struct NpyTests {
    @Test(arguments: [[Int](), [0], [7], [2, 3], [2, 1, 3, 5]])
    func float32RoundTrip(shape: [Int]) throws {
        var rng = TestRandom(seed: 9)
        let t = rng.tensor(shape)
        let back = try Npy.decode(Npy.encode(t))
        #expect(back == t)
    }

    @Test func int64AndNarrowTypesRoundTrip() throws {
        let t = Tensor(shape: [2, 2], ints: [Int64.min, -1, 0, Int64.max])
        #expect(try Npy.decode(Npy.encode(t)) == t)
        let i32 = Tensor(shape: [3], ints: [-5, 0, 7], dtype: .int32)
        #expect(try Npy.decode(Npy.encode(i32)) == i32)
        let b = Tensor(shape: [3], ints: [1, 0, 1], dtype: .bool)
        #expect(try Npy.decode(Npy.encode(b)) == b)
    }

    @Test func headerIsAlignedTo64Bytes() {
        let data = Npy.encode(Tensor(shape: [3], floats: [1, 2, 3]))
        let headerLength = Int(data[8]) | Int(data[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        #expect(data.count == 10 + headerLength + 12)
    }

    @Test func readsAHandWrittenNumpyHeader() throws {
        // What numpy 2 writes for np.arange(6, dtype=np.float32).reshape(2, 3).
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
        while (10 + header.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count), 0])
        data.append(contentsOf: Array(header.utf8))
        [Float](arrayLiteral: 0, 1, 2, 3, 4, 5).withUnsafeBytes { data.append(contentsOf: $0) }
        let t = try Npy.decode(data)
        #expect(t.shape == [2, 3])
        #expect(t.floats == [0, 1, 2, 3, 4, 5])
    }

    @Test func rejectsBadFilesWithTypedErrors() {
        let good = Npy.encode(Tensor(shape: [4], floats: [1, 2, 3, 4]))
        let cases: [(String, Data)] = [
            ("bad magic", Data("NOTNUMPY-------".utf8)),
            ("truncated data", good.prefix(good.count - 3)),
            ("fortran order", Data(String(decoding: good, as: UTF8.self).replacingOccurrences(of: "False", with: "True ").utf8)),
            ("unsupported dtype", Data(String(decoding: good, as: UTF8.self).replacingOccurrences(of: "<f4", with: "<c8").utf8)),
            ("empty", Data()),
        ]
        for (what, data) in cases {
            do {
                _ = try Npy.decode(data, name: what)
                Issue.record("\(what): decoded")
            } catch let GPUInferError.io(path, reason) {
                #expect(path == what)
                #expect(reason.contains("not a valid .npy"), "\(what): \(reason)")
            } catch {
                Issue.record("\(what): wrong error \(error)")
            }
        }
    }
}
