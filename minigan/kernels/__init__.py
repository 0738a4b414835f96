"""Kernels: plain functions on arrays, no autograd, one module per family.

Each module holds the family's NumPy reference (written to be read) and a ``REFERENCE`` dict of
its entry points, from which the backend registry picks them up."""
