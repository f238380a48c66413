"""The weight readers of Models/ (run by scripts/test.sh: `python -m unittest discover -s Tests/Python`):
TensorFlow checkpoint bundles and frozen graphs against what TensorFlow itself wrote and read
(Tests/data/tensorflow/, committed; Tests/Models/write_tensorflow_fixtures.py wrote it), damaged
and truncated files refused with errors naming the tensor, Snappy blocks, and a NetVLAD checkpoint
bundle exported to the same ONNX file as its npz (the bundle written by `write_bundle` below, in
the format the reader is checked to share with TensorFlow)."""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Models", "tensorflow"))
import checkpoint  # noqa: E402
import frozen_graph  # noqa: E402
import graph_pb2  # noqa: E402
import tensor_bundle_pb2  # noqa: E402

DATA = os.path.join(ROOT, "Tests", "data", "tensorflow")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _block(entries: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(_varint(0) + _varint(len(k)) + _varint(len(v)) + k + v for k, v in entries)
    offsets = []
    pos = 0
    for k, v in entries:
        offsets.append(pos)
        pos += len(_varint(0) + _varint(len(k)) + _varint(len(v))) + len(k) + len(v)
    return body + b"".join(struct.pack("<I", o) for o in offsets) + struct.pack("<I", len(offsets))


def write_bundle(prefix: str, tensors: dict[str, np.ndarray]) -> None:
    """A one-shard checkpoint bundle: data file, then an SSTable index (one data block, no
    compression, every entry a restart point), as TensorFlow lays them out."""
    dtypes = {np.dtype(v): k for k, v in frozen_graph.DTYPES.items()}
    data, entries = bytearray(), []
    header = tensor_bundle_pb2.BundleHeaderProto(num_shards=1)
    entries.append((b"", header.SerializeToString()))
    for name in sorted(tensors):
        t = np.array(tensors[name], order="C")  # (ascontiguousarray would make a scalar 1-D)
        raw = t.astype(t.dtype.newbyteorder("<")).tobytes()
        e = tensor_bundle_pb2.BundleEntryProto(dtype=dtypes[t.dtype], shard_id=0, offset=len(data), size=len(raw),
                                               crc32c=checkpoint.masked(checkpoint.crc32c(raw)))
        for d in t.shape:
            e.shape.dim.add(size=d)
        entries.append((name.encode(), e.SerializeToString()))
        data += raw
    with open(prefix + ".data-00000-of-00001", "wb") as f:
        f.write(data)
    index = bytearray()

    def put(block: bytes) -> bytes:
        handle = _varint(len(index)) + _varint(len(block))
        index.extend(block + b"\0" + struct.pack("<I", checkpoint.masked(checkpoint.crc32c(block + b"\0"))))
        return handle

    data_handle = put(_block(entries))
    meta_handle = put(struct.pack("<II", 0, 1))  # an empty metaindex block: one restart point
    index_handle = put(_block([(entries[-1][0] + b"\xff", data_handle)]))
    footer = (meta_handle + index_handle).ljust(40, b"\0") + struct.pack("<Q", checkpoint.MAGIC)
    with open(prefix + ".index", "wb") as f:
        f.write(index + footer)


class TensorFlowReaders(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.expected = np.load(os.path.join(DATA, "expected.npz"))
        cls.tmp = tempfile.mkdtemp(prefix="gpuinfer-tf-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def copy(self, name: str) -> str:
        prefix = os.path.join(self.tmp, name)
        for ext in (".index", ".data-00000-of-00001"):
            shutil.copy(os.path.join(DATA, "tiny" + ext), prefix + ext)
        return prefix

    def test_checkpoint_equals_what_tensorflow_reads(self):
        tensors = checkpoint.load(os.path.join(DATA, "tiny"))
        names = sorted(k[5:] for k in self.expected.files if k.startswith("ckpt/"))
        self.assertEqual(sorted(tensors), names)
        self.assertEqual(len(names), 203)
        for n in names:
            e = self.expected["ckpt/" + n]
            self.assertEqual((tensors[n].dtype, tensors[n].shape), (e.dtype, e.shape), n)
            self.assertTrue(np.array_equal(tensors[n], e), n)
        self.assertEqual(tensors["scalar_int64"].shape, ())
        self.assertEqual(tensors["empty"].shape, (0, 3))

    def test_frozen_graph_constants_equal_tensorflow(self):
        g = frozen_graph.load(os.path.join(DATA, "tiny_frozen.pb"))
        c = frozen_graph.constants(g)
        names = [k[6:] for k in self.expected.files if k.startswith("graph/")]
        self.assertTrue(names)
        for n in names:
            self.assertTrue(np.array_equal(c[n], self.expected["graph/" + n]), n)

    def test_damaged_checkpoints_are_refused_naming_the_tensor(self):
        p = self.copy("flipped")
        data = bytearray(open(p + ".data-00000-of-00001", "rb").read())
        tensors = checkpoint.load(p)
        e = tensor_bundle_pb2.BundleEntryProto()
        index = dict(checkpoint.read_table(open(p + ".index", "rb").read(), "x"))
        e.ParseFromString(index[b"big/matrix"])
        data[e.offset + 17] ^= 0x40
        open(p + ".data-00000-of-00001", "wb").write(bytes(data))
        with self.assertRaisesRegex(checkpoint.CheckpointError, "'big/matrix'.*CRC-32C"):
            checkpoint.load(p)
        p = self.copy("short")
        open(p + ".data-00000-of-00001", "wb").write(bytes(data[: len(data) // 2]))
        with self.assertRaisesRegex(checkpoint.CheckpointError, "past the end of its"):
            checkpoint.load(p)
        p = self.copy("noshard")
        os.remove(p + ".data-00000-of-00001")
        with self.assertRaisesRegex(checkpoint.CheckpointError, "cannot read its shard"):
            checkpoint.load(p)
        p = self.copy("cut")
        index_bytes = open(p + ".index", "rb").read()
        for cut in (10, len(index_bytes) // 2, len(index_bytes) - 1):
            open(p + ".index", "wb").write(index_bytes[:cut])
            with self.assertRaises(checkpoint.CheckpointError):
                checkpoint.load(p)
        flipped = bytearray(index_bytes)
        flipped[100] ^= 1
        open(p + ".index", "wb").write(bytes(flipped))
        with self.assertRaisesRegex(checkpoint.CheckpointError, "CRC-32C"):
            checkpoint.load(p)
        with self.assertRaisesRegex(checkpoint.CheckpointError, "cannot read"):
            checkpoint.load(os.path.join(self.tmp, "missing"))
        self.assertEqual(len(tensors), 203)

    def test_damaged_frozen_graphs_are_refused(self):
        data = open(os.path.join(DATA, "tiny_frozen.pb"), "rb").read()
        path = os.path.join(self.tmp, "bad.pb")
        open(path, "wb").write(data[: len(data) - 7])
        with self.assertRaises(frozen_graph.GraphError):
            frozen_graph.constants(frozen_graph.load(path))
        g = frozen_graph.load(os.path.join(DATA, "tiny_frozen.pb"))
        const = next(n for n in g.node if n.op == "Const" and n.attr["value"].tensor.tensor_content)
        const.attr["value"].tensor.tensor_content = const.attr["value"].tensor.tensor_content[:-4]
        with self.assertRaisesRegex(frozen_graph.GraphError, const.name):
            frozen_graph.constants(g)

    def test_snappy(self):
        # "abc", then a copy of 9 bytes from 3 back, then "X": 13 bytes.
        block = bytes([13, 0x08]) + b"abc" + bytes([0x15, 0x03, 0x00]) + b"X"
        self.assertEqual(checkpoint.snappy_decompress(block, "t"), b"abcabcabcabcX")
        with self.assertRaises(checkpoint.CheckpointError):
            checkpoint.snappy_decompress(bytes([13, 0x08]) + b"abc" + bytes([0x15, 0x09]), "t")
        self.assertEqual(checkpoint.crc32c(b"123456789"), 0xE3069283)  # the CRC-32C check value

    def test_written_bundle_reads_back(self):
        tensors = {"a/b": np.arange(12, dtype=np.float32).reshape(3, 4), "a/c": np.array([1, -2], np.int64), "z": np.float32(3)}
        prefix = os.path.join(self.tmp, "written")
        write_bundle(prefix, {k: np.asarray(v) for k, v in tensors.items()})
        back = checkpoint.load(prefix)
        for k, v in tensors.items():
            self.assertTrue(np.array_equal(back[k], v), k)

    def test_netvlad_from_a_checkpoint_bundle_equals_its_npz(self):
        netvlad = os.path.join(ROOT, "Models", "netvlad.py")
        python = sys.executable
        npz = os.path.join(self.tmp, "netvlad.npz")
        subprocess.run([python, netvlad, "--make-synthetic-npz", npz], check=True, capture_output=True)
        with np.load(npz) as z:
            variables = {k: z[k] for k in z.files}
        variables["vgg16_netvlad_pca/conv1_1/kernel/Adam"] = np.zeros(3, np.float32)  # an optimizer slot: ignored
        prefix = os.path.join(self.tmp, "vd16_pitts30k_conv5_3_vlad_preL2_intra_white")
        write_bundle(prefix, variables)
        a, b = os.path.join(self.tmp, "from_npz.onnx"), os.path.join(self.tmp, "from_ckpt.onnx")
        subprocess.run([python, netvlad, "--weights", npz, "--out", a], check=True, capture_output=True)
        subprocess.run([python, netvlad, "--weights", prefix + ".index", "--out", b], check=True, capture_output=True)
        import onnx
        ma, mb = onnx.load(a), onnx.load(b)
        self.assertEqual(len(ma.graph.initializer), len(mb.graph.initializer))
        for x, y in zip(ma.graph.initializer, mb.graph.initializer):
            self.assertEqual(x.name, y.name)
            self.assertEqual(x.raw_data, y.raw_data, x.name)
        del variables["vgg16_netvlad_pca/WPCA/bias"]
        write_bundle(prefix, variables)
        r = subprocess.run([python, netvlad, "--weights", prefix, "--out", b], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("vgg16_netvlad_pca/WPCA/bias", r.stderr)


if __name__ == "__main__":
    unittest.main()


class ZooEntryPoint(unittest.TestCase):
    def test_export_py_covers_the_swift_zoo(self):
        import re
        sys.path.insert(0, os.path.join(ROOT, "Models"))
        import export
        swift = open(os.path.join(ROOT, "Sources", "GPUInferVision", "Zoo", "ModelZoo.swift")).read()
        names = re.findall(r'Entry\(name: "([a-z0-9_]+)"', swift)
        self.assertTrue(names)
        self.assertEqual(set(names) - set(export.ZOO), set())
        for n in names:
            self.assertIn(f"Models/export.py {n}", swift)
        r = subprocess.run([sys.executable, os.path.join(ROOT, "Models", "export.py"), "no_such_model"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown zoo model 'no_such_model'", r.stderr)


def write_torch_zip(path: str, tree: dict) -> None:
    """A torch.save zip archive (archive/data.pkl, archive/data/<key>, archive/version) written
    with the plain pickle module: `tree` is a nested dict whose NumPy arrays become tensors
    (persistent storage ids and torch._utils._rebuild_tensor_v2, as torch writes them)."""
    import collections
    import pickle
    import types
    import zipfile
    torch_module = sys.modules.setdefault("torch", types.ModuleType("torch"))
    utils = sys.modules.setdefault("torch._utils", types.ModuleType("torch._utils"))
    storage_types = {np.dtype(np.float32): "FloatStorage", np.dtype(np.int64): "LongStorage"}
    for name in storage_types.values():
        if not hasattr(torch_module, name):
            setattr(torch_module, name, type(name, (), {"__module__": "torch"}))
    if not hasattr(utils, "_rebuild_tensor_v2"):
        def _rebuild_tensor_v2(*args):
            raise AssertionError("never called")
        _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
        utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    storages: list[np.ndarray] = []

    class Storage:
        def __init__(self, key, a):
            self.key, self.a = key, a

    class Tensor:
        def __init__(self, a):
            self.a = np.array(a, order="C")
            storages.append(self.a)
            self.storage = Storage(str(len(storages) - 1), self.a)

        def __reduce__(self):
            stride = tuple(int(np.prod(self.a.shape[i + 1:])) for i in range(self.a.ndim))
            return utils._rebuild_tensor_v2, (self.storage, 0, self.a.shape, stride, False, collections.OrderedDict())

    def convert(x):
        if isinstance(x, dict):
            return collections.OrderedDict((k, convert(v)) for k, v in x.items())
        return Tensor(x) if isinstance(x, np.ndarray) else x

    class Pickler(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, Storage):
                return ("storage", getattr(torch_module, storage_types[o.a.dtype]), o.key, "cpu", o.a.size)
            return None

    import io
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(convert(tree))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        for i, a in enumerate(storages):
            z.writestr(f"archive/data/{i}", a.astype(a.dtype.newbyteorder("<")).tobytes())
        z.writestr("archive/version", "3\n")


class TorchCheckpoints(unittest.TestCase):
    def test_mpncov_from_a_training_checkpoint_equals_its_npz(self):
        sys.path.insert(0, os.path.join(ROOT, "Models"))
        from torch_checkpoint import CheckpointError, load_state_dict
        tmp = tempfile.mkdtemp(prefix="gpuinfer-pth-")
        try:
            mpncov = os.path.join(ROOT, "Models", "mpncov.py")
            npz = os.path.join(tmp, "r50.npz")
            subprocess.run([sys.executable, mpncov, "--arch", "mpncov_resnet50", "--make-synthetic-npz", npz], check=True, capture_output=True)
            with np.load(npz) as z:
                sd = {k: z[k] for k in z.files}
            pth = os.path.join(tmp, "mpncovresnet50.pth.tar")
            # A training checkpoint: epoch, arch, the state_dict, an optimizer with its own tensors.
            write_torch_zip(pth, {"epoch": 90, "arch": "mpncovresnet50", "best_prec1": 75.6, "state_dict": sd,
                                  "optimizer": {"state": {0: {"momentum_buffer": np.ones(3, np.float32)}},
                                                "param_groups": [{"lr": 0.1, "nesterov": False}]}})
            back = load_state_dict(pth)
            self.assertTrue(np.array_equal(back["state_dict.fc.weight"], sd["fc.weight"]))
            a, b = os.path.join(tmp, "a.onnx"), os.path.join(tmp, "b.onnx")
            for weights, out in ((npz, a), (pth, b)):
                subprocess.run([sys.executable, mpncov, "--arch", "mpncov_resnet50", "--weights", weights, "--out", out],
                               check=True, capture_output=True)
            import onnx
            ma, mb = onnx.load(a), onnx.load(b)
            self.assertEqual([(x.name, x.raw_data) for x in ma.graph.initializer], [(x.name, x.raw_data) for x in mb.graph.initializer])
            # A truncated archive is refused, naming the problem.
            data = open(pth, "rb").read()
            open(pth, "wb").write(data[: len(data) // 3])
            with self.assertRaises(CheckpointError):
                load_state_dict(pth)
            r = subprocess.run([sys.executable, mpncov, "--arch", "mpncov_resnet50", "--weights", pth, "--out", b], capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("error: mpncov.py:", r.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
