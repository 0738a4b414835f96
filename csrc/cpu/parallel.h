// The CPU thread count every OpenMP region in _C uses.
//
// Why our own counter rather than omp_set_num_threads alone: omp_set_num_threads changes the
// calling thread's ICV only, and Python may call the kernels from any thread. Passing
// num_threads(minigan::cpu::num_threads()) to each parallel region makes the setting global.
#pragma once

#include <atomic>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace minigan::cpu {

inline std::atomic<int>& thread_count() {
#ifdef _OPENMP
    static std::atomic<int> n{omp_get_max_threads()};  // honours OMP_NUM_THREADS
#else
    static std::atomic<int> n{1};
#endif
    return n;
}

inline int num_threads() { return thread_count().load(std::memory_order_relaxed); }

inline void set_num_threads(int n) {
    thread_count().store(n, std::memory_order_relaxed);
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
}

// Below this many elements a parallel region costs more to start than it saves.
constexpr long long kParallelGrain = 1 << 15;

}  // namespace minigan::cpu
