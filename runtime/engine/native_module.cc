#include "engine/native_module.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "bundle/checksum.h"
#include "engine/model_binding.h"
#include "engine/native_steps.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/packed_weights.h"
#include "kernels/cpu/spans.h"
#include "kernels/cpu/thread_pool.h"

namespace rptq::engine {
namespace {

using bundle::KernelSection;
using bundle::Target;

#if defined(__x86_64__)
constexpr Target kHostTarget = Target::CpuX86_64;
#elif defined(__aarch64__)
constexpr Target kHostTarget = Target::CpuAarch64;
#endif

bool write_all(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// dlopen of the bytes: from a memfd, or (where memfd_create is unavailable) from an unlinked
// temporary file.
void* open_object(const uint8_t* code, size_t size, std::string* why) {
  int fd = ::memfd_create("rptq-native-kernels", MFD_CLOEXEC);
  std::string tmp;
  if (fd < 0) {
    const char* dir = std::getenv("TMPDIR");
    tmp = std::string(dir && *dir ? dir : "/tmp") + "/rptq-native-XXXXXX";
    fd = ::mkstemp(tmp.data());
    if (fd < 0) {
      *why = "cannot create a file for the native code";
      return nullptr;
    }
  }
  void* handle = nullptr;
  if (write_all(fd, code, size)) {
    const std::string path = tmp.empty() ? "/proc/self/fd/" + std::to_string(fd) : tmp;
    handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char* e = ::dlerror();
      *why = std::string("dlopen failed: ") + (e ? e : "unknown error");
    }
  } else {
    *why = "cannot write the native code to memory";
  }
  ::close(fd);
  if (!tmp.empty()) ::unlink(tmp.c_str());
  return handle;
}

// The best section for this host, or null.
const KernelSection* pick_section(const bundle::LoadedBundle& b, std::string* why) {
#if defined(__x86_64__) || defined(__aarch64__)
  // Usable: an instruction set at or below the one the generic kernels run with (the machine's
  // best, lowered by RPTQ_CPU_ISA).
  const int limit = cpu::isa_level(cpu::active_isa());
  const KernelSection* best = nullptr;
  bool any_for_host = false;
  std::string isas;
  if (b.meta().kernels())
    for (const KernelSection* k : *b.meta().kernels()) {
      if (k->target() != kHostTarget || k->format()->str() != "elf-shared-object") continue;
      any_for_host = true;
      isas += (isas.empty() ? "" : ", ") + (k->isa() ? k->isa()->str() : std::string("?")) + " (ABI " +
              std::to_string(k->abi_version()) + ")";
      const int rank = cpu::isa_level(k->isa() ? k->isa()->c_str() : nullptr);
      if (k->abi_version() == RPTQ_NATIVE_ABI_VERSION && rank >= 0 && rank <= limit &&
          (!best || rank > cpu::isa_level(best->isa()->c_str())))
        best = k;
    }
  if (!best)
    *why = any_for_host ? "the bundle's native code is for " + isas + "; this runtime has ABI " +
                              std::to_string(RPTQ_NATIVE_ABI_VERSION) + " and runs " + cpu::active_isa()
                        : "the bundle has no native code for this host";
  return best;
#else
  (void)b;
  *why = "no native code is loaded on this architecture";
  return nullptr;
#endif
}

// The runtime's pool as native code reaches it (abi.h).
void native_parallel_for(int64_t n, rptq_native_range_fn body, void* ctx, int on) {
  cpu::parallel_for(n, [&](int64_t begin, int64_t end) { body(ctx, begin, end); }, on != 0);
}

bool checksum_ok(const bundle::LoadedBundle& b, const bundle::Span& code) {
  for (const bundle::Segment* s : *b.meta().segments())
    if (s->span()->offset() == code.offset() && s->span()->size() == code.size()) {
      const bundle::ByteView v = b.span(code);
      return bundle::xxh64(v.data, v.size) == s->xxh64();
    }
  return false;
}

}  // namespace

NativeModule::~NativeModule() {
  if (handle_) ::dlclose(handle_);
}

std::unique_ptr<NativeModule> NativeModule::load(const bundle::LoadedBundle& b, const ModelBinding& m,
                                                 std::string* why) {
  const KernelSection* k = pick_section(b, why);
  if (!k) return nullptr;
  // Hashed even when the caller skipped segment checksums: this is code about to run.
  if (!checksum_ok(b, *k->code())) {
    *why = "the native code's checksum does not match";
    return nullptr;
  }
  const bundle::ByteView code = b.span(*k->code());
  std::unique_ptr<NativeModule> mod(new NativeModule());
  mod->handle_ = open_object(code.data, code.size, why);
  if (!mod->handle_) return nullptr;
  auto entry = reinterpret_cast<rptq_native_entry_fn>(::dlsym(mod->handle_, RPTQ_NATIVE_ENTRY_POINT));
  const rptq_native_module* table = entry ? entry() : nullptr;
  const std::vector<NativeStep> steps = native_steps(m);
  if (!table || table->abi_version != RPTQ_NATIVE_ABI_VERSION) {
    *why = "the native code does not export a module of this runtime's ABI";
    return nullptr;
  }
  if (table->num_steps != static_cast<int32_t>(steps.size()) || table->fingerprint != native_fingerprint(steps)) {
    *why = "the native code was generated for other quantizers or another plan than the bundle's";
    return nullptr;
  }
  mod->isa_ = table->isa ? table->isa : "";
  mod->steps_.assign(table->steps, table->steps + table->num_steps);
  mod->args_.resize(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    const NativeStep& s = steps[i];
    if (s.op == NativeOp::Generic) {
      mod->steps_[i] = nullptr;  // the generator's null, or a step this runtime keeps for itself
      continue;
    }
    if (!mod->steps_[i]) continue;
    rptq_native_args& a = mod->args_[i];
    a.parallel_for = native_parallel_for;
    const PlanStep& p = m.plan[i];
    const LayerBinding& L = m.layers[static_cast<size_t>(p.layer)];
    if (s.op == NativeOp::Attention) {
      // Nothing of the model's: the session passes its cache.
    } else if (s.op == NativeOp::NormQuant) {
      const NormBinding& nb = p.norm == 0 ? L.attn_norm : L.ffn_norm;
      a.gamma = nb.gamma;
      a.beta = nb.beta;
      a.write_index = nb.write_index;
    } else {
      const cpu::LinearParams& w = L.linear[static_cast<size_t>(p.linear)];
      const cpu::PackedWeights* packed = cpu::detail::usable_packing(w);
      // The object reads Σ w' per span from the packing: it must be for this input quantizer.
      if (!packed ||
          packed->span_end != cpu::detail::make_span_table(s.input, s.in, s.group_size).end) {
        mod->steps_[i] = nullptr;
        continue;
      }
      a.tiles = packed->codes.data();
      a.w_scale = packed->sw.data();
      a.w_zero = packed->zw.data();
      a.w_sums = packed->wsum.data();
      a.bias = w.bias;
    }
    mod->scratch_bytes_per_row_ = std::max(mod->scratch_bytes_per_row_, native_scratch(s).bytes_per_row());
    ++mod->native_steps_;
  }
  return mod;
}

}  // namespace rptq::engine
