// `gpuinfer index / search / compare` end to end on a folder of photos made from the sample photo
// (plus a corrupt JPEG, an empty .jpg, text files and subfolders), with the small embedding model
// from make_retrieval_fixtures.py; and an interrupted, resumed index equal to a straight one.
import Foundation
import Testing
@testable import GPUInfer
@testable import GPUInferVision
@testable import GPUInferRetrieval

@Suite(.serialized) struct RetrievalCLITests {
    static let script = "Tests/Models/make_retrieval_fixtures.py"
    static let goodImages = ["crop.png", "flipped.jpg", "grace_hopper.jpg", "noise.png", "sub/dark.jpg", "sub/deeper/gray.jpg", "sub/rotated.jpg"]

    struct Paths {
        let model: String, photos: String, query: String, work: String
        init() throws {
            model = try GeneratedData.require("retrieval/embed_small.onnx", script: script)
            photos = try GeneratedData.require("retrieval/photos", script: script)
            query = try GeneratedData.require("retrieval/query_small.jpg", script: script)
            work = FileManager.default.temporaryDirectory.appendingPathComponent("gpuinfer-retrieval-\(UUID().uuidString)").path
        }
        func index(_ output: String, _ extra: [String] = []) throws -> (status: Int32, out: String, err: String) {
            try gpuinfer(["index", "--device", "0", model, photos, "--output", output, "--batch", "3", "--quiet"] + extra)
        }
    }

    static func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    /// `--restart` deletes an index's files only where they are an index's: a folder holding the
    /// user's own manifest.json, files.jsonl and descriptors.npy is refused and left as it was.
    @Test func restartRefusesAFolderThatIsNotAnIndex() throws {
        let p = try Paths()
        defer { try? FileManager.default.removeItem(atPath: p.work) }
        let mine = p.work + "/mine"
        try FileManager.default.createDirectory(atPath: mine, withIntermediateDirectories: true)
        let own = ["manifest.json": Data(#"{"project": "mine", "format": "something else"}"#.utf8), "files.jsonl": Data("my notes\n".utf8),
                   "descriptors.npy": Data([1, 2, 3])]
        for (name, data) in own { try data.write(to: URL(fileURLWithPath: mine + "/" + name)) }
        let r = try p.index(mine, ["--restart"])
        #expect(r.status == 1 && r.err.contains("not a gpuinfer index") && r.err.contains("manifest.json"), "\(r.err)")
        for (name, data) in own { #expect(Self.bytes(mine + "/" + name) == data, "\(name) changed") }
        // A stranger's progress.jsonl alone is refused too; an empty folder is fine.
        let progress = p.work + "/progress"
        try FileManager.default.createDirectory(atPath: progress, withIntermediateDirectories: true)
        try Data("{\"format\": \"mine\"}\n".utf8).write(to: URL(fileURLWithPath: progress + "/progress.jsonl"))
        #expect(throws: RetrievalIndexError.self) { try FolderIndexer.checkOwnsIndexFiles(progress) }
        try FolderIndexer.checkOwnsIndexFiles(p.work + "/does-not-exist")
        // A real index is the indexer's own: --restart rebuilds it.
        #expect(try p.index(p.work + "/db").status == 0)
        try FolderIndexer.checkOwnsIndexFiles(p.work + "/db")
        #expect(try p.index(p.work + "/db", ["--restart"]).status == 0)
    }

    /// A file name with ESC/OSC, BEL and a newline (as an attacker would name a photo) is printed
    /// escaped by index and search: no control character reaches the terminal and no extra result
    /// line appears. FIFOs in the folder are skipped as such, without blocking.
    @Test func controlCharactersInFileNamesArePrintedEscaped() throws {
        let p = try Paths()
        defer { try? FileManager.default.removeItem(atPath: p.work) }
        let folder = p.work + "/evil"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let name = "a\u{1B}]0;pwned\u{07}\n     1  1.000000  forged.jpg"
        try FileManager.default.copyItem(atPath: p.photos + "/grace_hopper.jpg", toPath: folder + "/" + name)
        try FileManager.default.copyItem(atPath: p.photos + "/corrupt.jpg", toPath: folder + "/bad\u{1B}[2J.jpg")
        // FIFOs, with and without an image's extension: opened blocking they would hang the index.
        #expect(mkfifo(folder + "/pipe.jpg", 0o600) == 0 && mkfifo(folder + "/pipe", 0o600) == 0)
        let i = try gpuinfer(["index", "--device", "cpu", p.model, folder, "--output", p.work + "/db"])
        #expect(i.status == 0, "\(i.err)")
        #expect(i.out.contains("skipped bad\\x1b[2J.jpg"), "\(i.out)")
        #expect(i.out.contains("skipped pipe.jpg: a FIFO") && i.out.contains("skipped pipe: a FIFO"), "\(i.out)")
        #expect(i.out.contains("indexed 1 image(s)"), "\(i.out)")
        let s = try gpuinfer(["search", p.work + "/db", folder + "/" + name, "--device", "cpu", "-k", "1"])
        #expect(s.status == 0, "\(s.err)")
        for out in [i.out, i.err, s.out, s.err] { #expect(!out.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }, "\(out.debugDescription)") }
        #expect(s.out.split(separator: "\n").count == 3, "query, header, one result: \(s.out)")
        #expect(s.out.contains("a\\x1b]0;pwned\\x07\\n     1  1.000000  forged.jpg"), "\(s.out)")
    }

    /// An index records its model's fingerprint (file SHA-256, input size, preprocessing); search
    /// refuses a model file that changed since (same path, other bytes) unless told
    /// --allow-model-change. While an index run writes a folder, a second one is refused.
    @Test func indexRecordsTheModelAndHoldsALock() throws {
        let p = try Paths()
        defer { try? FileManager.default.removeItem(atPath: p.work) }
        try FileManager.default.createDirectory(atPath: p.work, withIntermediateDirectories: true)
        let model = p.work + "/embed.onnx"
        try FileManager.default.copyItem(atPath: p.model, toPath: model)
        let db = p.work + "/db"
        let r = try gpuinfer(["index", "--device", "cpu", model, p.photos, "--output", db, "--batch", "3", "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        let index = try RetrievalIndex.load(from: db)
        let sha = try SHA256.file(model)
        #expect(index.fingerprint?.hasPrefix("sha256:\(sha); ") == true, "\(index.fingerprint ?? "nil")")
        let query = p.photos + "/grace_hopper.jpg"
        #expect(try gpuinfer(["search", db, query, "--device", "cpu", "-k", "1"]).status == 0)
        // The same path, other bytes (an unknown protobuf field appended: the model still loads).
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: model))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0xA0, 0x06, 0x01]))  // field 100, varint 1
        try handle.close()
        let refused = try gpuinfer(["search", db, query, "--device", "cpu", "-k", "1"])
        #expect(refused.status == 1 && refused.err.contains("--allow-model-change") && refused.err.contains(sha), "\(refused.err)")
        let allowed = try gpuinfer(["search", db, query, "--device", "cpu", "-k", "1", "--allow-model-change"])
        #expect(allowed.status == 0 && allowed.err.contains("note: the model differs"), "\(allowed.err)")

        // A second writer: this process holds the folder's lock.
        let busy = p.work + "/busy"
        try FileManager.default.createDirectory(atPath: busy, withIntermediateDirectories: true)
        var lock: IndexLock? = try IndexLock(folder: busy)
        let second = try gpuinfer(["index", "--device", "cpu", p.model, p.photos, "--output", busy, "--quiet"])
        #expect(second.status == 1 && second.err.contains("another index run is writing this folder (process \(getpid()))"), "\(second.err)")
        #expect(throws: RetrievalIndexError.locked(path: busy, holder: "process \(getpid())")) { _ = try IndexLock(folder: busy) }
        lock?.release()
        lock = nil
        #expect(try gpuinfer(["index", "--device", "cpu", p.model, p.photos, "--output", busy, "--quiet"]).status == 0)
    }

    @Test func indexSkipsBadFilesAndSearchFindsThePhoto() throws {
        let p = try Paths()
        defer { try? FileManager.default.removeItem(atPath: p.work) }
        let db = p.work + "/db"
        let r = try p.index(db)
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        for bad in ["corrupt.jpg", "empty.jpg", "notes.txt", "sub/README"] {
            #expect(r.out.contains("skipped \(bad): "), "\(bad) not reported:\n\(r.out)")
        }
        #expect(r.out.contains("indexed 7 image(s) (64-d)"), "\(r.out)")
        let index = try RetrievalIndex.load(from: db)
        #expect(index.files == Self.goodImages)
        #expect(index.skipped.map(\.path) == ["corrupt.jpg", "empty.jpg", "notes.txt", "sub/README"])
        #expect(index.model == p.model && index.root == p.photos)

        // The photo itself ranks first with cosine ≈ 1 (fp32 rounding of a 64-d descriptor: 1e-5);
        // a resized copy outside the index finds it too. Two queries go through as one batch.
        let s = try gpuinfer(["search", db, p.photos + "/grace_hopper.jpg", p.query, "-k", "3", "--device", "0", "--json"])
        #expect(s.status == 0, "\(s.err)")
        let lines = s.out.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.count == 2)
        for line in lines {
            let results = line["results"] as? [[String: Any]] ?? []
            #expect(results.count == 3)
            #expect(results.first?["file"] as? String == p.photos + "/grace_hopper.jpg", "\(line)")
            #expect(results.first?["rank"] as? Int == 1)
        }
        let top = (lines.first?["results"] as? [[String: Any]])?.first?["score"] as? Double ?? 0
        #expect(abs(top - 1) < 1e-5)
        // Text output: rank, score, file.
        let t = try gpuinfer(["search", db, p.photos + "/grace_hopper.jpg", "--device", "cpu", "-k", "20"])
        #expect(t.status == 0, "\(t.err)")
        #expect(t.out.contains("     1  1.000000  \(p.photos)/grace_hopper.jpg"), "\(t.out)")
        #expect(t.out.split(separator: "\n").count == 2 + 7)  // k is capped at the index size

        // compare: an image with itself is 1; with its mirror image less.
        let c = try gpuinfer(["compare", p.photos + "/grace_hopper.jpg", p.photos + "/grace_hopper.jpg", "--model", p.model, "--device", "0"])
        #expect(c.status == 0 && c.out == "cosine similarity: 1.000000\n", "\(c.out)\(c.err)")

        // A finished index is not overwritten without --restart.
        let again = try p.index(db)
        #expect(again.status == 1 && again.err.contains("already there"), "\(again.err)")

        // A damaged index is a typed error, not a crash.
        try Data("{}".utf8).write(to: URL(fileURLWithPath: db + "/manifest.json"))
        let bad = try gpuinfer(["search", db, p.query, "--device", "0"])
        #expect(bad.status == 1 && bad.err.contains("corrupt index file"), "\(bad.err)")
    }

    /// Files added, removed or replaced between an interrupted run and its resumption: the resumed
    /// run embeds the new file (which sorts before where the run had got to), drops the gone
    /// file's row, embeds the replaced file again, says so, and ends with the index a fresh run over
    /// the folder as it now is gives (the reference backend: rows do not depend on batch mates).
    @Test func resumedIndexSeesAddedRemovedAndChangedFiles() throws {
        let p = try Paths()
        defer { try? FileManager.default.removeItem(atPath: p.work) }
        let folder = p.work + "/photos"
        try FileManager.default.createDirectory(atPath: p.work, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: p.photos, toPath: folder)
        func index(_ output: String, _ extra: [String] = []) throws -> (status: Int32, out: String, err: String) {
            try gpuinfer(["index", "--device", "cpu", p.model, folder, "--output", output, "--batch", "3"] + extra)
        }
        let resumed = p.work + "/resumed", fresh = p.work + "/fresh"
        // Two batches of 3 candidates: corrupt.jpg, crop.png, empty.jpg, flipped.jpg, grace_hopper.jpg, noise.png.
        let first = try index(resumed, ["--max-batches", "2"])
        #expect(first.status == 0 && first.out.contains("stopped after 2 batch(es)"), "\(first.out)\(first.err)")
        try FileManager.default.removeItem(atPath: folder + "/crop.png")
        try FileManager.default.removeItem(atPath: folder + "/flipped.jpg")
        try FileManager.default.copyItem(atPath: folder + "/noise.png", toPath: folder + "/flipped.jpg")
        try FileManager.default.copyItem(atPath: folder + "/grace_hopper.jpg", toPath: folder + "/a_new.jpg")
        let last = try index(resumed)
        #expect(last.status == 0, "\(last.out)\(last.err)")
        #expect(last.out.contains("since the interrupted run: 1 file(s) added (embedded), 1 removed (their rows dropped), 1 changed (embedded again)"), "\(last.out)")
        #expect(last.out.contains("  added: a_new.jpg") && last.out.contains("  removed: crop.png") && last.out.contains("  changed: flipped.jpg"), "\(last.out)")
        #expect(try index(fresh).status == 0)
        let a = try RetrievalIndex.load(from: resumed), b = try RetrievalIndex.load(from: fresh)
        #expect(a.files == b.files && a.files.first == "a_new.jpg" && !a.files.contains("crop.png"))
        #expect(a.skipped == b.skipped)
        assertClose(Tensor(shape: [a.count, a.dimension], floats: a.descriptors), Tensor(shape: [b.count, b.dimension], floats: b.descriptors),
                    rtol: 1e-6, atol: 1e-7, "resumed vs fresh index")
    }

    @Test func interruptedIndexResumesToTheSameIndex() throws {
        let p = try Paths()
        defer { try? FileManager.default.removeItem(atPath: p.work) }
        let straight = p.work + "/straight", resumed = p.work + "/resumed"
        #expect(try p.index(straight).status == 0)

        // Stop after one batch of 3 candidates, then after another.
        let first = try p.index(resumed, ["--max-batches", "1"])
        #expect(first.status == 0 && first.out.contains("stopped after 1 batch(es)") && first.out.contains("6 image(s) remain"), "\(first.out)\(first.err)")
        #expect(!FileManager.default.fileExists(atPath: resumed + "/manifest.json"))
        let second = try p.index(resumed, ["--max-batches", "1", "--batch", "5"])  // the first run's batch size is kept
        #expect(second.status == 0 && second.out.contains("3 image(s) remain"), "\(second.out)\(second.err)")

        // A kill in the middle of a batch: rows written past the last progress line, and a line cut off.
        let progress = resumed + "/" + FolderIndexer.progressFile, partial = resumed + "/" + FolderIndexer.partialFile
        for (path, junk) in [(partial, Data(repeating: 0x41, count: 64 * 4 + 7)), (progress, Data(#"{"through":"sub/dar"#.utf8))] {
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try h.seekToEnd()
            try h.write(contentsOf: junk)
            try h.close()
        }
        // Another model cannot continue it.
        let copy = p.work + "/renamed.onnx"
        try FileManager.default.copyItem(atPath: p.model, toPath: copy)
        let mismatch = try gpuinfer(["index", "--device", "0", copy, p.photos, "--output", resumed, "--quiet"])
        #expect(mismatch.status == 1 && mismatch.err.contains("--restart"), "\(mismatch.err)")

        let last = try p.index(resumed)
        #expect(last.status == 0, "\(last.out)\(last.err)")
        #expect(last.out.contains("resumed an interrupted run: 4 image(s) were already indexed"), "\(last.out)")
        #expect(Self.bytes(partial) == nil && Self.bytes(progress) == nil)
        for file in ["descriptors.npy", "files.jsonl", "manifest.json"] {
            #expect(Self.bytes(straight + "/" + file) != nil)
            #expect(Self.bytes(straight + "/" + file) == Self.bytes(resumed + "/" + file), "\(file) differs")
        }
        // --restart rebuilds from scratch (the same bytes again).
        #expect(try p.index(resumed, ["--restart"]).status == 0)
        #expect(Self.bytes(straight + "/descriptors.npy") == Self.bytes(resumed + "/descriptors.npy"))
    }

    /// A real kill (SIGKILL while batches are being written), then a rerun: the same index as a
    /// straight run, wherever the kill landed.
    @Test func killedIndexResumesToTheSameIndex() throws {
        let p = try Paths()
        let fm = FileManager.default
        defer { try? fm.removeItem(atPath: p.work) }
        let photos = p.work + "/photos"
        try fm.createDirectory(atPath: photos, withIntermediateDirectories: true)
        for copy in 0..<3 {
            for name in Self.goodImages + ["corrupt.jpg"] {
                try fm.copyItem(atPath: p.photos + "/" + name, toPath: photos + "/\(copy)_" + name.replacingOccurrences(of: "/", with: "_"))
            }
        }
        func index(_ output: String, _ extra: [String] = []) throws -> (status: Int32, out: String, err: String) {
            try gpuinfer(["index", "--device", "0", p.model, photos, "--output", output, "--batch", "2", "--quiet"] + extra)
        }
        let straight = p.work + "/straight", killed = p.work + "/killed"
        #expect(try index(straight).status == 0)

        let proc = Process()
        proc.executableURL = try gpuinferBinary()
        proc.arguments = ["index", "--device", "0", p.model, photos, "--output", killed, "--batch", "2", "--quiet"]
        proc.standardOutput = FileHandle.nullDevice
        proc.standardError = FileHandle.nullDevice
        try proc.run()
        // Kill once two batches are recorded (header + 2 lines), or give up waiting after 60 s.
        let progress = killed + "/" + FolderIndexer.progressFile
        let deadline = Date().addingTimeInterval(60)
        while proc.isRunning && Date() < deadline {
            let lines = fm.contents(atPath: progress)?.filter { $0 == 0x0A }.count ?? 0
            if lines >= 3 { break }
            usleep(2000)
        }
        let wasRunning = proc.isRunning
        if wasRunning { kill(proc.processIdentifier, SIGKILL) }
        proc.waitUntilExit()
        let rerun = try index(killed)
        #expect(rerun.status == 0, "\(rerun.out)\(rerun.err)")
        if wasRunning { #expect(rerun.out.contains("resumed an interrupted run"), "\(rerun.out)") }
        for file in ["descriptors.npy", "files.jsonl", "manifest.json"] {
            #expect(Self.bytes(straight + "/" + file) == Self.bytes(killed + "/" + file), "\(file) differs")
        }
        #expect(try RetrievalIndex.load(from: killed).count == 21)
    }
}
