// libFuzzer target for the bundle reader: LoadedBundle::from_memory on arbitrary bytes, then
// everything rptq-inspect and the runtime read from a bundle that verified. The only acceptable
// outcomes are success and rptq::Error; anything else (a crash, a sanitizer report, another
// exception type escaping) is a bug in the reader.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "bundle/bundle_reader.h"
#include "bundle_edit.h"
#include "rptq/error.h"
#include "tools/bundle_summary.h"

namespace {

using namespace rptq::bundle;

volatile uint64_t g_sink;  // keeps the reads below from being optimized away

void walk(const LoadedBundle& b) {
  const nlohmann::json summary = summarize_bundle(b, /*list_tensors=*/true);
  g_sink = summary_text(summary).size() + summary_json(summary).size();

  // What the runtime touches: every tensor's bytes, typed, kernel code, and the ops' model objects.
  uint64_t sum = 0;
  const Bundle& meta = b.meta();
  for (uint32_t i = 0; i < meta.tensors()->size(); ++i) {
    const ByteView v = b.tensor_bytes(static_cast<int32_t>(i));
    if (v.size > 0) sum += v.data[0] + v.data[v.size - 1];
    if (meta.tensors()->Get(i)->dtype() == DType::F32 && v.size >= 4) {
      sum += static_cast<uint64_t>(b.tensor_data<float>(static_cast<int32_t>(i))[v.size / 4 - 1] != 0.0f);
    }
  }
  if (meta.kernels()) {
    for (const KernelSection* k : *meta.kernels()) {
      const ByteView code = b.span(*k->code());
      if (code.size > 0) sum += code.data[code.size - 1];
      sum += b.kernel_section(k->target()) != nullptr;
    }
  }
  const Model& model = *meta.model();
  for (const Op* op : *meta.plan()) {
    sum += find_linear(model, op->layer(), op->linear()) != nullptr;
    sum += find_norm(model, op->layer(), op->norm()) != nullptr;
    sum += find_act(model, op->layer(), op->act()) != nullptr;
  }
  g_sink = sum;
}

void load_and_walk(const uint8_t* data, size_t size, bool check_segment_checksums) {
  try {
    walk(*LoadedBundle::from_memory(data, size, "<fuzz>", check_segment_checksums));
  } catch (const rptq::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  load_and_walk(data, size, true);
  // A random edit almost never keeps the checksums right; with them recomputed (and the segment
  // hashes skipped) the same edit reaches the flatbuffer verifier and every structural check.
  std::vector<uint8_t> copy(data, data + size);
  rptq::test::reseal(copy.data(), copy.size());
  load_and_walk(copy.data(), copy.size(), false);
  return 0;
}
