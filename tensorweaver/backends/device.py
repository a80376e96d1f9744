"""The device value: ``tw.device("cuda:1")``, parsed once, compared and printed as in PyTorch."""

from __future__ import annotations

from .._errors import DeviceError

__all__ = ["device"]

# Device types that parse: the built-in two, plus names added by backends.register_backend().
_known_types: dict[str, None] = {"cpu": None, "cuda": None}


class device:  # noqa: N801 - PyTorch's name
    """Where a tensor lives: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a registered backend's name.

    ``str(tw.device("cuda", 0)) == "cuda:0"``; a device compares equal to another device or to a
    string of the same device. ``tw.device("cuda")`` has ``index=None`` (the current CUDA device);
    a tensor's ``.device`` always carries its index.
    """

    __slots__ = ("type", "index")

    def __init__(self, type: str | device, index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            if index is not None:
                raise DeviceError("device(): give an index either in the device or separately")
            self.type, self.index = type.type, type.index
            return
        if not isinstance(type, str):
            raise TypeError(f"device(): expected a string such as 'cpu' or 'cuda:0', got {type!r}")
        name, sep, idx = type.partition(":")
        if sep:
            if index is not None:
                raise DeviceError(f"device(): {type!r} already has an index; got index={index} too")
            if not idx.isdigit():
                raise DeviceError(_invalid(type))
            index = int(idx)
        if index is not None and (not isinstance(index, int) or index < 0):
            raise DeviceError(f"device(): the index must be a non-negative int, got {index!r}")
        if name not in _known_types:
            raise DeviceError(_invalid(type))
        if index is not None and name != "cuda" and index != 0:
            raise DeviceError(f"device(): {name!r} has only index 0, got {index}")
        self.type = name
        self.index = index

    def __str__(self) -> str:
        return self.type if self.index is None or self.type != "cuda" else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None or self.type != "cuda":
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except DeviceError:
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (str(self),))


def _invalid(text: str) -> str:
    names = ", ".join(repr(n) for n in _known_types if n not in ("cpu", "cuda"))
    extra = f", or a registered backend: {names}" if names else ""
    return f"invalid device {text!r}: expected 'cpu', 'cuda', 'cuda:N' (N = 0, 1, ...){extra}"
