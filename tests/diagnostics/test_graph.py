"""Graph printing on small graphs whose structure is known by construction."""

import re
import shutil
import subprocess

import pytest

import minigan as mg
from minigan.diagnostics.graph import to_dot, to_text


def dot_nodes_edges(dot):
    nodes = re.findall(r"^\s+(n\d+) \[label=\"([^\"]*)\"", dot, flags=re.M)
    edges = re.findall(r"^\s+(n\d+) -> (n\d+)", dot, flags=re.M)
    return dict(nodes), edges


def test_text_of_a_small_graph_is_exact():
    x = mg.randn(3, 4, requires_grad=True)
    c = mg.randn(3, 4)
    y = (x * (c + x).tanh()).sum()
    assert to_text(y) == "\n".join([
        "SumBackward ()",
        "└─ MulBackward (3, 4)",
        "   ├─ leaf (3, 4) requires_grad [#1]",
        "   └─ TanhBackward (3, 4)",
        "      └─ AddBackward (3, 4)",
        "         ├─ leaf (3, 4) constant",
        "         └─ leaf (3, 4) requires_grad [#1] (see above)",
    ])


def test_shared_subgraph_is_printed_once_and_referenced_after():
    x = mg.randn(2, requires_grad=True)
    h = (x * 2.0).exp()  # shared: used three times below
    out = (h * h + h).sum()
    text = to_text(out)
    assert text.count("ExpBackward (2,) [#1]") == 3
    assert text.count("(see above)") == 2
    assert text.count("MulBackward") == 2  # x * 2.0 appears once, inside the first Exp
    assert text.count("leaf (2,) requires_grad") == 1
    # The full copy comes first, the references after it.
    assert text.index("ExpBackward (2,) [#1]\n") < text.index("(see above)")


def test_dot_has_one_node_per_function_and_leaf_and_one_edge_per_input():
    x = mg.randn(3, 4, requires_grad=True)
    w = mg.randn(4, 5, requires_grad=True)
    h = mg.relu(x @ w)
    y = (h * h).sum()
    dot = to_dot(y)
    nodes, edges = dot_nodes_edges(dot)
    by_name = {label.split("\\n")[0]: n for n, label in nodes.items() if "Backward" in label}
    assert sorted(by_name) == ["MatMulBackward", "MulBackward", "ReLUBackward", "SumBackward"]
    assert sum("leaf" in label for label in nodes.values()) == 2
    assert len(nodes) == 6
    # One edge per tensor argument: MatMul 2, ReLU 1, Mul 2 (h * h: two edges, same pair), Sum 1.
    assert len(edges) == 6
    assert edges.count((by_name["ReLUBackward"], by_name["MulBackward"])) == 2
    assert (by_name["MatMulBackward"], by_name["ReLUBackward"]) in edges
    assert (by_name["MulBackward"], by_name["SumBackward"]) in edges
    # Edges go input -> op: every edge ends at an op, and only the root has none leaving it.
    assert {dst for _, dst in edges} <= set(by_name.values())
    assert {n for n in nodes} - {src for src, _ in edges} == {by_name["SumBackward"]}
    assert dot.startswith('digraph "minigan" {') and dot.rstrip().endswith("}")
    assert 'label="leaf\\n(3, 4)\\nrequires_grad"' in dot
    assert 'label="MatMulBackward\\n(3, 5)"' in dot


def test_dot_counts_on_a_diamond():
    # x -> Exp -> (Tanh, Neg) -> Add: 4 ops + 1 leaf, edges 1 + 1 + 1 + 2 = 5.
    x = mg.randn(2, requires_grad=True)
    a = x.exp()
    d = a.tanh() + (-a)
    nodes, edges = dot_nodes_edges(to_dot(d))
    assert len(nodes) == 5
    assert len(edges) == 5


def test_leaf_root_and_constant_inputs():
    x = mg.randn(2, 3, requires_grad=True)
    assert to_text(x) == "leaf (2, 3) requires_grad"
    assert to_text(mg.randn(4)) == "leaf (4,) constant"
    nodes, edges = dot_nodes_edges(to_dot(mg.randn(4)))
    assert list(nodes.values()) == ["leaf\\n(4,)"] and edges == []
    with pytest.raises(TypeError, match="expected a Tensor"):
        to_text([x])


def test_multi_output_node_edges_are_labelled():
    x = mg.randn(3, 4, requires_grad=True)
    a, b = mg.split(x, 2, axis=1)
    dot = to_dot((a * b).sum())
    assert dot.count('[label="0"]') == 1 and dot.count('[label="1"]') == 1
    text = to_text((a * b).sum())
    assert "SplitBackward (3, 2), (3, 2) [#1]" in text


def test_deep_chain_prints_without_recursion():
    x = mg.randn(2, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    text = to_text(y)
    lines = text.split("\n")
    assert len(lines) == 5001
    assert lines[-1].endswith("└─ leaf (2,) requires_grad")
    assert lines[-1].startswith(" " * 3 * 4999)
    nodes, edges = dot_nodes_edges(to_dot(y))
    assert len(nodes) == 5001 and len(edges) == 5000


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
def test_graphviz_accepts_the_output():
    x = mg.randn(3, requires_grad=True)
    a, b = mg.split(x * x, [1, 2], axis=0)
    res = subprocess.run(["dot", "-Tsvg"], input=to_dot((a.sum() + b.sum()).exp()),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "<svg" in res.stdout
