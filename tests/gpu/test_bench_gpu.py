"""``minigan bench kernels|step --device cuda``: a smoke run on a GPU (numbers are not data),
and on any machine the one-line error without one and the table layout."""

from __future__ import annotations

import pytest

from minigan import backends
from minigan.bench import gpu as bench_gpu
from minigan.cli import main


def test_bench_on_cuda_without_cupy_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr(backends, "_gpu_reason_cache", ["CuPy is not installed"])
    for what in ("kernels", "step"):
        assert main(["bench", what, "--device", "cuda", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.strip() == ("minigan bench: error: device 'cuda' is not available: "
                               "CuPy is not installed")


def test_tables_show_rate_peak_fraction_and_ratios():
    gpu = {"name": "NVIDIA H100 80GB HBM3", "compute_capability": 90,
           "peak_bandwidth": 3.35e12, "peak_flops": {"float32": 67e12, "float64": 34e12},
           "peak_source": "published peaks of the H100"}
    kernels = {"machine": {"gpu": gpu}, "results": [
        {"kernel": "fused_gan_loss", "shape": "ns,g,1048576", "backend": "cupy", "status": "ok",
         "median_s": 4e-6, "gbps": 2097.0, "peak_fraction": 0.626, "speedup": 1.0,
         "max_err": 1e-7},
        {"kernel": "fused_gan_loss", "shape": "ns,g,1048576", "backend": "numba_cuda",
         "status": "fallback"}]}
    text = bench_gpu.format_kernels(kernels)
    assert "3350 GB/s" in text and "FP32 67.0 TFLOP/s" in text
    row = next(ln for ln in text.splitlines()[2:] if ln.split()[2] == "cupy")
    assert "2097 GB/s" in row and "63%" in row and "1.00x" in row
    assert "fallback" in text
    step = {"machine": {"gpu": gpu}, "preset": "dcgan-mnist", "batch": 64, "results": [
        {"impl": "minigan/cupy", "backend": "cupy", "median_s": 6e-3, "vs_cupy": 1.0,
         "ratio_to_torch": 1.5},
        {"impl": "torch-cuda", "backend": "torch", "median_s": 4e-3, "vs_cupy": 1.5,
         "ratio_to_torch": 1.0}]}
    lines = bench_gpu.format_step(step).splitlines()
    assert "NVIDIA H100" in lines[0]
    assert lines[2].split() == ["minigan/cupy", "6.00", "1.00x", "1.50"]


@pytest.mark.gpu
def test_kernel_and_step_bench_run_on_the_gpu():
    reason = backends.unavailable_reason("cupy")
    if reason is not None:
        pytest.skip(reason)
    report = bench_gpu.bench_kernels(None, repeats=2, warmup=1, only="fused_gan_loss",
                                     bench_rows=False, progress=False)
    ok = [e for e in report["results"] if e["status"] == "ok"]
    assert ok and all(e["median_s"] > 0 and e["max_err"] < 1e-5 for e in ok)
    assert report["machine"]["gpu"]["peak_bandwidth"] > 1e11
    step = bench_gpu.bench_step("tiny", None, repeats=2, warmup=1, batch=8, use_torch=True,
                                progress=False)
    assert step["results"][0]["impl"] == "minigan/cupy"
    assert all(r["median_s"] > 0 for r in step["results"])
