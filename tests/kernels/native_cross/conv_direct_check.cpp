// A standalone check of the portable direct conv kernels (csrc/cpu/conv_direct.cpp), for builds
// that cannot import minigan._C -- a cross-compiled ARM64 build run under qemu-user
// (tests/kernels/test_native_cross.py). It links conv_direct.cpp (the generic variant: NEON on
// ARM64) and isa.cpp, runs the three kernels the dispatch table picks on a few geometries and
// compares them with plain double-precision loops over the definition (conv_gemm.h).
// It also runs the GAN-loss, Adam and bias + activation kernels of the same variant (gan_loss.cpp,
// adam.cpp, bias_act.cpp) against scalar loops (check_loss_and_adam, check_bias_act). Prints
// "isa <name>" and one line per check; exits 1 on a mismatch.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "cpu/adam.h"
#include "cpu/bias_act.h"
#include "cpu/gan_loss.h"
#include "cpu/isa.h"

using minigan::cpu::ConvShape;

namespace {

// x value of tap (c, i, j) at output position (n, oh, ow); 0 outside the image.
double xat(const std::vector<float>& x, const ConvShape& s, int64_t n, int64_t c, int64_t oh,
           int64_t ow, int64_t i, int64_t j) {
    const int64_t h = oh * s.sh - s.ph + i * s.dh, w = ow * s.sw - s.pw + j * s.dw;
    if (h < 0 || h >= s.H || w < 0 || w >= s.W) return 0.0;
    return x[((n * s.C + c) * s.H + h) * s.W + w];
}

bool close(const std::vector<float>& got, const std::vector<double>& want, const char* what) {
    double scale = 1.0;
    for (double v : want) scale = std::fmax(scale, std::fabs(v));
    for (size_t k = 0; k < want.size(); ++k)
        if (!(std::fabs(got[k] - want[k]) <= 1e-5 * scale + 2e-6 * std::fabs(want[k]))) {
            std::printf("MISMATCH %s at %zu: %g vs %g\n", what, k, double(got[k]), want[k]);
            return false;
        }
    return true;
}

bool check(ConvShape s) {
    s.OH = (s.H + 2 * s.ph - s.dh * (s.kh - 1) - 1) / s.sh + 1;
    s.OW = (s.W + 2 * s.pw - s.dw * (s.kw - 1) - 1) / s.sw + 1;
    const int64_t K = s.C * s.kh * s.kw, P = s.OH * s.OW;
    std::mt19937 gen(7);
    std::normal_distribution<float> nd;
    auto fill = [&](int64_t n) {
        std::vector<float> v(static_cast<size_t>(n));
        for (auto& e : v) e = nd(gen);
        return v;
    };
    const auto x = fill(s.N * s.C * s.H * s.W), w = fill(s.O * K), b = fill(s.O),
               gy = fill(s.N * s.O * P);
    std::vector<double> y(size_t(s.N * s.O * P)), gw(size_t(s.O * K)), gb(size_t(s.O)),
        dx(x.size());
    for (int64_t n = 0; n < s.N; ++n)
        for (int64_t o = 0; o < s.O; ++o)
            for (int64_t oh = 0; oh < s.OH; ++oh)
                for (int64_t ow = 0; ow < s.OW; ++ow) {
                    const int64_t q = (n * s.O + o) * P + oh * s.OW + ow;
                    double acc = b[o];
                    gb[o] += gy[q];
                    for (int64_t c = 0; c < s.C; ++c)
                        for (int64_t i = 0; i < s.kh; ++i)
                            for (int64_t j = 0; j < s.kw; ++j) {
                                const int64_t k = (c * s.kh + i) * s.kw + j;
                                acc += w[o * K + k] * xat(x, s, n, c, oh, ow, i, j);
                                gw[o * K + k] += gy[q] * xat(x, s, n, c, oh, ow, i, j);
                                const int64_t h = oh * s.sh - s.ph + i * s.dh,
                                              ww = ow * s.sw - s.pw + j * s.dw;
                                if (h >= 0 && h < s.H && ww >= 0 && ww < s.W)
                                    dx[((n * s.C + c) * s.H + h) * s.W + ww] +=
                                        double(w[o * K + k]) * gy[q];
                            }
                    y[q] = acc;
                }
    const auto& kern = minigan::cpu::conv_direct();
    std::vector<float> y1(y.size()), gw1(gw.size()), gb1(gb.size()), dx1(dx.size());
    kern.forward(x.data(), w.data(), b.data(), y1.data(), s, 2);
    kern.backward_weight(gy.data(), x.data(), gw1.data(), gb1.data(), s, 2);
    kern.backward_data(gy.data(), w.data(), dx1.data(), s, 2);
    const bool ok = close(y1, y, "forward") && close(gw1, gw, "backward_weight") &&
                    close(gb1, gb, "bias gradient") && close(dx1, dx, "backward_data");
    std::printf("%s N%lld C%lld H%lld W%lld O%lld k%lldx%lld s%lld,%lld p%lld,%lld d%lld,%lld\n",
                ok ? "ok" : "FAIL", (long long)s.N, (long long)s.C, (long long)s.H,
                (long long)s.W, (long long)s.O, (long long)s.kh, (long long)s.kw,
                (long long)s.sh, (long long)s.sw, (long long)s.ph, (long long)s.pw,
                (long long)s.dh, (long long)s.dw);
    return ok;
}

// The non-saturating D loss on real logits, softplus(-x), and one Adam step, through the
// dispatch tables, against the formulas in double (an exp/log1p of ~1 ulp and float rounding).
bool check_loss_and_adam() {
    const int64_t n = 1000;
    std::vector<float> x(n), g(n);
    for (int64_t i = 0; i < n; ++i) x[i] = float(i - 500) / 37.0f;
    const double mean = minigan::cpu::gan_loss<float>(3 * 1 + 0, x.data(), n, g.data());
    double want = 0.0, err = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        want += std::log1p(std::exp(-std::fabs(x[i]))) + std::fmax(-x[i], 0.0);
        const double d = -1.0 / (1.0 + std::exp(double(x[i]))) / n;  // -sigmoid(-x) / n
        err = std::fmax(err, std::fabs(g[i] - d) / (1e-7 + std::fabs(d)));
    }
    want /= n;
    bool ok = std::fabs(mean - want) <= 1e-6 * std::fabs(want) && err <= 1e-5;
    std::printf("%s gan_loss ns d_real (rel. error of the mean %.1e, of grad %.1e)\n",
                ok ? "ok" : "MISMATCH", std::fabs(mean - want) / want, err);
    std::vector<float> p(n), m(n, 0.1f), v(n, 0.2f), gr(n);
    for (int64_t i = 0; i < n; ++i) p[i] = x[i], gr[i] = 0.01f * float(i % 17) - 0.08f;
    const std::vector<float> p0 = p;
    minigan::cpu::adam_update<float>(p.data(), gr.data(), m.data(), v.data(), nullptr, n, 3,
                                     {1e-2, 0.9, 0.999, 1e-8, 0.0});
    double worst = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const double mi = 0.9 * 0.1 + 0.1 * gr[i], vi = 0.999 * 0.2 + 0.001 * gr[i] * gr[i];
        const double step = 1e-2 / (1 - std::pow(0.9, 3)) * mi /
                            (std::sqrt(vi) / std::sqrt(1 - std::pow(0.999, 3)) + 1e-8);
        const double want_p = p0[i] - step;  // p is float: compare within its rounding
        worst = std::fmax(worst, std::fabs(want_p - p[i]) / (1e-6 + std::fabs(want_p)));
    }
    const bool ok2 = worst <= 5e-7;
    std::printf("%s adam step (worst rel. error of the parameter %.1e)\n", ok2 ? "ok" : "MISMATCH",
                worst);
    return ok && ok2;
}

// bias_act forward and backward for one activation, through the dispatch table, against the
// definition in double (bias_act.h): channels first with a bias (a conv's layout), channels last
// (a Linear's), and a bias-free call of 40,000 values (the flat, thread-split path).
bool check_bias_act(minigan::cpu::Act act, const char* name) {
    using minigan::cpu::Act;
    const double alpha = 0.2;
    auto f = [&](double z) {
        switch (act) {
            case Act::relu: return z < 0 ? 0.0 : z;
            case Act::leaky_relu: return z > 0 ? z : alpha * z;
            case Act::tanh: return std::tanh(z);
            case Act::sigmoid: return 1.0 / (1.0 + std::exp(-z));
            default: return z;
        }
    };
    auto slope = [&](double y) {
        switch (act) {
            case Act::relu: return y > 0 ? 1.0 : 0.0;
            case Act::leaky_relu: return y > 0 ? 1.0 : alpha;
            case Act::tanh: return 1.0 - y * y;
            case Act::sigmoid: return y * (1.0 - y);
            default: return 1.0;
        }
    };
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    bool ok = true;
    const int64_t shapes[3][3] = {{5, 7, 9}, {33, 129, 1}, {1, 1, 40000}};
    for (const auto& sh : shapes) {
        const int64_t O = sh[0], C = sh[1], I = sh[2], n = O * C * I;
        const bool with_bias = C > 1;
        std::vector<float> x(n), b(C), gy(n), y(n), gx(n), gb(C);
        for (auto& v : x) v = normal(rng);
        for (auto& v : b) v = normal(rng);
        for (auto& v : gy) v = normal(rng);
        minigan::cpu::bias_act_forward<float>(x.data(), with_bias ? b.data() : nullptr, y.data(),
                                              O, C, I, act, alpha);
        minigan::cpu::bias_act_backward<float>(gy.data(), y.data(), gx.data(),
                                               with_bias ? gb.data() : nullptr, O, C, I, act,
                                               alpha);
        std::vector<double> want_y(n), want_gx(n), want_gb(C, 0.0);
        for (int64_t k = 0; k < n; ++k) {
            const int64_t c = (k / I) % C;
            // x + b rounded to float first, as the kernel adds them in float
            want_y[k] = f(double(with_bias ? x[k] + b[c] : x[k]));
            want_gx[k] = double(gy[k]) * slope(double(y[k]));
            want_gb[c] += want_gx[k];
        }
        ok &= close(y, want_y, "bias_act forward") && close(gx, want_gx, "bias_act backward");
        if (with_bias) ok &= close(gb, want_gb, "bias_act bias gradient");
    }
    std::printf("%s bias_act %s (3 layouts)\n", ok ? "ok" : "MISMATCH", name);
    return ok;
}

}  // namespace

namespace minigan::cpu {
bool cpu_has_avx512() { return false; }  // (im2col.cpp's, not linked here)
}  // namespace minigan::cpu

int main() {
    std::printf("isa %s panel %lld\n", minigan::cpu::conv_direct().isa,
                (long long)minigan::cpu::conv_direct().panel);
    bool ok = true;
    //            N  C  H   W  O   kh kw sh sw ph pw dh dw
    ok &= check({2, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0});
    ok &= check({3, 5, 9, 7, 32, 3, 3, 2, 1, 1, 2, 1, 1, 0, 0});
    ok &= check({2, 8, 7, 9, 17, 3, 3, 1, 1, 1, 1, 2, 1, 0, 0});
    ok &= check({2, 16, 9, 8, 5, 3, 3, 2, 3, 1, 0, 1, 2, 0, 0});
    ok &= check({2, 9, 14, 14, 16, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0});
    ok &= check_loss_and_adam();
    using minigan::cpu::Act;
    ok &= check_bias_act(Act::none, "none");
    ok &= check_bias_act(Act::relu, "relu");
    ok &= check_bias_act(Act::leaky_relu, "leaky_relu");
    ok &= check_bias_act(Act::tanh, "tanh");
    ok &= check_bias_act(Act::sigmoid, "sigmoid");
    return ok ? 0 : 1;
}
