// The checks LoadedBundle runs on metadata that has passed flatbuffers::Verifier (so every table
// and vector can be read), split by what they cover. Internal to rptq_bundle.
// Each throws rptq::Error naming the file and the offending object.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bundle/printable.h"
#include "schema/bundle_generated.h"

namespace rptq::bundle {

class MetaCheck {
 public:
  MetaCheck(const std::string& where, const Bundle& bundle, const uint8_t* data, uint64_t data_size)
      : where(where), bundle(bundle), data(data), data_size(data_size) {}

  [[noreturn]] void fail(const std::string& problem) const;

  // The tensor a field refers to, checked to exist with exactly this dtype and shape. -1 means
  // absent: an error when `required`, else nullptr. Needs verify_spans() to have passed.
  const Tensor* tensor(int32_t index, const std::string& what, DType dtype, const std::vector<int64_t>& shape,
                       bool required) const;

  const std::string& where;
  const Bundle& bundle;
  const uint8_t* data;  // the data segment
  uint64_t data_size;
};

// Tensors, kernel code and segments: spans inside the data segment, 64-byte aligned, covered by
// segments; tensor sizes consistent with dtype × shape.
void verify_spans(const MetaCheck& c);
// Config, tokenizer, and every tensor reference of the model: in range, dtype, shape, values of
// index tensors; the activation quantizers.
void verify_model(const MetaCheck& c);
// Memory plan and ops: buffer indices, widths and dtypes, every buffer inside the arena.
void verify_plan(const MetaCheck& c);
// XXH64 of every segment (reads the whole data segment).
void verify_segment_checksums(const MetaCheck& c);

// printable() of a bundle string that may be absent.
std::string printable(const flatbuffers::String* s);

}  // namespace rptq::bundle
