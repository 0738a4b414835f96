"""Runs a PyTorch-style script under minigan (imports rewritten) and, where torch is
importable, under torch too.

The import rule, applied to import statements only (lines that start with ``import`` or
``from``): the module ``torch`` becomes ``minigan`` and every name the statement binds stays
the same, so the script's body is untouched:

    import torch                       ->  import minigan as torch
    import torch.nn as nn              ->  import minigan.nn as nn
    from torch.autograd import grad    ->  from minigan.autograd import grad

Each script defines ``run(steps)`` returning ``{"losses": [float, ...], "params": {name:
ndarray}}``; it takes its initial weights and its data from NumPy generators, so both
frameworks start from the same numbers.
"""

from __future__ import annotations

import pathlib
import re
import types
from typing import Any

SCRIPTS = pathlib.Path(__file__).parent / "scripts"

_IMPORT_LINE = re.compile(r"^(\s*)(import|from)\s")
_BARE_IMPORT = re.compile(r"^(\s*)import torch\s*$")


def rewrite_imports(source: str) -> str:
    """The one mechanical rule: ``torch`` -> ``minigan`` in import statements, bound names
    kept (a bare ``import torch`` binds ``torch``, so it becomes ``import minigan as torch``)."""
    out = []
    for line in source.splitlines(keepends=True):
        if _IMPORT_LINE.match(line):
            bare = _BARE_IMPORT.match(line.rstrip("\n"))
            if bare:
                line = f"{bare.group(1)}import minigan as torch\n"
            else:
                line = re.sub(r"\btorch\b", "minigan", line)
        out.append(line)
    return "".join(out)


def load(name: str, framework: str) -> types.ModuleType:
    """The script ``name`` as a module, for ``framework`` 'minigan' or 'torch'."""
    path = SCRIPTS / f"{name}.py"
    source = path.read_text()
    if framework == "minigan":
        source = rewrite_imports(source)
    mod = types.ModuleType(f"compat_{name}_{framework}")
    mod.__file__ = str(path)
    exec(compile(source, f"{path} [{framework}]", "exec"), mod.__dict__)
    return mod


def run(name: str, framework: str, steps: int) -> dict[str, Any]:
    return load(name, framework).run(steps)


def names() -> list[str]:
    return sorted(p.stem for p in SCRIPTS.glob("*.py") if not p.stem.startswith("_"))
