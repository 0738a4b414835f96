"""Helpers shared by the GPU kernel modules of every family: ``cupy.py`` (CuPy kernel caching,
dtypes, launch sizes for the ``cupy`` backend), ``numba_cuda.py`` (launch and array handling for
the ``numba_cuda`` backend) and ``cuda.py`` (the compiled ``minigan._cuda`` extension, its stream
and device arrays). Each is imported only by its backend's modules, so nothing here needs a GPU
to import this package."""
