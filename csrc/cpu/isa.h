// Instruction-set variants of the vectorised CPU kernels, and the run-time choice between them.
//
// The dispatched families: conv (conv_direct.cpp), gan_loss (gan_loss.cpp), optim (adam.cpp),
// bias_act (bias_act.cpp), batch_norm (batch_norm.cpp), spectral_norm (spectral_norm.cpp).
// A kernel family with variants is written once, with GCC/Clang vector extensions (vec.h), and
// compiled once per instruction set into a namespace of its own (CMakeLists.txt: -DMG_ISA_NS=
// isa_avx512 with -mavx512f..., isa_avx2 with -mavx2 -mfma, isa_generic with the baseline flags).
// Each compilation exports one table of function pointers; isa.cpp, built for the baseline ISA,
// asks the CPU what it runs and picks one table for the whole module. MINIGAN_ISA=avx512|avx2|
// generic forces a variant (read once, when minigan._C is imported); set_isa() does the same at
// run time (tests run every variant this CPU executes against the reference this way).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "conv_gemm.h"

namespace minigan::cpu {

enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

// The direct convolution kernels of one variant (conv_direct.cpp); see conv_gemm.h for the
// semantics. panel: the output (input, for backward_data) channels one micro-tile covers; a
// channel count that is not a multiple of it wastes the rest of the last panel.
struct ConvDirect {
    const char* isa;
    int64_t panel;
    void (*forward)(const float* x, const float* w, const float* bias, float* y,
                    const ConvShape& s, int threads);
    void (*backward_weight)(const float* gy, const float* x, float* gw, float* gb,
                            const ConvShape& s, int threads);
    void (*backward_data)(const float* gy, const float* w, float* dx, const ConvShape& s,
                          int threads);
    // The row forms: vectors along output rows instead of channel panels, for layers with few
    // channels (same semantics, same arguments).
    void (*forward_rows)(const float* x, const float* w, const float* bias, float* y,
                         const ConvShape& s, int threads);
    void (*backward_weight_rows)(const float* gy, const float* x, float* gw, float* gb,
                                 const ConvShape& s, int threads);
    void (*backward_data_rows)(const float* gy, const float* w, float* dx, const ConvShape& s,
                               int threads);
};

const char* isa_name(Isa isa);
// The variants compiled into this module, best first (always ends with generic).
std::vector<Isa> isa_compiled();
// Whether this CPU executes the variant (compiled in, and the CPU reports the instructions).
bool isa_supported(Isa isa);
// Parses "avx512" | "avx2" | "generic"; throws std::invalid_argument naming the choices.
Isa isa_parse(const std::string& name);
// The variant in use; the best supported one unless forced.
Isa isa_active();
// Forces a variant; throws std::runtime_error when this CPU cannot execute it (or it was not
// compiled in), naming what can run here.
void isa_set(Isa isa);
// Reads MINIGAN_ISA (once, at import): empty or unset means the best supported variant.
void isa_init_from_env();

const ConvDirect& conv_direct();

}  // namespace minigan::cpu
