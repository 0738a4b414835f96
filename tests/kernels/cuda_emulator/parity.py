"""What both emulation scripts share: comparing a CUDA backend's results with the NumPy
references over the parity table and a few larger convolutions, and the final report.
Imported only after the script has put its fake ``cupy`` first on sys.path."""

from __future__ import annotations

import numpy as np

CONV = [  # x, w, stride, padding, dilation, groups
    ((3, 5, 13, 11), (70, 5, 3, 3), (1, 1), (1, 1), (1, 1), 1),     # two n tiles, split-K
    ((2, 6, 17, 9), (9, 2, 3, 2), (2, 3), (2, 0), (1, 2), 3),
    ((4, 64, 14, 14), (128, 64, 4, 4), (2, 2), (1, 1), (1, 1), 1),  # dcgan D.conv2, split-K
    ((0, 3, 5, 5), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),        # empty batch
]


def to_device(o, cupy):
    if isinstance(o, np.ndarray):
        return cupy.asarray(o.copy())
    if isinstance(o, (tuple, list)):
        return type(o)(to_device(x, cupy) for x in o)
    return o


def _upcast(o, dtype):
    if isinstance(o, np.ndarray) and o.dtype == dtype:
        return o.astype(np.float64)
    if isinstance(o, (tuple, list)):
        return type(o)(_upcast(x, dtype) for x in o)
    return o


class Comparisons:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.count = 0

    def check(self, what, got, want, dtype, tol=(None, None)) -> None:
        from minigan.diagnostics.gradcheck import assert_outputs_close

        self.count += 1
        try:
            assert_outputs_close(got, want, dtype, tol[0], tol[1], what=what)
        except AssertionError as exc:
            self.failures.append(f"{what} [{np.dtype(dtype)}]: {exc}")

    def fail(self, line: str) -> None:
        self.failures.append(line)

    def table(self, backend: str, cupy) -> None:
        """Every test-sized row of the parity table on ``backend``, float32 and float64, against
        the reference run in float64 on the same inputs."""
        from minigan.kernels import registry, table

        for case in table.rows(nonfinite=True):
            impl = registry._resolve(case.kernel, backend)
            for dtype in (np.float32, np.float64):
                args, kwargs = case.arguments(dtype)
                want = case.run(registry.reference(case.kernel),
                                _upcast(args, np.dtype(dtype)), kwargs)
                got = case.run(impl, to_device(args, cupy), kwargs)
                self.check(case.name, got, want, dtype, case.tol.get(np.dtype(dtype),
                                                                     (None, None)))

    def convolutions(self, module, cupy, label=lambda *geometry: "") -> None:
        """The CONV shapes through ``module``'s three conv kernels, both dtypes."""
        from minigan.kernels import conv

        rng = np.random.default_rng(0)
        for xs, ws, s, p, d, g in CONV:
            x, w = rng.standard_normal(xs), rng.standard_normal(ws)
            y = conv.conv2d_forward(x, w, s, p, d, g)
            gy = rng.standard_normal(y.shape)
            for dtype in (np.float32, np.float64):
                def dev(a):
                    return cupy.asarray(a.astype(dtype))

                what = f"conv x{xs} w{ws} s{s} p{p} d{d} g{g}"
                self.check(f"{what} forward",
                           (module.conv2d_forward(dev(x), dev(w), s, p, d, g),), (y,), dtype)
                self.check(f"{what} backward data",
                           (module.conv2d_backward_data(dev(gy), dev(w), xs, s, p, d, g),),
                           (conv.conv2d_backward_data(gy, w, xs, s, p, d, g),), dtype)
                self.check(f"{what} backward weight{label(xs, ws, s, p, d, g)}",
                           (module.conv2d_backward_weight(dev(gy), dev(x), ws, s, p, d, g),),
                           (conv.conv2d_backward_weight(gy, x, ws, s, p, d, g),), dtype)

    def report(self) -> int:
        for line in self.failures:
            print("FAIL", line)
        print(f"{self.count - len(self.failures)}/{self.count} emulated comparisons passed")
        return 1 if self.failures else 0
