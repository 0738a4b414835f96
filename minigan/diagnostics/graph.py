"""Print the autograd graph behind a tensor: as a plain-text tree, or as Graphviz DOT.

The graph is the one backward walks: each Function application is a node (``t._node``) whose
``inputs`` are the tensors it was applied to; a tensor without a node is a leaf. Both printers
walk the graph with an explicit stack, so a chain of thousands of ops prints without hitting
Python's recursion limit.

``to_text`` draws a tree from the output down to the leaves::

    SumBackward ()
    └─ MulBackward (3, 4)
       ├─ leaf (3, 4) requires_grad
       └─ TanhBackward (3, 4)
          └─ leaf (3, 4) requires_grad

A node or leaf reached along more than one path is printed in full once, tagged ``[#k]``, and
every later occurrence is one line ending in ``[#k] (see above)``.
"""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor


def _shape_str(shape: tuple) -> str:
    return str(tuple(shape))


def _node_shapes(node: Any) -> str:
    return ", ".join(_shape_str(shape) for shape, _, _ in node.out_meta)


def _node_label(node: Any) -> str:
    return f"{node.name}Backward {_node_shapes(node)}"


def _leaf_label(t: Tensor) -> str:
    return f"leaf {_shape_str(t.shape)} " + ("requires_grad" if t.requires_grad else "constant")


def _children(item: Any) -> list:
    """Graph items one step closer to the leaves: Function nodes, or leaf tensors."""
    if isinstance(item, Tensor):
        return []
    return [t._node if t._node is not None else t for t in item.inputs if t is not None]


def _root_item(t: Any, fn: str) -> Any:
    if not isinstance(t, Tensor):
        raise TypeError(f"{fn}: expected a Tensor, got {type(t).__name__}")
    return t._node if t._node is not None else t


def _reference_counts(root: Any) -> dict:
    """How many edges lead into each item (by id), visiting every item once."""
    counts: dict[int, int] = {}
    seen = {id(root)}
    stack = [root]
    while stack:
        item = stack.pop()
        for child in _children(item):
            counts[id(child)] = counts.get(id(child), 0) + 1
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return counts


def to_text(t: Tensor) -> str:
    """The graph that produced ``t`` as an indented tree, output first, one line per item.

    Nodes read ``<Op>Backward <output shape(s)>``; leaves read ``leaf <shape> requires_grad``
    (or ``constant`` for a tensor that takes no gradient). Shared items are printed once.
    """
    root = _root_item(t, "to_text")
    counts = _reference_counts(root)
    tags: dict[int, int] = {}  # id -> k for items already printed that are shared
    lines = []
    # (item, prefix of this line, prefix for its children); pre-order via an explicit stack.
    stack = [(root, "", "")]
    while stack:
        item, prefix, child_prefix = stack.pop()
        label = _leaf_label(item) if isinstance(item, Tensor) else _node_label(item)
        key = id(item)
        if key in tags:
            lines.append(f"{prefix}{label} [#{tags[key]}] (see above)")
            continue
        if counts.get(key, 0) > 1:
            tags[key] = len(tags) + 1
            label += f" [#{tags[key]}]"
        lines.append(prefix + label)
        kids = _children(item)
        for i in reversed(range(len(kids))):
            last = i == len(kids) - 1
            stack.append((kids[i], child_prefix + ("└─ " if last else "├─ "),
                          child_prefix + ("   " if last else "│  ")))
    return "\n".join(lines)


def _dot_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def _dot_label(lines: list) -> str:
    # Escape each line, then join with DOT's own line break (a literal backslash-n).
    return "\\n".join(_dot_escape(line) for line in lines)


def to_dot(t: Tensor, name: str = "minigan") -> str:
    """The graph that produced ``t`` as Graphviz DOT text (render with ``dot -Tsvg``).

    One box per Function node (name and output shape), one ellipse per leaf tensor (shape, and
    filled when it requires grad), one edge ``input -> op`` per tensor argument of each op (so
    ``x * x`` has two edges from x). An edge out of a multi-output node is labelled with the
    output it carries.
    """
    root = _root_item(t, "to_dot")
    ids: dict[int, str] = {}
    decls, edges = [], []

    def ident(item: Any) -> str:
        key = id(item)
        if key not in ids:
            ids[key] = f"n{len(ids)}"
            if isinstance(item, Tensor):
                extra = ", style=filled, fillcolor=lightblue" if item.requires_grad else ""
                lines = ["leaf", _shape_str(item.shape)] + (
                    ["requires_grad"] if item.requires_grad else [])
                decls.append(f'  {ids[key]} [label="{_dot_label(lines)}", '
                             f"shape=ellipse{extra}];")
            else:
                lines = [f"{item.name}Backward", _node_shapes(item)]
                decls.append(f'  {ids[key]} [label="{_dot_label(lines)}", shape=box];')
            stack.append(item)
        return ids[key]

    stack: list = []
    ident(root)
    while stack:
        item = stack.pop()
        if isinstance(item, Tensor):
            continue
        dst = ids[id(item)]
        for inp in item.inputs:
            if inp is None:
                continue
            src_item = inp._node if inp._node is not None else inp
            src = ident(src_item)
            multi = src_item is inp._node and len(inp._node.out_meta) > 1
            edges.append(f"  {src} -> {dst}" + (f' [label="{inp._out_index}"]' if multi else "")
                         + ";")
    header = [f'digraph "{_dot_escape(name)}" {{', "  rankdir=BT;",
              '  node [fontname="Helvetica", fontsize=10];']
    return "\n".join(header + decls + edges + ["}"]) + "\n"


__all__ = ["to_dot", "to_text"]
