#!/usr/bin/env python3
"""TensorFlow checkpoint bundles (`PREFIX.index` + `PREFIX.data-NNNNN-of-MMMMM`, what `tf.train.Saver`
and `tf.train.Checkpoint` write) without TensorFlow.

The index is an SSTable (LevelDB's table format): a 48-byte footer (metaindex and index block
handles as varints, magic 0xdb4775248b80fb57) points to an index block whose entries point to the
data blocks; a block holds prefix-compressed entries (varint shared / unshared / value lengths),
then its restart offsets; each block is followed by a compression byte (0 none, 1 Snappy) and a
masked CRC-32C. Key "" holds a BundleHeaderProto (shard count, endianness), every other key a
tensor name with its BundleEntryProto (dtype, shape, shard, offset, size, masked CRC-32C of the
bytes). The schemas are in tensor_bundle.proto and graph.proto, compiled by protoc. Every size,
offset and checksum is checked: a damaged, truncated or mismatched file is a CheckpointError that
names the tensor (or the block) and what is wrong. Sliced (partitioned) variables are refused.

usage (a listing): checkpoint.py PREFIX[.index]
"""
from __future__ import annotations

import os
import struct
import sys

import numpy as np
from google.protobuf.message import DecodeError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import graph_pb2  # noqa: E402
import tensor_bundle_pb2  # noqa: E402
from frozen_graph import DTYPES  # noqa: E402

MAGIC = 0xDB4775248B80FB57


class CheckpointError(Exception):
    """A checkpoint bundle that cannot be read as it claims; the message says where."""


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of `data`; google_crc32c when installed, else a table loop."""
    try:
        import google_crc32c
        return google_crc32c.extend(crc, data)
    except ImportError:
        pass
    c = crc ^ 0xFFFFFFFF
    t = _TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(crc: int) -> int:
    """TensorFlow's and LevelDB's stored form of a CRC: rotated right by 15, plus a constant."""
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(data: bytes, pos: int, where: str) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise CheckpointError(f"{where}: truncated or overlong varint at byte {pos}")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def snappy_decompress(data: bytes, where: str) -> bytes:
    """Raw Snappy: the uncompressed length, then literals and back-references."""
    n, pos = _varint(data, 0, where)
    if n > 1 << 30:
        raise CheckpointError(f"{where}: Snappy block claims {n} bytes")
    out = bytearray()
    while pos < len(data):
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            length = (tag >> 2) + 1
            if length > 60:
                extra = length - 60
                length = int.from_bytes(data[pos:pos + extra], "little") + 1
                pos += extra
            if pos + length > len(data):
                raise CheckpointError(f"{where}: Snappy literal runs past the block")
            out += data[pos:pos + length]
            pos += length
            continue
        if kind == 1:
            length = ((tag >> 2) & 7) + 4
            offset = ((tag >> 5) << 8) | data[pos]
            pos += 1
        else:
            size = 2 if kind == 2 else 4
            length = (tag >> 2) + 1
            offset = int.from_bytes(data[pos:pos + size], "little")
            pos += size
        if offset == 0 or offset > len(out):
            raise CheckpointError(f"{where}: Snappy copy from offset {offset} with {len(out)} bytes out")
        for _ in range(length):
            out.append(out[-offset])
    if len(out) != n:
        raise CheckpointError(f"{where}: Snappy block gave {len(out)} bytes, expected {n}")
    return bytes(out)


def _block(data: bytes, offset: int, size: int, where: str) -> bytes:
    """The contents of the block at (offset, size), its trailer checked and decompressed."""
    if offset < 0 or size < 0 or offset + size + 5 > len(data):
        raise CheckpointError(f"{where}: block at {offset} (+{size} bytes) lies past the end of the {len(data)}-byte index")
    body = data[offset:offset + size]
    kind = data[offset + size]
    (stored,) = struct.unpack_from("<I", data, offset + size + 1)
    if masked(crc32c(data[offset:offset + size + 1])) != stored:
        raise CheckpointError(f"{where}: block at byte {offset} fails its CRC-32C check")
    if kind == 0:
        return body
    if kind == 1:
        return snappy_decompress(body, where)
    raise CheckpointError(f"{where}: block at byte {offset} has unknown compression {kind}")


def _entries(block: bytes, where: str) -> list[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise CheckpointError(f"{where}: block of {len(block)} bytes")
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 - 4 * restarts
    if restarts == 0 or end < 0:
        raise CheckpointError(f"{where}: block with {restarts} restart points")
    out, pos, key = [], 0, b""
    while pos < end:
        shared, pos = _varint(block, pos, where)
        unshared, pos = _varint(block, pos, where)
        vlen, pos = _varint(block, pos, where)
        if shared > len(key) or pos + unshared + vlen > end:
            raise CheckpointError(f"{where}: entry at byte {pos} runs past its block")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        out.append((key, block[pos:pos + vlen]))
        pos += vlen
    return out


def read_table(data: bytes, where: str) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of an SSTable, in key order."""
    if len(data) < 48:
        raise CheckpointError(f"{where}: {len(data)} bytes, too short for an SSTable footer")
    footer = data[-48:]
    (magic,) = struct.unpack_from("<Q", footer, 40)
    if magic != MAGIC:
        raise CheckpointError(f"{where}: not an SSTable (magic {magic:#x})")
    pos = 0
    _, pos = _varint(footer, pos, where)  # metaindex offset
    _, pos = _varint(footer, pos, where)  # metaindex size
    index_offset, pos = _varint(footer, pos, where)
    index_size, pos = _varint(footer, pos, where)
    out = []
    for _, handle in _entries(_block(data, index_offset, index_size, where), where + " (index block)"):
        offset, p = _varint(handle, 0, where)
        size, _ = _varint(handle, p, where)
        out += _entries(_block(data, offset, size, where), where)
    keys = [k for k, _ in out]
    if keys != sorted(keys) or len(set(keys)) != len(keys):
        raise CheckpointError(f"{where}: keys out of order or repeated")
    return out


def load(prefix: str, verify: bool = True) -> dict[str, np.ndarray]:
    """Every tensor of the bundle `prefix` (with or without `.index`), by name."""
    if prefix.endswith(".index"):
        prefix = prefix[: -len(".index")]
    index_path = prefix + ".index"
    try:
        with open(index_path, "rb") as f:
            index = f.read()
    except OSError as e:
        raise CheckpointError(f"cannot read {index_path}: {e.strerror}") from None
    entries = read_table(index, index_path)
    if not entries or entries[0][0] != b"":
        raise CheckpointError(f"{index_path}: no bundle header (key \"\")")
    header = tensor_bundle_pb2.BundleHeaderProto()
    try:
        header.ParseFromString(entries[0][1])
    except DecodeError as e:
        raise CheckpointError(f"{index_path}: damaged bundle header ({e})") from None
    if header.endianness != tensor_bundle_pb2.BundleHeaderProto.LITTLE:
        raise CheckpointError(f"{index_path}: big-endian checkpoint")
    if not 1 <= header.num_shards <= 10000:
        raise CheckpointError(f"{index_path}: {header.num_shards} shards")
    shards: dict[int, bytes] = {}
    out: dict[str, np.ndarray] = {}
    for key, value in entries[1:]:
        try:
            name = key.decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError(f"{index_path}: a tensor name is not UTF-8: {key[:40]!r}") from None
        e = tensor_bundle_pb2.BundleEntryProto()
        try:
            e.ParseFromString(value)
        except DecodeError as err:
            raise CheckpointError(f"{index_path}: tensor '{name}': damaged entry ({err})") from None
        if e.slices:
            raise CheckpointError(f"tensor '{name}' is saved in slices (a partitioned variable), which is not supported")
        if e.dtype not in DTYPES:
            raise CheckpointError(f"tensor '{name}': type {e.dtype} is not supported")
        dims = [d.size for d in e.shape.dim]
        dtype = np.dtype(DTYPES[e.dtype]).newbyteorder("<")
        count = 1
        for d in dims:
            if d < 0:
                raise CheckpointError(f"tensor '{name}': negative dimension in {dims}")
            count *= d
        if e.size != count * dtype.itemsize:
            raise CheckpointError(f"tensor '{name}': {e.size} bytes for shape {dims} of {dtype.name}")
        if not 0 <= e.shard_id < header.num_shards:
            raise CheckpointError(f"tensor '{name}': shard {e.shard_id} of {header.num_shards}")
        if e.shard_id not in shards:
            path = f"{prefix}.data-{e.shard_id:05d}-of-{header.num_shards:05d}"
            try:
                with open(path, "rb") as f:
                    shards[e.shard_id] = f.read()
            except OSError as err:
                raise CheckpointError(f"tensor '{name}': cannot read its shard {path}: {err.strerror}") from None
        data = shards[e.shard_id]
        if e.offset < 0 or e.offset + e.size > len(data):
            raise CheckpointError(f"tensor '{name}': bytes {e.offset}..{e.offset + e.size} lie past the end of its "
                                  f"{len(data)}-byte shard (truncated?)")
        raw = data[e.offset:e.offset + e.size]
        if verify and masked(crc32c(raw)) != e.crc32c:
            raise CheckpointError(f"tensor '{name}': its bytes fail their CRC-32C check (damaged shard)")
        out[name] = np.frombuffer(raw, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))
    return out


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    try:
        tensors = load(sys.argv[1])
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for name, t in tensors.items():
        print(f"{name:70s} {str(t.dtype):8s} {list(t.shape)}")
    print(f"{len(tensors)} tensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
