"""``minigan bench``: kernels against their NumPy references, and one GAN training step.

cli.py        the ``minigan bench kernels|step`` command line
runner.py     shared timing machinery; :func:`~minigan.bench.runner.in_child` runs a measurement
              in a fresh interpreter
kernels.py    ``bench kernels``: the parity table's benchmark rows per CPU backend
step.py       ``bench step``: one training step per CPU backend beside PyTorch
models.py     the benchmarked models and steps, minigan's and PyTorch's (the parity tests use them)
gpu.py        both benches on the GPU (``--device cuda``)

The modules import one way only: cli -> kernels/step/gpu -> runner, models."""

from .cli import add_command, cmd_bench

__all__ = ["add_command", "cmd_bench"]
