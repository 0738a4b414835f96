"""``minigan.device``: PyTorch's device object, as a ``str`` subclass.

Its string value is the device *type* (``"cpu"`` or ``"cuda"``), so code written for minigan's
plain strings (``t.device == "cuda"``, dict keys, ``_xp_for(device)``) keeps working, while
PyTorch code gets ``.type``, ``.index`` and ``device("cuda:0") == "cuda"``. minigan drives one
GPU: index ``None`` and ``0`` name the same CUDA device.
"""

from __future__ import annotations

from typing import Any


def parse(spec: Any, index: int | None = None) -> tuple[str, int | None]:
    """``"cuda:1"`` -> ("cuda", 1); a device, ``None`` (cpu) or an int (cuda ordinal) too."""
    if spec is None:
        return "cpu", None
    if isinstance(spec, device):
        return str.__str__(spec), spec.index
    if isinstance(spec, int) and not isinstance(spec, bool):
        return "cuda", spec
    typ = getattr(spec, "type", None)  # a torch.device
    if not isinstance(spec, str) and isinstance(typ, str):
        return typ, getattr(spec, "index", None)
    if not isinstance(spec, str):
        raise TypeError(f"device: expected a string such as 'cpu' or 'cuda:0', got "
                        f"{type(spec).__name__}")
    typ, _, idx = spec.partition(":")
    if typ not in ("cpu", "cuda") or (idx and not idx.isdigit()):
        raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {spec!r}")
    if idx:
        index = int(idx)
    return typ, index


class device(str):  # noqa: N801 - PyTorch's name
    """``mg.device("cuda:0")``: ``.type`` is "cpu" or "cuda", ``.index`` the ordinal or None."""

    index: int | None

    def __new__(cls, spec: Any = "cpu", index: int | None = None) -> device:
        typ, idx = parse(spec, index)
        obj = super().__new__(cls, typ)
        obj.index = idx
        return obj

    @property
    def type(self) -> str:
        return str.__str__(self)

    def __eq__(self, other: Any) -> bool:
        try:
            typ, idx = parse(other)
        except (TypeError, ValueError):
            return False
        return typ == self.type and (idx or 0) == (self.index or 0)

    def __ne__(self, other: Any) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__

    def __repr__(self) -> str:
        extra = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{extra})"


CPU = device("cpu")
CUDA = device("cuda", 0)


def normalize(spec: Any) -> str:
    """The plain device type string ("cpu" or "cuda") for any device spec."""
    if spec == "cpu" or spec is None:
        return "cpu"
    return parse(spec)[0]
