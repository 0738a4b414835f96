"""minigan._C's float32 convolution kernels, called directly, in every ISA variant this CPU
executes (csrc/cpu/isa.h: avx512 -- direct kernels and packed GEMMs --, avx2 and generic --
direct kernels) and in every form (``form=``: the row forms, the channel-panel forms, the
avx512 GEMMs, and the automatic choice): against the float64 NumPy reference on every groups=1
geometry of the parity table, with 1, 2 and 3 threads (the column split differs), and their
argument errors. Variants this CPU cannot execute are reported as skipped, with the reason. The
parity table reaches these kernels through the native backend too, in the form each call's
shape picks; this file makes sure each variant's kernels ran in every form."""

from __future__ import annotations

import numpy as np
import pytest

from minigan import backends
from minigan.diagnostics.gradcheck import assert_close
from minigan.kernels import conv

_C = backends.native()
pytestmark = pytest.mark.skipif(_C is None, reason="needs minigan._C")
_INFO = _C.isa_info() if _C is not None else {"compiled": [], "supported": []}

GEOMS = [g for g in conv._GEOMETRIES + conv._BENCH if g[5] == 1]


@pytest.fixture(autouse=True, params=["avx512", "avx2", "generic"])
def isa(request):
    """Every test here runs once per ISA variant, with that variant forced (_C.set_isa)."""
    name = request.param
    if name not in _INFO["compiled"]:
        pytest.skip(f"{name}: not compiled into this build of minigan._C "
                    f"(compiled: {', '.join(_INFO['compiled'])})")
    if name not in _INFO["supported"]:
        pytest.skip(f"{name}: this CPU does not report the instructions it needs "
                    f"(it runs: {', '.join(_INFO['supported'])})")
    before = _C.isa()
    _C.set_isa(name)
    yield name
    _C.set_isa(before)


@pytest.fixture(params=[1, 2, 3], ids=lambda n: f"{n}threads")
def threads(request):
    before = backends.num_threads()
    backends.set_num_threads(request.param)
    yield request.param
    backends.set_num_threads(before)


FORMS = ["auto", "rows", "panel", "gemm"]


@pytest.fixture(params=FORMS)
def form(request, isa):
    """The form= every call of a test passes; 'gemm' exists in the avx512 variant only."""
    if request.param == "gemm" and isa != "avx512":
        pytest.skip(f"form 'gemm': the packed GEMMs are AVX-512 code; variant {isa} has none")
    return request.param


@pytest.mark.parametrize("geom", GEOMS, ids=lambda g: "x{}w{}s{}p{}d{}".format(*g[:5]))
def test_gemm_kernels_match_reference(geom, threads, form):
    x_shape, w_shape, s, p, d, _ = geom
    rng = np.random.default_rng(7)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    y = _C.conv2d_forward_f32(x, w, s, p, d, form=form)
    want_y = conv.conv2d_forward(x64, w64, s, p, d)
    assert y.dtype == np.float32
    assert_close(y, want_y, np.float32, what="forward")

    gy = rng.standard_normal(want_y.shape).astype(np.float32)
    gy64 = gy.astype(np.float64)
    assert_close(_C.conv2d_backward_data_f32(gy, w, x_shape, s, p, d, form=form),
                 conv.conv2d_backward_data(gy64, w64, x_shape, s, p, d), np.float32,
                 what="backward_data")
    assert_close(_C.conv2d_backward_weight_f32(gy, x, w_shape, s, p, d, form=form),
                 conv.conv2d_backward_weight(gy64, x64, w_shape, s, p, d), np.float32,
                 what="backward_weight")


@pytest.mark.parametrize("channels", [3, 32])
def test_backward_data_overwrites_and_covers_every_pixel(channels, form):
    """Pixels no window touches (stride 3, kernel 2) must come back 0, not stale memory --
    in every form: the GEMM + scatter-add, the phase-split panels and the phase-split rows."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, channels, 2, 2)).astype(np.float32)
    gy = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    x_shape = (2, channels, 9, 9)
    for _ in range(3):
        dx = _C.conv2d_backward_data_f32(gy, w, x_shape, (3, 3), (0, 0), (1, 1), form=form)
        assert np.all(dx[:, :, 2::3, :] == 0) and np.all(dx[:, :, :, 2::3] == 0)
        assert_close(dx, conv.conv2d_backward_data(gy.astype(np.float64), w.astype(np.float64),
                                                   x_shape, (3, 3), (0, 0), (1, 1)),
                     np.float32, what="dx")


def test_bad_arguments_are_named():
    x = np.zeros((2, 3, 8, 8), np.float32)
    w = np.zeros((4, 3, 3, 3), np.float32)
    one = (1, 1)
    with pytest.raises(TypeError, match="x: expected dtype float32"):
        _C.conv2d_forward_f32(x.astype(np.float64), w, one, one, one)
    with pytest.raises(ValueError, match="x: expected a C-contiguous"):
        _C.conv2d_forward_f32(x.transpose(0, 1, 3, 2), w, one, one, one)
    with pytest.raises(ValueError, match="weight: expected 3 input channels"):
        _C.conv2d_forward_f32(x, np.zeros((4, 2, 3, 3), np.float32), one, one, one)
    with pytest.raises(ValueError, match="grad_output: expected shape"):
        _C.conv2d_backward_data_f32(np.zeros((2, 4, 7, 7), np.float32), w, x.shape, one, one, one)
    with pytest.raises(ValueError, match="kernel"):
        _C.conv2d_backward_weight_f32(np.zeros((2, 4, 1, 1), np.float32),
                                      np.zeros((2, 3, 2, 2), np.float32), w.shape, one, (0, 0),
                                      one)
    with pytest.raises(TypeError, match="weight: expected a numpy.ndarray"):
        _C.conv2d_forward_f32(x, [1.0], one, one, one)
    # the fused bias: one float32 value per output channel, C-contiguous
    with pytest.raises(ValueError, match=r"bias: expected shape \(4,\), got \(3,\)"):
        _C.conv2d_forward_f32(x, w, one, one, one, bias=np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="bias: expected dtype float32"):
        _C.conv2d_forward_f32(x, w, one, one, one, bias=np.zeros(4))
    with pytest.raises(ValueError, match="bias: expected a C-contiguous"):
        _C.conv2d_forward_f32(x, w, one, one, one, bias=np.zeros(8, np.float32)[::2])
    with pytest.raises(ValueError, match="form: expected 'auto', 'rows', 'panel' or 'gemm', "
                                         "got 'tiles'"):
        _C.conv2d_forward_f32(x, w, one, one, one, form="tiles")
    with pytest.raises(ValueError, match="form: expected"):
        _C.conv2d_backward_data_f32(np.zeros((2, 4, 8, 8), np.float32), w, x.shape, one, one,
                                    one, form="")


def test_gemm_form_needs_avx512(isa):
    x = np.zeros((1, 2, 5, 5), np.float32)
    w = np.zeros((3, 2, 3, 3), np.float32)
    one = (1, 1)
    if isa == "avx512":
        assert _C.conv2d_forward_f32(x, w, one, one, one, form="gemm").shape == (1, 3, 5, 5)
        return
    with pytest.raises(ValueError, match=f"form: 'gemm' needs the avx512 variant; the active "
                                         f"one is {isa}"):
        _C.conv2d_forward_f32(x, w, one, one, one, form="gemm")


@pytest.mark.parametrize("o", [32, 5])
def test_fused_bias_and_its_gradient(o, threads, form):
    """bias= on the forward and need_bias= on the weight gradient (the direct kernels -- rows
    and panels -- sum it from the gy they read, in double; the avx512 GEMM form in a separate
    pass) against float64 sums."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 8, 9, 7)).astype(np.float32)
    w = rng.standard_normal((o, 8, 3, 3)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    geom = ((2, 1), (1, 1), (1, 1))
    y = _C.conv2d_forward_f32(x, w, *geom, bias=b, form=form)
    want = conv.conv2d_forward(x.astype(np.float64), w.astype(np.float64), *geom)
    assert_close(y, want + b[None, :, None, None], np.float32, what="y")
    gy = rng.standard_normal(y.shape).astype(np.float32)
    gw, gb = _C.conv2d_backward_weight_f32(gy, x, w.shape, *geom, need_bias=True, form=form)
    assert_close(gw, _C.conv2d_backward_weight_f32(gy, x, w.shape, *geom, form=form),
                 np.float32, rtol=0,
                 atol=0, what="gw with and without the bias gradient")
    assert gb.dtype == np.float32 and gb.shape == (o,)
    assert_close(gb, gy.astype(np.float64).sum(axis=(0, 2, 3)), np.float32, what="gb")


def test_variants_are_reported_and_a_missing_one_is_refused():
    """isa_info names what was compiled, what runs here (a subset, generic always) and the
    variant each family uses; forcing one the CPU lacks is a RuntimeError naming what runs."""
    info = _C.isa_info()
    assert info["compiled"][-1] == "generic" and set(info["supported"]) <= set(info["compiled"])
    assert "generic" in info["supported"] and info["active"] == _C.isa()
    assert info["families"]["conv"] == _C.isa()
    assert _C.conv_direct_panel() == {"avx512": 32, "avx2": 16, "generic": 8}[_C.isa()]
    for name in ("avx512", "avx2", "generic"):
        if name not in info["supported"]:
            with pytest.raises(RuntimeError, match=f"isa '{name}'.*available here"):
                _C.set_isa(name)
            assert _C.isa() == info["active"]
    with pytest.raises(ValueError, match="expected 'avx512', 'avx2' or 'generic'"):
        _C.set_isa("sse9")


def test_automatic_form_takes_the_rows_where_measured(isa):
    """With avx512, form='auto' runs the row forms for the layers they were measured to win
    (bindings_cpu_conv.cpp: fewer than 64 taps on rows of 12 or more, as the D's first dcgan
    layer, and stride-1 rows of 24 or more) -- the very bits form='rows' gives -- and the panels
    where the taps are many and the rows short (the D's second layer). The other variants keep
    their panels."""
    rng = np.random.default_rng(5)
    one = (1, 1)
    x = rng.standard_normal((2, 3, 9, 30)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    x1 = rng.standard_normal((4, 1, 28, 28)).astype(np.float32)
    w1 = rng.standard_normal((64, 1, 4, 4)).astype(np.float32)
    gy1 = rng.standard_normal((4, 64, 14, 14)).astype(np.float32)
    want = "rows" if isa == "avx512" else "panel"
    assert np.array_equal(_C.conv2d_forward_f32(x, w, one, one, one),
                          _C.conv2d_forward_f32(x, w, one, one, one, form=want))
    assert np.array_equal(_C.conv2d_forward_f32(x1, w1, (2, 2), one, one),
                          _C.conv2d_forward_f32(x1, w1, (2, 2), one, one, form=want))
    args = (gy1, x1, (64, 1, 4, 4), (2, 2), one, one)
    assert np.array_equal(_C.conv2d_backward_weight_f32(*args),
                          _C.conv2d_backward_weight_f32(*args, form=want))
    x2 = rng.standard_normal((2, 64, 14, 14)).astype(np.float32)
    w2 = rng.standard_normal((128, 64, 4, 4)).astype(np.float32)
    assert np.array_equal(_C.conv2d_forward_f32(x2, w2, (2, 2), one, one),
                          _C.conv2d_forward_f32(x2, w2, (2, 2), one, one, form="panel"))


@pytest.mark.parametrize("poison", ["weight", "x"])
def test_nonfinite_values_propagate_like_the_reference(poison, form):
    """The panel forward skips the taps a border window has in the padding (their products are
    zeros), the panel input gradient the taps whose gy row or column is out of range -- except
    when the weights hold an inf or NaN, where 0 * inf must give the NaN the reference's
    product gives. Every form, with inf / NaN in the weights or in x, on a
    padded geometry whose border classes differ (stride 2, 4x4, padding 1): NaN exactly where
    the reference has NaN, the same infinities."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 32, 10, 10)).astype(np.float32)
    w = rng.standard_normal((32, 32, 4, 4)).astype(np.float32)
    if poison == "weight":
        w[3, 5, 0, 0], w[7, 1, 3, 3], w[9, 2, 1, 2] = np.inf, -np.inf, np.nan
    else:
        x[0, 4, 0, 0], x[1, 2, 9, 5], x[2, 7, 4, 4] = np.inf, -np.inf, np.nan
    geom = ((2, 2), (1, 1), (1, 1))
    want = conv.conv2d_forward(x.astype(np.float64), w.astype(np.float64), *geom)
    assert np.isnan(want).any()
    assert_close(_C.conv2d_forward_f32(x, w, *geom, form=form), want, np.float32, what="y")
    # the input gradient skips the taps whose gy row / column is out of range in the same way
    gy = rng.standard_normal(want.shape).astype(np.float32)
    if poison == "x":  # (the gradient's own non-finite input)
        gy[0, 3, 0, 0], gy[2, 30, 4, 4], gy[1, 6, 2, 3] = np.inf, -np.inf, np.nan
    want_dx = conv.conv2d_backward_data(gy.astype(np.float64), w.astype(np.float64), x.shape,
                                        *geom)
    assert np.isnan(want_dx).any()
    assert_close(_C.conv2d_backward_data_f32(gy, w, x.shape, *geom, form=form), want_dx,
                 np.float32, what="dx")
    want_gw = conv.conv2d_backward_weight(gy.astype(np.float64), x.astype(np.float64), w.shape,
                                          *geom)
    assert np.isnan(want_gw).any() == (poison == "x")
    assert_close(_C.conv2d_backward_weight_f32(gy, x, w.shape, *geom, form=form), want_gw,
                 np.float32, what="gw")


@pytest.mark.parametrize("dilation", [(1, 1), (1, 2)])
def test_kernels_wider_than_the_image(form, dilation):
    """A 9x9 kernel with padding 8 on a 5x5 image: nearly every output row and column keeps its
    own set of taps in bounds, more border classes than the panel forms keep lists for
    (kMaxClasses), so they fall back to every tap on a padded copy -- still the reference's
    values, every form; also past 64 taps wide (a 1x70 kernel), where the class masks end."""
    rng = np.random.default_rng(8)
    for x_shape, w_shape, pad in (((2, 32, 5, 5), (32, 32, 9, 9), (8, 8)),
                                  ((2, 32, 3, 75), (32, 32, 1, 70), (0, 2))):
        x = rng.standard_normal(x_shape).astype(np.float32)
        w = rng.standard_normal(w_shape).astype(np.float32)
        d = dilation if w_shape[3] < 70 else (1, 1)
        geom = ((1, 1), pad, d)
        x64, w64 = x.astype(np.float64), w.astype(np.float64)
        want = conv.conv2d_forward(x64, w64, *geom)
        assert_close(_C.conv2d_forward_f32(x, w, *geom, form=form), want, np.float32, what="y")
        gy = rng.standard_normal(want.shape).astype(np.float32)
        assert_close(_C.conv2d_backward_data_f32(gy, w, x_shape, *geom, form=form),
                     conv.conv2d_backward_data(gy.astype(np.float64), w64, x_shape, *geom),
                     np.float32, what="dx")
        assert_close(_C.conv2d_backward_weight_f32(gy, x, w_shape, *geom, form=form),
                     conv.conv2d_backward_weight(gy.astype(np.float64), x64, w_shape, *geom),
                     np.float32, what="gw")
