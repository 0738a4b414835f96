"""Every ``minigan ... --help`` reads as plain text: argparse prints descriptions as they are,
so a docstring's reST markup (double backquotes, :mod: roles) would show raw."""

import argparse
import re

import pytest

from minigan.cli import build_parser, main


def _parsers(parser, path=()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


PARSERS = list(_parsers(build_parser()))
MARKUP = re.compile(r"``|:(mod|func|class|meth|data|attr|math|ref):`|\.\. \w+::|^\s*\*\s", re.M)


def test_every_command_is_walked():
    names = {" ".join(p) for p, _ in PARSERS}
    assert {"bench", "bench kernels", "bench step", "bench scale", "train", "sample", "eval",
            "study sweep", "data download", "plot", "info"} <= names


@pytest.mark.parametrize("path", [p for p, _ in PARSERS], ids=lambda p: " ".join(p) or "top")
def test_help_is_plain_text_with_a_description(path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*path, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: minigan {' '.join(path)}".rstrip())
    assert not MARKUP.search(text), f"reST markup in `minigan {' '.join(path)} --help`"
    parser = dict(PARSERS)[path]
    # Every command says what it does in a sentence (not just its options).
    assert parser.description and parser.description.rstrip().endswith("."), (
        f"`minigan {' '.join(path)}` has no description sentence")


@pytest.mark.parametrize("argv,msg", [
    (["kernels", "--backends", "bogus", "--small", "--quiet"], "unknown backend 'bogus'"),
    (["kernels", "--repeats", "0", "--small"], "--repeats: expected a positive integer, got 0"),
    (["kernels", "--json", "/nonexistent/dir/x.json"], "--json '/nonexistent/dir/x.json': "
     "cannot write a file there"),
    (["step", "--preset", "bogus", "--no-torch", "--quiet"], "--preset: unknown 'bogus'"),
    (["step", "--batch", "-3"], "--batch: expected a positive integer, got -3"),
    (["scale", "--ranks", "0"], "--ranks: expected a positive integer, got 0"),
])
def test_bench_user_errors_are_one_line_and_exit_2(argv, msg, capsys):
    assert main(["bench", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minigan bench: error: ") and err.count("\n") == 1
    assert msg in err
