#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "bundle/bundle_format.h"
#include "bundle/bundle_reader.h"
#include "bundle/checksum.h"
#include "bundle/dtype.h"
#include "bundle/verify.h"

namespace rptq::bundle {

void MetaCheck::fail(const std::string& problem) const { throw BundleError(where, problem, /*io=*/false); }

std::string printable(const flatbuffers::String* s) { return s ? printable(s->string_view()) : std::string(); }

namespace {

std::string describe(const char* kind, size_t i, const flatbuffers::String* name) {
  return std::string(kind) + " " + std::to_string(i) + " '" + printable(name) + "'";
}

std::string range(const Span& s) { return "[" + std::to_string(s.offset()) + ", +" + std::to_string(s.size()) + ")"; }

void check_span(const MetaCheck& c, const Span& s, const std::string& what) {
  if (s.offset() > c.data_size || s.size() > c.data_size - s.offset()) {
    c.fail(what + ": bytes " + range(s) + " exceed the data segment (" + std::to_string(c.data_size) + " bytes)");
  }
  if (s.offset() % kTensorAlignment != 0) {
    c.fail(what + ": offset " + std::to_string(s.offset()) + " is not " + std::to_string(kTensorAlignment) +
           "-byte aligned");
  }
}

// The union of the segments' ranges, sorted and merged: a blob may straddle two adjacent segments.
std::vector<std::pair<uint64_t, uint64_t>> covered_ranges(const Bundle& b) {
  std::vector<std::pair<uint64_t, uint64_t>> r;
  for (const Segment* seg : *b.segments()) {
    if (seg->span()->size() > 0) r.emplace_back(seg->span()->offset(), seg->span()->offset() + seg->span()->size());
  }
  std::sort(r.begin(), r.end());
  std::vector<std::pair<uint64_t, uint64_t>> merged;
  for (const auto& x : r) {
    if (!merged.empty() && x.first <= merged.back().second) {
      merged.back().second = std::max(merged.back().second, x.second);
    } else {
      merged.push_back(x);
    }
  }
  return merged;
}

void check_covered(const MetaCheck& c, const std::vector<std::pair<uint64_t, uint64_t>>& covered, const Span& s,
                   const std::string& what) {
  if (s.size() == 0) return;
  // The last merged range starting at or before s.offset() is the only one that can hold it.
  auto it = std::upper_bound(covered.begin(), covered.end(), std::make_pair(s.offset(), UINT64_MAX));
  if (it == covered.begin() || std::prev(it)->second < s.offset() + s.size()) {
    c.fail(what + ": bytes " + range(s) + " are not covered by a checksummed segment");
  }
}

}  // namespace

void verify_spans(const MetaCheck& c) {
  const Bundle& b = c.bundle;
  for (size_t i = 0; i < b.segments()->size(); ++i) {
    const Segment* seg = b.segments()->Get(i);
    check_span(c, *seg->span(), describe("segment", i, seg->name()));
  }
  const auto covered = covered_ranges(b);

  for (size_t i = 0; i < b.tensors()->size(); ++i) {
    const Tensor* t = b.tensors()->Get(i);
    const std::string what = describe("tensor", i, t->name());
    if (!dtype_known(t->dtype())) c.fail(what + ": unknown dtype " + dtype_name(t->dtype()));
    check_span(c, *t->data(), what);
    check_covered(c, covered, *t->data(), what);
    const auto* shape = t->shape();
    // flatbuffers 2.0 verifies a vector's length field but not the alignment of 8-byte elements;
    // reading a misaligned [long] is undefined behaviour. (The metadata itself is 8-aligned.)
    if (reinterpret_cast<uintptr_t>(shape->data()) % alignof(int64_t) != 0)
      c.fail(what + ": shape vector is misaligned");
    const auto bytes = tensor_byte_size(t->dtype(), shape->data(), shape->size());
    if (!bytes) {
      c.fail(what + ": invalid shape " + shape_string(shape->data(), shape->size()) + " for dtype " +
             dtype_name(t->dtype()));
    }
    if (*bytes != t->data()->size()) {
      c.fail(what + ": holds " + std::to_string(t->data()->size()) + " bytes but dtype " + dtype_name(t->dtype()) +
             " x shape " + shape_string(shape->data(), shape->size()) + " needs " + std::to_string(*bytes));
    }
  }

  if (b.kernels()) {
    for (size_t i = 0; i < b.kernels()->size(); ++i) {
      const KernelSection* k = b.kernels()->Get(i);
      const std::string what = "kernel section " + std::to_string(i);
      if (k->target() < Target::MIN || k->target() > Target::MAX) {
        c.fail(what + ": unknown target " + std::to_string(static_cast<unsigned>(k->target())));
      }
      check_span(c, *k->code(), what);
      check_covered(c, covered, *k->code(), what);
    }
  }
}

void verify_segment_checksums(const MetaCheck& c) {
  for (const Segment* seg : *c.bundle.segments()) {
    const Span& s = *seg->span();
    if (xxh64(c.data + s.offset(), s.size()) != seg->xxh64()) {
      c.fail("segment '" + printable(seg->name()) + "' checksum mismatch: data bytes " + range(s) + " are corrupt");
    }
  }
}

}  // namespace rptq::bundle
