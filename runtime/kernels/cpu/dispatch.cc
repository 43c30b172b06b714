// Picks the micro-kernels once per process: the best level the CPU reports (cpuid on x86-64, the
// kernel's HWCAP bits on aarch64), lowered (never raised) by RPTQ_CPU_ISA, and switchable by
// force_isa() for tests and benchmarks.
#include <atomic>
#include <cstdlib>
#include <cstring>

#if RPTQ_KERNELS_AARCH64 && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)  // <asm/hwcap.h>: the SDOT/UDOT instructions
#endif
#endif

#include "kernels/cpu/isa.h"
#include "kernels/cpu/kernels.h"

namespace rptq::cpu {
namespace detail {
namespace {

// Levels in increasing order; each includes everything below it.
const IsaKernels* const kLevels[] = {
    &kScalarKernels,
#if RPTQ_KERNELS_X86
    &kAvx2Kernels,
    &kAvx512VnniKernels,
#endif
#if RPTQ_KERNELS_AARCH64
    &kNeonDotprodKernels,
#endif
};
constexpr int kNumLevels = sizeof(kLevels) / sizeof(kLevels[0]);

int machine_level() {
#if RPTQ_KERNELS_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vnni"))
    return 2;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
#if RPTQ_KERNELS_AARCH64 && defined(__linux__)
  if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) return 1;
#endif
  return 0;
}

int level_of(const char* name) {
  for (int i = 0; i < kNumLevels; ++i)
    if (name && std::strcmp(name, kLevels[i]->name) == 0) return i;
  return -1;
}

// The machine's level, computed once (thread-safe static initialization).
int max_level() {
  static const int level = machine_level();
  return level;
}

int initial_level() {
  const int env = level_of(std::getenv("RPTQ_CPU_ISA"));
  return env >= 0 && env < max_level() ? env : max_level();
}

std::atomic<const IsaKernels*>& active() {
  static std::atomic<const IsaKernels*> kernels{kLevels[initial_level()]};
  return kernels;
}

}  // namespace

const IsaKernels& isa_kernels() { return *active().load(std::memory_order_relaxed); }

}  // namespace detail

const char* active_isa() { return detail::isa_kernels().name; }

int isa_level(const char* isa) { return detail::level_of(isa); }

bool force_isa(const char* isa) {
  const int level = detail::level_of(isa);
  if (level < 0 || level > detail::max_level()) return false;
  detail::active().store(detail::kLevels[level], std::memory_order_relaxed);
  return true;
}

}  // namespace rptq::cpu
