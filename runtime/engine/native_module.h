// A bundle's native CPU code for this host (codegen/cpu), loaded: the shared object's step table
// and, per step it runs, the weight and norm pointers its calls pass.
//
// The object is written to an anonymous memory file (memfd) and opened from there with dlopen, so
// nothing is left on disk and the code is exactly the bundle's checksummed bytes. It is refused,
// leaving the generic kernels in charge, when its ABI version, step count or fingerprint
// (engine/native_steps.h) differs from what this runtime computes for the bundle.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bundle/bundle_reader.h"
#include "kernels/native/abi.h"

namespace rptq::engine {

struct ModelBinding;

class NativeModule {
 public:
  ~NativeModule();
  NativeModule(const NativeModule&) = delete;
  NativeModule& operator=(const NativeModule&) = delete;

  // Step i of the plan, or null where the generic kernels run it.
  rptq_native_step_fn step(size_t i) const { return steps_[i]; }
  // Its call with the weights filled in; the session sets rows, in, out and scratch.
  const rptq_native_args& bound_args(size_t i) const { return args_[i]; }
  uint64_t scratch_bytes_per_row() const { return scratch_bytes_per_row_; }
  const std::string& isa() const { return isa_; }
  int steps_run_natively() const { return native_steps_; }

  // The module for `m`, or null with *why saying why the generic kernels run instead (no code for
  // this host or instruction set, an incompatible or mismatched object, a loader failure).
  static std::unique_ptr<NativeModule> load(const bundle::LoadedBundle& b, const ModelBinding& m, std::string* why);

 private:
  NativeModule() = default;

  void* handle_ = nullptr;
  std::vector<rptq_native_step_fn> steps_;
  std::vector<rptq_native_args> args_;
  uint64_t scratch_bytes_per_row_ = 0;
  std::string isa_;
  int native_steps_ = 0;
};

}  // namespace rptq::engine
