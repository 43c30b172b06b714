// A byte image of a step list, field by field (no padding bytes), whose hash is the fingerprint a
// bundle's generated code carries (native_steps.h, device_steps.h): the generator and the runtime
// build it from the same ModelBinding, so any disagreement about a step changes the hash.
#pragma once

#include <cstdint>
#include <vector>

#include "bundle/checksum.h"
#include "kernels/cpu/kernels.h"

namespace rptq::engine {

class StepImage {
 public:
  template <class T>
  void put(const T& v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes_.insert(bytes_.end(), p, p + sizeof v);
  }
  void put(bool b) { put(static_cast<uint8_t>(b)); }
  void put(const cpu::ActQuantParams& q) {
    put(q.bits);
    if (!q.enabled()) return;
    put(q.num_clusters);
    for (int32_t c = 0; c < q.num_clusters; ++c) {
      put(q.cluster_end[c]);
      put(q.scale[c]);
      put(q.zero[c]);
    }
  }
  uint64_t hash() const { return bundle::xxh64(bytes_.data(), bytes_.size()); }

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace rptq::engine
