"""scripts/ray_index.py end to end: a sharded index built by a Ray Data actor pool, merged with
`gpuinfer merge`, must equal the unsharded `gpuinfer index` byte for byte, also when an actor's
gpuinfer server is killed in the middle of a shard (--fail-first).

Needs the built binary (swift build) and ray[data] in the venv (scripts/requirements.txt):
    .venv/bin/python -m unittest discover -s Tests/Integration
$GPUINFER_BIN picks the binary (default: .build/debug, then .build/release, whichever knows
`index --serve-shards`); $GPUINFER_TEST_DEVICE the OpenCL device (default 0: PoCL here).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "Tests/data/generated/retrieval"
MODEL = DATA / "embed_small.onnx"
PHOTOS = DATA / "photos"
SCRIPT = REPO / "scripts/ray_index.py"
DEVICE = os.environ.get("GPUINFER_TEST_DEVICE", "0")
BATCH = "2"
TIMEOUT = 300


def find_binary():
    explicit = os.environ.get("GPUINFER_BIN")
    if explicit:
        return explicit
    for candidate in (REPO / ".build/debug/gpuinfer", REPO / ".build/release/gpuinfer"):
        if candidate.is_file():
            help_text = subprocess.run([str(candidate), "index", "--help"], capture_output=True, text=True).stdout
            if "--serve-shards" in help_text:
                return str(candidate)
    raise RuntimeError("no gpuinfer binary with `index --serve-shards` under .build (run `swift build`)")


def run(args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=TIMEOUT, cwd=REPO, **kw)


class RayIndexTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.binary = find_binary()
        cls.tmp = tempfile.mkdtemp(prefix="gpuinfer-ray-test-")
        cls.reference = os.path.join(cls.tmp, "reference")
        out = run([cls.binary, "index", "--device", DEVICE, MODEL, PHOTOS, "--output", cls.reference,
                   "--batch", BATCH, "--quiet"])
        if out.returncode != 0:
            raise RuntimeError(f"unsharded gpuinfer index failed:\n{out.stdout}\n{out.stderr}")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def ray_index(self, db, *extra):
        out = run([sys.executable, SCRIPT, MODEL, PHOTOS, "--output", db, "--batch", BATCH, "--actors", "2",
                   "--devices", DEVICE, "--gpuinfer", self.binary, *extra],
                  env={**os.environ, "RAY_DEDUP_LOGS": "0"})
        self.assertEqual(out.returncode, 0, f"ray_index.py failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout + out.stderr

    def check_manifest(self, db, shards):
        with open(os.path.join(db, "manifest.json")) as f:
            manifest = json.load(f)
        self.assertEqual(manifest["version"], 2)
        self.assertEqual(manifest["shardCount"], shards)
        self.assertEqual(sorted(s["shard"] for s in manifest["shards"]), list(range(shards)))  # each once
        names = sorted(os.listdir(os.path.join(db, "shards")))
        self.assertEqual(names, [f"s-{i:05d}" for i in range(shards)])  # no partial folder left over
        return manifest

    def check_merge(self, db):
        merged = os.path.join(self.tmp, os.path.basename(db) + "-merged")
        out = run([self.binary, "merge", db, "--output", merged])
        self.assertEqual(out.returncode, 0, f"gpuinfer merge failed:\n{out.stdout}\n{out.stderr}")
        for name in ("descriptors.npy", "files.jsonl"):
            with open(os.path.join(self.reference, name), "rb") as a, open(os.path.join(merged, name), "rb") as b:
                self.assertEqual(a.read(), b.read(), f"{name} of the merged index differs from the unsharded one")

    def test_two_actors_merge_equals_unsharded(self):
        db = os.path.join(self.tmp, "two-actors")
        log = self.ray_index(db, "--shards", "4")
        self.assertIn("shards 4/4", log)
        self.check_manifest(db, 4)
        self.check_merge(db)

    def test_crashed_server_shard_is_redone_once(self):
        db = os.path.join(self.tmp, "crash")
        log = self.ray_index(db, "--shards", "3", "--fail-first")
        self.assertIn("--fail-first: killing the gpuinfer server", log)
        self.assertIn("died (-9)", log)
        self.assertIn("shards 3/3", log)
        manifest = self.check_manifest(db, 3)
        self.check_merge(db)
        # A second run redoes nothing: every shard answers already_complete, the index is unchanged.
        log = self.ray_index(db)
        self.assertIn("(3 already complete)", log)
        self.assertEqual(self.check_manifest(db, 3)["shards"], manifest["shards"])
        self.check_merge(db)


if __name__ == "__main__":
    unittest.main()
