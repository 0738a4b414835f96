// A standalone check of the portable direct conv kernels (csrc/cpu/conv_direct.cpp), for builds
// that cannot import minigan._C -- a cross-compiled ARM64 build run under qemu-user
// (tests/kernels/test_native_cross.py). It links conv_direct.cpp (the generic variant: NEON on
// ARM64) and isa.cpp, runs the kernels the dispatch table picks -- forward, weight and input
// gradients, in panel and row form -- on a few geometries and compares them with plain
// double-precision loops over the definition (conv_gemm.h).
// It also runs the GAN-loss, Adam, bias + activation, batch norm and spectral norm kernels of the
// same variant (gan_loss.cpp, adam.cpp, bias_act.cpp, batch_norm.cpp, spectral_norm.cpp) against
// scalar loops (check_loss_and_adam, check_bias_act, check_batch_norm, check_spectral_norm).
// Prints "isa <name>" and one line per check; exits 1 on a mismatch.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "cpu/adam.h"
#include "cpu/batch_norm.h"
#include "cpu/bias_act.h"
#include "cpu/gan_loss.h"
#include "cpu/isa.h"
#include "cpu/spectral_norm.h"

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
    bool ok = close(y1, y, "forward") && close(gw1, gw, "backward_weight") &&
              close(gb1, gb, "bias gradient") && close(dx1, dx, "backward_data");
    // the row forms, same definitions
    kern.forward_rows(x.data(), w.data(), b.data(), y1.data(), s, 2);
    kern.backward_weight_rows(gy.data(), x.data(), gw1.data(), gb1.data(), s, 2);
    kern.backward_data_rows(gy.data(), w.data(), dx1.data(), s, 2);
    ok = ok && close(y1, y, "forward_rows") && close(gw1, gw, "backward_weight_rows") &&
         close(gb1, gb, "bias gradient (rows)") && close(dx1, dx, "backward_data_rows");
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

// Training-mode batch norm, forward and backward, against the definition in double (batch
// statistics with the biased variance; the running statistics with the unbiased one), over
// (N, C, L) data and the (N, C) rows of a BatchNorm1d (L = 1), each large enough to split.
bool check_batch_norm() {
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0.5f, 1.5f);
    bool ok = true;
    const int64_t shapes[2][3] = {{16, 5, 700}, {300, 130, 1}};
    for (const auto& sh : shapes) {
        const int64_t N = sh[0], C = sh[1], L = sh[2], total = N * C * L, cnt = N * L;
        std::vector<float> x(total), gy(total), w(C), b(C), rm(C, 0.25f), rv(C, 2.0f);
        for (auto& v : x) v = normal(rng);
        for (auto& v : gy) v = normal(rng);
        for (auto& v : w) v = normal(rng);
        for (auto& v : b) v = normal(rng);
        std::vector<float> y(total), mean(C), invstd(C), gx(total), gw(C), gb(C);
        const double momentum = 0.1, eps = 1e-5;
        minigan::cpu::bn_forward<float>(x.data(), N, C, L, w.data(), b.data(), rm.data(),
                                        rv.data(), true, momentum, eps, y.data(), mean.data(),
                                        invstd.data());
        minigan::cpu::bn_backward<float>(gy.data(), x.data(), N, C, L, w.data(), mean.data(),
                                         invstd.data(), gx.data(), gw.data(), gb.data());
        std::vector<double> want_y(total), want_mean(C), want_invstd(C), want_rm(C),
            want_rv(C), want_gx(total), want_gw(C), want_gb(C);
        for (int64_t c = 0; c < C; ++c) {
            double s = 0.0, q = 0.0;
            for (int64_t n = 0; n < N; ++n)
                for (int64_t l = 0; l < L; ++l) s += x[(n * C + c) * L + l];
            const double mu = s / double(cnt);
            for (int64_t n = 0; n < N; ++n)
                for (int64_t l = 0; l < L; ++l) {
                    const double d = x[(n * C + c) * L + l] - mu;
                    q += d * d;
                }
            const double var = q / double(cnt), is = 1.0 / std::sqrt(var + eps);
            want_mean[c] = mu;
            want_invstd[c] = is;
            want_rm[c] = (1 - momentum) * 0.25 + momentum * mu;
            want_rv[c] = (1 - momentum) * 2.0 + momentum * var * double(cnt) / double(cnt - 1);
            // the backward from the kernel's own (float) statistics, as it is given them
            const double m = mean[c], isf = invstd[c];
            double sg = 0.0, sgx = 0.0;
            for (int64_t n = 0; n < N; ++n)
                for (int64_t l = 0; l < L; ++l) {
                    const int64_t k = (n * C + c) * L + l;
                    want_y[k] = (x[k] - mu) * is * w[c] + b[c];
                    sg += gy[k];
                    sgx += gy[k] * (x[k] - m) * isf;
                }
            want_gb[c] = sg;
            want_gw[c] = sgx;
            for (int64_t n = 0; n < N; ++n)
                for (int64_t l = 0; l < L; ++l) {
                    const int64_t k = (n * C + c) * L + l;
                    const double xhat = (x[k] - m) * isf;
                    want_gx[k] = w[c] * isf * (gy[k] - sg / double(cnt) - xhat * sgx / double(cnt));
                }
        }
        ok &= close(y, want_y, "batch_norm y") && close(mean, want_mean, "batch_norm mean") &&
              close(invstd, want_invstd, "batch_norm invstd") &&
              close(rm, want_rm, "batch_norm running_mean") &&
              close(rv, want_rv, "batch_norm running_var") &&
              close(gx, want_gx, "batch_norm gx") && close(gw, want_gw, "batch_norm gw") &&
              close(gb, want_gb, "batch_norm gb");
    }
    std::printf("%s batch_norm forward and backward (2 layouts)\n", ok ? "ok" : "MISMATCH");
    return ok;
}

// Spectral norm: three power-iteration steps from u0, the normalized weight and the backward,
// against the definitions in double (spectral_norm.h), on a matrix large enough to split.
bool check_spectral_norm() {
    std::mt19937 rng(13);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    bool ok = true;
    const int64_t shapes[2][2] = {{3, 11}, {9, 5000}};
    for (const auto& sh : shapes) {
        const int64_t m = sh[0], n = sh[1];
        const double eps = 1e-12;
        std::vector<float> w(m * n), g(m * n), u0(m), u(m), v(n), out(m * n), gout(m * n);
        for (auto& a : w) a = normal(rng);
        for (auto& a : g) a = normal(rng);
        for (auto& a : u0) a = normal(rng);
        const float sigma = minigan::cpu::sn_power_iteration<float>(w.data(), m, n, u0.data(), 3,
                                                                    eps, u.data(), v.data());
        const float sigma2 = minigan::cpu::sn_normalize<float>(w.data(), m, n, u.data(),
                                                               v.data(), out.data());
        minigan::cpu::sn_backward<float>(g.data(), w.data(), m, n, u.data(), v.data(), sigma2,
                                         gout.data());
        std::vector<double> du(u0.begin(), u0.end()), dv(n), t(m);
        auto normalize = [&](std::vector<double>& a) {
            double s = 0.0;
            for (double e : a) s += e * e;
            const double d = std::fmax(std::sqrt(s), eps);
            for (double& e : a) e /= d;
        };
        for (int it = 0; it < 3; ++it) {
            for (int64_t j = 0; j < n; ++j) {
                dv[j] = 0.0;
                for (int64_t i = 0; i < m; ++i) dv[j] += double(w[i * n + j]) * du[i];
            }
            normalize(dv);
            for (int64_t i = 0; i < m; ++i) {
                t[i] = 0.0;
                for (int64_t j = 0; j < n; ++j) t[i] += double(w[i * n + j]) * dv[j];
            }
            du = t;
            normalize(du);
        }
        double want_sigma = 0.0;
        for (int64_t i = 0; i < m; ++i) want_sigma += du[i] * t[i];
        // normalize and backward from the kernel's own u, v and sigma
        std::vector<double> want_out(m * n), want_g(m * n);
        double gw = 0.0;
        for (int64_t k = 0; k < m * n; ++k) gw += double(g[k]) * w[k];
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
                const int64_t k = i * n + j;
                want_out[k] = double(w[k]) / sigma2;
                want_g[k] = double(g[k]) / sigma2 - gw / (double(sigma2) * sigma2) * u[i] * v[j];
            }
        ok &= close(u, du, "sn u") && close(v, dv, "sn v") &&
              close({sigma, sigma2}, {want_sigma, want_sigma}, "sn sigma") &&
              close(out, want_out, "sn normalize") && close(gout, want_g, "sn backward");
    }
    std::printf("%s spectral_norm power iteration, normalize, backward (2 shapes)\n",
                ok ? "ok" : "MISMATCH");
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
    ok &= check({3, 1, 28, 28, 64, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0});  // D.conv1 of dcgan-mnist
    ok &= check({2, 3, 9, 30, 5, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0});
    ok &= check_loss_and_adam();
    using minigan::cpu::Act;
    ok &= check_bias_act(Act::none, "none");
    ok &= check_bias_act(Act::relu, "relu");
    ok &= check_bias_act(Act::leaky_relu, "leaky_relu");
    ok &= check_bias_act(Act::tanh, "tanh");
    ok &= check_bias_act(Act::sigmoid, "sigmoid");
    ok &= check_batch_norm();
    ok &= check_spectral_norm();
    return ok ? 0 : 1;
}
