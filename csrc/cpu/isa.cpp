// The run-time choice of ISA variant (isa.h). Compiled for the baseline ISA, so asking the CPU is
// safe anywhere.
#include "isa.h"

#include "adam.h"
#include "batch_norm.h"
#include "bias_act.h"
#include "gan_loss.h"
#include "spectral_norm.h"

#include <atomic>
#include <cstdlib>
#include <stdexcept>

namespace minigan::cpu {

// Each ISA unit's exported tables (conv_direct.cpp, gan_loss.cpp, adam.cpp, bias_act.cpp,
// batch_norm.cpp, spectral_norm.cpp).
#define MG_ISA_TABLES                                  \
    extern const ConvDirect conv_direct_table;         \
    extern const GanLossKernels gan_loss_table;        \
    extern const OptimKernels optim_table;             \
    extern const BiasActKernels bias_act_table;        \
    extern const BatchNormKernels batch_norm_table;    \
    extern const SpectralNormKernels spectral_norm_table;
#if MINIGAN_HAVE_ISA_AVX512
namespace isa_avx512 { MG_ISA_TABLES }
#endif
#if MINIGAN_HAVE_ISA_AVX2
namespace isa_avx2 { MG_ISA_TABLES }
#endif
namespace isa_generic { MG_ISA_TABLES }
#undef MG_ISA_TABLES

namespace {

std::atomic<int> active{-1};  // -1: not chosen yet

bool compiled(Isa isa) {
    switch (isa) {
        case Isa::avx512: return MINIGAN_HAVE_ISA_AVX512 != 0;
        case Isa::avx2: return MINIGAN_HAVE_ISA_AVX2 != 0;
        case Isa::generic: return true;
    }
    return false;
}

// What the CPU reports (x86: CPUID through GCC's __builtin_cpu_supports).
bool cpu_runs(Isa isa) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    switch (isa) {
        case Isa::avx512: return cpu_has_avx512();
        case Isa::avx2:
            return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        case Isa::generic: return true;
    }
    return false;
#else
    return isa == Isa::generic;
#endif
}

Isa best() {
    for (Isa isa : isa_compiled())
        if (isa_supported(isa)) return isa;
    return Isa::generic;
}

std::string runnable() {
    std::string out;
    for (Isa isa : isa_compiled())
        if (isa_supported(isa)) out += std::string(out.empty() ? "" : ", ") + isa_name(isa);
    return out;
}

}  // namespace

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::avx512: return "avx512";
        case Isa::avx2: return "avx2";
        case Isa::generic: return "generic";
    }
    return "?";
}

std::vector<Isa> isa_compiled() {
    std::vector<Isa> out;
    for (Isa isa : {Isa::avx512, Isa::avx2, Isa::generic})
        if (compiled(isa)) out.push_back(isa);
    return out;
}

bool isa_supported(Isa isa) { return compiled(isa) && cpu_runs(isa); }

Isa isa_parse(const std::string& name) {
    for (Isa isa : {Isa::avx512, Isa::avx2, Isa::generic})
        if (name == isa_name(isa)) return isa;
    throw std::invalid_argument("isa: expected 'avx512', 'avx2' or 'generic', got '" + name + "'");
}

Isa isa_active() {
    int a = active.load(std::memory_order_relaxed);
    if (a < 0) {
        a = int(best());
        active.store(a, std::memory_order_relaxed);
    }
    return Isa(a);
}

void isa_set(Isa isa) {
    if (!compiled(isa))
        throw std::runtime_error(std::string("isa '") + isa_name(isa) +
                                 "': this build of minigan._C does not contain that variant "
                                 "(available here: " + runnable() + ")");
    if (!cpu_runs(isa))
        throw std::runtime_error(std::string("isa '") + isa_name(isa) +
                                 "': this CPU does not report the instructions it needs "
                                 "(available here: " + runnable() + ")");
    active.store(int(isa), std::memory_order_relaxed);
}

void isa_init_from_env() {
    const char* env = std::getenv("MINIGAN_ISA");
    if (env == nullptr || *env == '\0') return;
    try {
        isa_set(isa_parse(env));
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string("MINIGAN_ISA=") + env + ": " + e.what());
    }
}

// The active variant's table of one family: every dispatched family follows MINIGAN_ISA/set_isa.
#if MINIGAN_HAVE_ISA_AVX512
#define MG_CASE_AVX512(table) case Isa::avx512: return isa_avx512::table;
#else
#define MG_CASE_AVX512(table)
#endif
#if MINIGAN_HAVE_ISA_AVX2
#define MG_CASE_AVX2(table) case Isa::avx2: return isa_avx2::table;
#else
#define MG_CASE_AVX2(table)
#endif
#define MG_PICK(table)                                 \
    switch (isa_active()) {                            \
        MG_CASE_AVX512(table)                          \
        MG_CASE_AVX2(table)                            \
        default: return isa_generic::table;            \
    }

const ConvDirect& conv_direct() { MG_PICK(conv_direct_table) }
const GanLossKernels& gan_loss_kernels() { MG_PICK(gan_loss_table) }
const OptimKernels& optim_kernels() { MG_PICK(optim_table) }
const BiasActKernels& bias_act_kernels() { MG_PICK(bias_act_table) }
const BatchNormKernels& batch_norm_kernels() { MG_PICK(batch_norm_table) }
const SpectralNormKernels& spectral_norm_kernels() { MG_PICK(spectral_norm_table) }

}  // namespace minigan::cpu
