"""Checkpoints: ``tw.save(obj, path)`` and ``tw.load(path, map_location=None)``.

The file is one safetensors file: each tensor is one of its entries, named by its path in ``obj``
(``"fc.weight"`` for a state dict, ``"model/fc.weight"``, ``"optim/state/0/exp_avg"`` when nested),
and the structure goes, as JSON, into its metadata under ``"tensorweaver.structure"`` (with
``"format": "tensorweaver"``). Nothing on load can run code (no pickle anywhere), and any safetensors
reader opens the file: ``safetensors.torch.load_file(path)`` of a saved state dict is that state dict.

The structure JSON: JSON's own values for str, int, bool, None and finite floats; every other node
is an object with one tag: ``{"dict": [[key, value], ...]}`` (with ``"type": "OrderedDict"`` for an
OrderedDict; keys are values too, so int keys stay ints), ``{"list": [...]}``, ``{"tuple": [...]}``,
``{"float": "nan" | "inf" | "-inf"}``, ``{"dtype": "float32"}``, ``{"device": "cuda:0"}``, and
``{"tensor": entry, "object": n, "dtype": ..., "device": ..., "requires_grad": ...}``. Complex tensors
(which safetensors lacks) are stored as their real and imaginary parts on a last axis of 2.

Saving is atomic: a temporary file in the same folder, fsync, ``os.replace``, fsync of the folder;
a crash leaves the previous file intact (and perhaps a stale ``.NAME.*.tmp`` next to it).
"""

from __future__ import annotations

import collections
import json
import math
import os
from typing import IO, Any

from . import _dtypes
from . import backends as _backends
from .tensor import Tensor

__all__ = ["save", "load"]

_FORMAT = "tensorweaver"
_VERSION = "1"
_STRUCTURE = "tensorweaver.structure"

#: safetensors' dtype names that tensorweaver has a dtype for
_SAFETENSORS_DTYPES = {
    "BOOL": _dtypes.bool,
    "U8": _dtypes.uint8,
    "I8": _dtypes.int8,
    "I16": _dtypes.int16,
    "I32": _dtypes.int32,
    "I64": _dtypes.int64,
    "F16": _dtypes.float16,
    "F32": _dtypes.float32,
    "F64": _dtypes.float64,
    "C64": _dtypes.complex64,
}

_EXPORT_HINT = (
    "from PyTorch, export weights with safetensors.torch.save_file(model.state_dict(), 'w.safetensors') "
    "and load that file here"
)

_FILE_KINDS = [
    (b"PK\x03\x04", "a zip archive (torch.save writes one, of pickles)"),
    (b"\x93NUMPY", "a NumPy .npy file"),
    (b"\x1f\x8b", "a gzip file"),
    (b"\x89HDF", "an HDF5 file"),
]


def _safetensors():
    # NOTE: imported on first use: `import tensorweaver` stays cheap for programs that never save
    try:
        import safetensors.numpy
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise ImportError(f"tw.save / tw.load need the safetensors package: pip install safetensors ({e})") from e
    return safetensors.numpy


# -- saving -----------------------------------------------------------------------------------------
class _Saver:
    """Walk ``obj``: tensors into ``arrays`` (host copies by entry name), the rest into JSON."""

    def __init__(self) -> None:
        self.arrays: dict[str, Any] = {}
        self.entry_of_array: dict[int, str] = {}
        self.object_of_tensor: dict[int, tuple[int, str]] = {}
        self.keep: list = []  # the arrays whose ids key entry_of_array stay alive until the end

    def encode(self, x, where: str, name: str):
        if isinstance(x, Tensor):
            return self.tensor(x, name)
        if x is None or isinstance(x, (bool, int, str)):
            return x
        if isinstance(x, float):
            return float(x) if math.isfinite(x) else {"float": repr(float(x))}
        if isinstance(x, _dtypes.dtype):
            return {"dtype": x.name}
        if isinstance(x, _backends.device):
            return {"device": str(x)}
        if isinstance(x, dict):
            items = [
                [self.key(k, where), self.encode(v, f"{where}[{k!r}]", f"{name}/{k}" if name else str(k))]
                for k, v in x.items()
            ]
            node: dict = {"dict": items}
            if isinstance(x, collections.OrderedDict):
                node["type"] = "OrderedDict"
            return node
        if isinstance(x, (list, tuple)):
            kind = "list" if isinstance(x, list) else "tuple"
            return {kind: [self.encode(v, f"{where}[{i}]", f"{name}/{i}" if name else str(i)) for i, v in enumerate(x)]}
        raise TypeError(
            f"tw.save: cannot save a {type(x).__name__} (at {where}); a checkpoint holds tensors, dicts, lists, "
            f"tuples, str, int, float, bool, None, tw.dtype and tw.device (save a module's state_dict())"
        )

    def key(self, k, where: str):
        if isinstance(k, tuple):
            return {"tuple": [self.key(v, where) for v in k]}
        if k is None or isinstance(k, (bool, int, str, float)):
            return self.encode(k, where, "")
        raise TypeError(f"tw.save: a dict key must be a str, int, float, bool, None or tuple; got {k!r} in {where}")

    def tensor(self, t: Tensor, name: str) -> dict:
        known = self.object_of_tensor.get(id(t))
        if known is None:
            entry = self.entry_of_array.get(id(t._data))
            if entry is None:  # a new array: one entry (tensors sharing it share the entry)
                entry = self.unique(name or "tensor")
                a = t.detach().to("cpu").numpy()
                if not a.flags.c_contiguous:
                    a = a.copy(order="C")  # NOTE: safetensors.numpy writes an array's buffer as it lies
                if t.dtype.kind == "c":
                    a = a.view(f"f{a.dtype.itemsize // 2}").reshape(a.shape + (2,))  # complex64 -> float32 pairs
                self.arrays[entry] = a
                self.entry_of_array[id(t._data)] = entry
                self.keep.append(t._data)
            known = self.object_of_tensor[id(t)] = (len(self.object_of_tensor), entry)
            self.keep.append(t)
        obj, entry = known
        return {
            "tensor": entry,
            "object": obj,
            "dtype": t.dtype.name,
            "device": str(t.device),
            "requires_grad": t.requires_grad,
        }

    def unique(self, name: str) -> str:
        if name not in self.arrays:
            return name
        k = 1
        while f"{name}#{k}" in self.arrays:
            k += 1
        return f"{name}#{k}"


def save(obj: Any, f: str | os.PathLike | IO[bytes]) -> None:
    """Save tensors and plain values (a state dict, an optimizer's, an epoch number, a config, nested
    in dicts, lists and tuples) to one safetensors file (see the module docstring for the format).

    ``f`` is a path (written atomically: a crash mid-save leaves the previous file intact) or a
    binary file object (written in one call). Tensors on any device are copied to the host; a tensor
    referenced twice, or tensors sharing one array, are stored once (views of part of an array are
    stored separately). ``requires_grad`` is kept.
    """
    saver = _Saver()
    structure = saver.encode(obj, "obj", "")
    metadata = {
        "format": _FORMAT,
        "tensorweaver.version": _VERSION,
        _STRUCTURE: json.dumps(structure, allow_nan=False, separators=(",", ":")),
    }
    st = _safetensors()
    if hasattr(f, "write"):
        f.write(st.save(saver.arrays, metadata=metadata))  # type: ignore[union-attr]
        return
    if not isinstance(f, (str, os.PathLike)):
        raise TypeError(f"tw.save: f must be a path or a binary file object, got {type(f).__name__}")
    _atomic_write(os.fspath(f), lambda tmp: st.save_file(saver.arrays, tmp, metadata=metadata))


def _atomic_write(path: str, write) -> None:
    """``write(tmp)`` to a temporary file next to ``path``, then make it ``path`` in one rename."""
    folder, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{base}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask's permissions, unlike mkstemp
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDWR)
        try:
            os.fsync(fd)  # the data is on disk before the rename makes it the checkpoint
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if os.name == "posix":  # the rename itself reaches the disk
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- loading ----------------------------------------------------------------------------------------
def _header(first: bytes, read_more, size: int, what: str) -> dict:
    """The safetensors header of a file whose first bytes are ``first``, checked against its size;
    a RuntimeError that says what the file is not (or what it is, when recognizable)."""
    for magic, kind in _FILE_KINDS:
        if first.startswith(magic):
            raise RuntimeError(f"{what} is {kind}, not a safetensors checkpoint; {_EXPORT_HINT}")
    if len(first) >= 2 and first[0] == 0x80 and 1 <= first[1] <= 5:
        raise RuntimeError(
            f"{what} is a Python pickle (protocol {first[1]}), not a safetensors checkpoint: tensorweaver never "
            f"unpickles, since loading a pickle can run any code; {_EXPORT_HINT}"
        )
    if size < 8:
        raise RuntimeError(f"{what} is not a safetensors file: it has only {size} bytes")
    n = int.from_bytes(first[:8], "little")
    if n > size - 8:
        raise RuntimeError(
            f"{what} is not a complete safetensors file: its first 8 bytes announce a header of {n} bytes but "
            f"only {size - 8} follow (a truncated file, or not safetensors at all)"
        )
    try:
        header = json.loads(read_more(n))
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict):
        raise RuntimeError(f"{what} is not a safetensors file: its header is not a JSON object")
    data_size = size - 8 - n
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype, (begin, end) = entry["dtype"], entry["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise RuntimeError(f"{what} is not a safetensors file: entry {key!r} of its header is {entry!r}") from None
        if dtype not in _SAFETENSORS_DTYPES:
            raise RuntimeError(
                f"{what}: tensor {key!r} has dtype {dtype}, which tensorweaver has no dtype for; save it as "
                f"float32 (in PyTorch: {{k: v.float() for k, v in state_dict.items()}})"
            )
        if end > data_size:
            raise RuntimeError(
                f"{what} is truncated: tensor {key!r} needs bytes {begin}..{end} of the data, but the file holds "
                f"only {data_size} (an interrupted write or copy)"
            )
    return header


def _read(f, what: str):
    """``(header, arrays)`` of a path or a binary file object."""
    st = _safetensors()
    if hasattr(f, "read"):
        data = f.read()
        header = _header(data[:8], lambda n: data[8 : 8 + n], len(data), what)
        return header, st.load(data)
    path = os.fspath(f)
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        header = _header(fh.read(8), fh.read, size, what)
    return header, st.load_file(path)


class _Loader:
    """Rebuild the saved structure, placing each tensor where ``map_location`` says."""

    def __init__(self, arrays: dict, map_location, what: str) -> None:
        self.arrays = arrays
        self.map_location = map_location
        self.what = what
        self.objects: dict[int, Tensor] = {}
        self.placed: dict[tuple[str, str], Tensor] = {}

    def decode(self, node):
        if not isinstance(node, dict):
            return node
        if "tensor" in node:
            return self.tensor(node)
        if "dict" in node:
            pairs = [(self.key(k), self.decode(v)) for k, v in node["dict"]]
            return collections.OrderedDict(pairs) if node.get("type") == "OrderedDict" else dict(pairs)
        if "list" in node:
            return [self.decode(v) for v in node["list"]]
        if "tuple" in node:
            return tuple(self.decode(v) for v in node["tuple"])
        if "float" in node:
            return float(node["float"])
        if "dtype" in node:
            return _dtypes.to_dtype(node["dtype"])
        if "device" in node:
            return _backends.device(node["device"])
        raise RuntimeError(f"{self.what}: unknown node {node!r} in its structure (written by a newer tensorweaver?)")

    def key(self, node):
        return (
            tuple(self.key(v) for v in node["tuple"])
            if isinstance(node, dict) and "tuple" in node
            else self.decode(node)
        )

    def tensor(self, ref: dict) -> Tensor:
        t = self.objects.get(ref["object"])
        if t is None:
            t = self.objects[ref["object"]] = self.place(
                ref["tensor"], _dtypes.to_dtype(ref["dtype"]), ref["device"], ref["requires_grad"]
            )
        return t

    def place(self, entry: str, dtype: _dtypes.dtype, saved: str, requires_grad: bool) -> Tensor:
        a = self.arrays[entry]
        if dtype.kind == "c" and a.dtype.name != dtype.name:
            a = a.view(dtype.name).reshape(a.shape[:-1])
        ml = self.map_location
        if isinstance(ml, dict):
            target = next((str(v) for k, v in ml.items() if _same_device(k, saved)), saved)
        elif callable(ml):
            moved: Any = ml(Tensor._wrap(a, _backends.cpu), saved)
            if moved is not None:
                return moved.requires_grad_(True) if requires_grad else moved
            target = saved
        else:
            target = saved if ml is None else str(ml)
        same = self.placed.get((entry, target))
        if same is not None:  # tensors that shared one array share it again
            t = Tensor._wrap(same._data, same._backend)
        else:
            try:
                b = _backends.get_backend(target)
            except (_backends.BackendUnavailable, ValueError) as e:
                raise RuntimeError(
                    f"{self.what}: a tensor was saved on {saved}, which this process cannot use ({e}); load it "
                    f"elsewhere with tw.load(..., map_location='cpu')"
                ) from None
            t = Tensor._wrap(a, b) if b is _backends.cpu else Tensor(a, device=target)
            self.placed[(entry, target)] = t
        return t.requires_grad_(True) if requires_grad else t


def _same_device(key, saved: str) -> bool:
    try:
        return _backends.device(str(key)) == saved
    except ValueError:  # a name no backend is registered under here
        return str(key) == saved


def load(f: str | os.PathLike | IO[bytes], map_location=None, *, weights_only: bool | None = None) -> Any:
    """Load what ``tw.save`` saved, or the tensors of any safetensors file (written by
    ``safetensors.torch.save_file`` or ``safetensors.numpy.save_file``: a flat dict by entry name).

    ``map_location`` puts the tensors elsewhere than where they were saved: a device or a string (all
    tensors there), a dict ``{"cuda:0": "cpu"}`` (saved device -> device; others stay), or a callable
    ``fn(tensor_on_cpu, saved_device_str)`` returning a tensor, or None for the saved device.
    ``weights_only`` is accepted for PyTorch's sake: loading never runs code whatever it is.
    A file that is not safetensors (a pickle, ``torch.save``'s zip, random or truncated bytes) is a
    RuntimeError saying what the file is not.
    """
    what = f"{f!r}" if not hasattr(f, "read") else f"the file object {getattr(f, 'name', f)!r}"
    header, arrays = _read(f, what)
    meta = header.get("__metadata__") or {}
    loader = _Loader(arrays, map_location, what)
    if meta.get("format") == _FORMAT and _STRUCTURE in meta:
        if meta.get("tensorweaver.version") != _VERSION:
            raise RuntimeError(
                f"{what} is a tensorweaver checkpoint of format version {meta.get('tensorweaver.version')!r}; "
                f"this tensorweaver reads version {_VERSION}"
            )
        return loader.decode(json.loads(meta[_STRUCTURE]))
    dtypes = {k: _SAFETENSORS_DTYPES[v["dtype"]] for k, v in header.items() if k != "__metadata__"}
    return {k: loader.place(k, d, "cpu", False) for k, d in dtypes.items()}
