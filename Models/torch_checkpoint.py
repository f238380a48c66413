#!/usr/bin/env python3
"""PyTorch checkpoints without torch: the tensors of a state_dict saved by `torch.save`, in either
format — the zip archive (torch >= 1.6: `data.pkl` + `data/<key>` storages) or the legacy stream
(five pickles: magic number, protocol version, system info, the object, the storage keys, then
each storage as an 8-byte element count and its raw bytes).

The object pickle is *interpreted*, never unpickled: a small stack machine runs only the opcodes a
tensor state_dict needs (containers, strings, numbers, memo, persistent storage ids) and calls only
an allow-list of constructors — `collections.OrderedDict` and torch's tensor/parameter rebuild
functions, whose effect it reproduces itself. NumPy arrays, scalars and dtypes that a training
checkpoint keeps as bookkeeping (e.g. recall values) become inert placeholders — never constructed —
and are skipped. Anything else (another global, REDUCE of anything
else, INST/OBJ/NEWOBJ, extensions, a storage that is not plain numbers, sizes beyond the file) is
refused with a CheckpointError that says what and where. Nothing from the file is ever executed.

usage (a listing): torch_checkpoint.py FILE.pt
"""
from __future__ import annotations

import io
import pickletools
import struct
import sys
import zipfile
from collections import OrderedDict

import numpy as np

#: Storage types (pickled as `torch.<Name>` globals) and their element types.
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
#: The callables a state_dict pickle may name (module, name).
REBUILD_V2 = ("torch._utils", "_rebuild_tensor_v2")
REBUILD = ("torch._utils", "_rebuild_tensor")
REBUILD_PARAMETER = ("torch._utils", "_rebuild_parameter")
ORDERED_DICT = ("collections", "OrderedDict")
ALLOWED_CALLABLES = {REBUILD_V2, REBUILD, REBUILD_PARAMETER, ORDERED_DICT}
#: NumPy objects a training checkpoint may carry as bookkeeping next to its state_dict (e.g. the
#: deep-visual-geo-localization-benchmark's "recalls" array and numpy-float "best_r5"): their
#: globals, REDUCE and BUILD give an inert placeholder — nothing is constructed — and are skipped.
NUMPY_INERT = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
               ("numpy", "ndarray"), ("numpy", "dtype"),
               ("_codecs", "encode")}  # protocol 2 pickles an array's raw bytes as _codecs.encode(str, "latin1")
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
MAX_MEMO = 1 << 20
MAX_STACK = 1 << 20


class CheckpointError(Exception):
    """A file that is not a plain tensor checkpoint (or is damaged); the message says where."""


class _Global:
    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __repr__(self) -> str:
        return f"{self.module}.{self.name}"


class _Mark:
    pass


class _Storage:
    """A persistent storage reference: its key, element type and element count."""

    def __init__(self, key: str, dtype, count: int) -> None:
        self.key, self.dtype, self.count = key, dtype, count
        self.data: np.ndarray | None = None


class _Inert:
    """A NumPy bookkeeping object (NUMPY_INERT), never built; `_tensors` skips it."""


class _Tensor:
    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def _int_tuple(value, what: str) -> tuple:
    if not isinstance(value, tuple) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        raise CheckpointError(f"{what} must be a tuple of non-negative integers, found {value!r:.80}")
    return value


def _persistent(pid, storages: dict) -> _Storage:
    if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
        raise CheckpointError(f"persistent id {pid!r:.80} is not a storage reference")
    kind, key, count = pid[1], pid[2], pid[4]
    if not isinstance(kind, _Global) or kind.module != "torch" or kind.name not in STORAGE_DTYPES:
        raise CheckpointError(f"storage type {kind!r:.80} is not a plain numeric storage")
    if not isinstance(key, str) or not isinstance(count, int) or count < 0:
        raise CheckpointError(f"storage reference {pid!r:.80} has a bad key or size")
    if len(pid) > 5 and pid[5] is not None:
        raise CheckpointError(f"storage {key}: views of storages (legacy view metadata) are not supported")
    dtype = STORAGE_DTYPES[kind.name]
    s = storages.get(key)
    if s is None:
        s = storages[key] = _Storage(key, dtype, count)
    elif s.dtype != dtype or s.count != count:
        raise CheckpointError(f"storage {key} is referenced with two different types or sizes")
    return s


def _call(fn: _Global, args, where: str):
    if not isinstance(args, tuple):
        raise CheckpointError(f"{where}: arguments of {fn} are not a tuple")
    key = (fn.module, fn.name)
    if key == ORDERED_DICT:
        if args == ():
            return OrderedDict()
        raise CheckpointError(f"{where}: OrderedDict with arguments")
    if key in (REBUILD_V2, REBUILD):
        if len(args) < 4 or not isinstance(args[0], _Storage) or not isinstance(args[1], int):
            raise CheckpointError(f"{where}: {fn} needs (storage, offset, size, stride, ...)")
        return _Tensor(args[0], args[1], _int_tuple(args[2], f"{where}: size"), _int_tuple(args[3], f"{where}: stride"))
    if key == REBUILD_PARAMETER:
        if len(args) < 1 or not isinstance(args[0], _Tensor):
            raise CheckpointError(f"{where}: {fn} needs a tensor")
        return args[0]
    raise CheckpointError(f"{where}: call of {fn} is not allowed")


def interpret(data: bytes, storages: dict, what: str):
    """Runs one pickle through the allow-listed stack machine; returns its value."""
    stack: list = []
    marks: list[int] = []
    memo: dict = {}

    def pop_mark() -> list:
        if not marks:
            raise CheckpointError(f"{what}: MARK missing")
        start = marks.pop()
        items = stack[start:]
        del stack[start:]
        return items

    def pop():
        if not stack:
            raise CheckpointError(f"{what}: stack underflow")
        return stack.pop()

    try:
        ops = pickletools.genops(data)
        for op, arg, pos in ops:
            where = f"{what}, byte {pos} ({op.name})"
            name = op.name
            if len(stack) > MAX_STACK or len(memo) > MAX_MEMO:
                raise CheckpointError(f"{where}: too many objects")
            if name == "PROTO":
                if arg > 5:
                    raise CheckpointError(f"{where}: pickle protocol {arg}")
            elif name == "FRAME":
                pass
            elif name in ("NONE",):
                stack.append(None)
            elif name == "NEWTRUE":
                stack.append(True)
            elif name == "NEWFALSE":
                stack.append(False)
            elif name in ("BININT", "BININT1", "BININT2", "LONG1", "BINFLOAT", "BINUNICODE", "SHORT_BINUNICODE",
                          "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES", "BINSTRING", "SHORT_BINSTRING"):
                stack.append(arg)
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name == "MARK":
                marks.append(len(stack))
            elif name == "TUPLE":
                stack.append(tuple(pop_mark()))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                if len(stack) < n:
                    raise CheckpointError(f"{where}: stack underflow")
                items = tuple(stack[-n:])
                del stack[-n:]
                stack.append(items)
            elif name == "SETITEM":
                value, key = pop(), pop()
                target = stack[-1] if stack else None
                if not isinstance(target, dict):
                    raise CheckpointError(f"{where}: SETITEM on {type(target).__name__}")
                target[key] = value
            elif name == "SETITEMS":
                items = pop_mark()
                target = stack[-1] if stack else None
                if not isinstance(target, dict) or len(items) % 2:
                    raise CheckpointError(f"{where}: SETITEMS on {type(target).__name__}")
                for i in range(0, len(items), 2):
                    target[items[i]] = items[i + 1]
            elif name == "APPEND":
                value = pop()
                if not stack or not isinstance(stack[-1], list):
                    raise CheckpointError(f"{where}: APPEND to a non-list")
                stack[-1].append(value)
            elif name == "APPENDS":
                items = pop_mark()
                if not stack or not isinstance(stack[-1], list):
                    raise CheckpointError(f"{where}: APPENDS to a non-list")
                stack[-1].extend(items)
            elif name in ("BINPUT", "LONG_BINPUT"):
                if not stack:
                    raise CheckpointError(f"{where}: stack underflow")
                memo[arg] = stack[-1]
            elif name == "MEMOIZE":
                if not stack:
                    raise CheckpointError(f"{where}: stack underflow")
                memo[len(memo)] = stack[-1]
            elif name in ("BINGET", "LONG_BINGET"):
                if arg not in memo:
                    raise CheckpointError(f"{where}: memo entry {arg} missing")
                stack.append(memo[arg])
            elif name in ("GLOBAL", "STACK_GLOBAL"):
                if name == "GLOBAL":
                    module, _, attr = arg.partition(" ")
                else:
                    attr, module = pop(), pop()
                if not isinstance(module, str) or not isinstance(attr, str):
                    raise CheckpointError(f"{where}: bad global")
                if ((module, attr) not in ALLOWED_CALLABLES and (module, attr) not in NUMPY_INERT
                        and not (module == "torch" and attr in STORAGE_DTYPES)):
                    raise CheckpointError(f"{where}: global {module}.{attr} is not allowed in a tensor checkpoint")
                stack.append(_Global(module, attr))
            elif name == "REDUCE":
                args, fn = pop(), pop()
                if isinstance(fn, _Global) and (fn.module, fn.name) in NUMPY_INERT and isinstance(args, tuple):
                    stack.append(_Inert())
                    continue
                if not isinstance(fn, _Global) or (fn.module, fn.name) not in ALLOWED_CALLABLES:
                    raise CheckpointError(f"{where}: REDUCE of {fn!r:.80}")
                stack.append(_call(fn, args, where))
            elif name == "BUILD":
                state = pop()
                if stack and isinstance(stack[-1], _Inert):
                    continue
                if not stack or not isinstance(stack[-1], OrderedDict) or not isinstance(state, dict):
                    raise CheckpointError(f"{where}: BUILD is only allowed on an OrderedDict (its _metadata)")
            elif name == "BINPERSID":
                stack.append(_persistent(pop(), storages))
            elif name == "STOP":
                if len(stack) != 1:
                    raise CheckpointError(f"{where}: {len(stack)} values left at STOP")
                return stack[0]
            else:
                raise CheckpointError(f"{where}: opcode {name} is not allowed in a tensor checkpoint")
    except CheckpointError:
        raise
    except (ValueError, TypeError, struct.error, UnicodeDecodeError, RecursionError, MemoryError) as e:
        raise CheckpointError(f"{what}: damaged pickle ({e})") from None
    raise CheckpointError(f"{what}: pickle ends without STOP")


def _pickle_end(data: bytes, start: int, what: str) -> int:
    """Offset just past the pickle that starts at `start` (its STOP opcode)."""
    try:
        for op, _, pos in pickletools.genops(io.BytesIO(data[start:])):
            if op.name == "STOP":
                return start + pos + 1
    except (ValueError, struct.error, UnicodeDecodeError) as e:
        raise CheckpointError(f"{what} at byte {start}: damaged pickle ({e})") from None
    raise CheckpointError(f"{what} at byte {start}: truncated pickle")


def _tensors(obj, storages: dict, path: str) -> dict[str, np.ndarray]:
    """The state_dict's tensors as contiguous arrays (nested dicts give dotted names)."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"the checkpoint holds a {type(obj).__name__}, not a state_dict")
    out: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        if not isinstance(key, (str, int)) or isinstance(key, bool):
            raise CheckpointError(f"state_dict key {key!r:.80} is neither a string nor an integer")
        name = f"{path}{key}"  # integer keys: an optimizer's per-parameter state
        if isinstance(value, dict):
            out.update(_tensors(value, storages, name + "."))
            continue
        if not isinstance(value, _Tensor):
            if isinstance(value, (int, float, str, bool, list, tuple, _Inert)) or value is None:
                continue  # bookkeeping: an epoch counter, the arch name, an optimizer's param_groups
            raise CheckpointError(f"{name}: {type(value).__name__} is not a tensor")
        s = value.storage
        if s.data is None:
            raise CheckpointError(f"{name}: storage {s.key} has no data in the file")
        if any(d > 0 for d in value.size):
            last = value.offset + sum((d - 1) * st for d, st in zip(value.size, value.stride))
            if last >= s.count:
                raise CheckpointError(f"{name}: size {list(value.size)} with stride {list(value.stride)} from offset "
                                      f"{value.offset} reaches past its storage of {s.count} elements")
        itemsize = s.data.itemsize
        view = np.lib.stride_tricks.as_strided(s.data[value.offset:] if s.count else s.data, shape=value.size,
                                               strides=tuple(st * itemsize for st in value.stride), writeable=False)
        out[name] = np.ascontiguousarray(view)
    return out


def _legacy(data: bytes) -> dict[str, np.ndarray]:
    storages: dict = {}
    pos = 0
    values = []
    for what in ("magic number", "protocol version", "system info"):
        end = _pickle_end(data, pos, what)
        values.append(interpret(data[pos:end], storages, what))
        pos = end
    if values[0] != LEGACY_MAGIC:
        raise CheckpointError("not a PyTorch checkpoint (neither a zip archive nor the legacy magic number)")
    if values[1] != 1001:
        raise CheckpointError(f"legacy checkpoint protocol {values[1]!r:.40}, expected 1001")
    info = values[2]
    if not isinstance(info, dict) or info.get("little_endian") is not True:
        raise CheckpointError("legacy checkpoint written on a big-endian machine or without system info")
    end = _pickle_end(data, pos, "the state_dict pickle")
    obj = interpret(data[pos:end], storages, "the state_dict pickle")
    pos = end
    end = _pickle_end(data, pos, "the storage key list")
    keys = interpret(data[pos:end], {}, "the storage key list")
    pos = end
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or set(keys) != set(storages):
        raise CheckpointError("the storage key list does not match the storages the state_dict references")
    for key in keys:
        s = storages[key]
        if pos + 8 > len(data):
            raise CheckpointError(f"storage {key}: truncated at byte {pos}")
        (count,) = struct.unpack_from("<q", data, pos)
        pos += 8
        nbytes = count * np.dtype(s.dtype).itemsize
        if count != s.count or pos + nbytes > len(data):
            raise CheckpointError(f"storage {key}: {count} elements at byte {pos - 8}, the state_dict says {s.count}"
                                  f" ({len(data) - pos} bytes left)")
        s.data = np.frombuffer(data, dtype=np.dtype(s.dtype).newbyteorder("<"), count=count, offset=pos)
        pos += nbytes
    return _tensors(obj, storages, "")


def _zip(path: str) -> dict[str, np.ndarray]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(f"damaged zip archive ({e})") from None
    with archive:
        names = archive.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise CheckpointError(f"the archive has {len(pkl)} data.pkl entries, expected 1")
        prefix = pkl[0][: -len("data.pkl")]
        storages: dict = {}
        try:
            obj = interpret(archive.read(pkl[0]), storages, pkl[0])
            for key, s in storages.items():
                entry = f"{prefix}data/{key}"
                if entry not in names:
                    raise CheckpointError(f"storage {key}: no entry {entry} in the archive")
                info = archive.getinfo(entry)
                nbytes = s.count * np.dtype(s.dtype).itemsize
                if info.file_size != nbytes:
                    raise CheckpointError(f"storage {key}: {info.file_size} bytes in the archive, {nbytes} expected")
                s.data = np.frombuffer(archive.read(entry), dtype=np.dtype(s.dtype).newbyteorder("<"), count=s.count)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise CheckpointError(f"damaged zip archive ({e})") from None
        return _tensors(obj, storages, "")


def load_state_dict(path: str) -> dict[str, np.ndarray]:
    """The tensors of the state_dict in `path`, by name; CheckpointError for anything else."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            if head == b"PK\x03\x04":
                return _zip(path)
            f.seek(0)
            data = f.read()
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror}") from None
    try:
        return _legacy(data)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    try:
        tensors = load_state_dict(sys.argv[1])
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for name, t in tensors.items():
        print(f"{name:60s} {str(t.dtype):8s} {list(t.shape)}")
    print(f"{len(tensors)} tensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
