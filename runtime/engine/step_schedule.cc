#include "engine/step_schedule.h"

#include <algorithm>

#include "bundle/dtype.h"
#include "rptq/error.h"

namespace rptq::engine {

namespace {

struct Range {
  uint64_t begin, end;
  bool overlaps(const Range& o) const { return begin < o.end && o.begin < end; }
};

Range extent(const std::vector<ArenaBuffer>& buffers, int64_t max_tokens, int index) {
  if (index < 0 || static_cast<size_t>(index) >= buffers.size()) fail("step schedule", "a plan operand is not a buffer");
  const ArenaBuffer& b = buffers[static_cast<size_t>(index)];
  const uint64_t row = bundle::row_byte_size(b.dtype, b.row_elems).value_or(0);
  return {b.offset, b.offset + row * static_cast<uint64_t>(max_tokens)};
}

struct Access {
  std::vector<Range> reads, writes;
};

Access access(const std::vector<PlanStep>& plan, const std::vector<ArenaBuffer>& buffers, int64_t max_tokens,
              size_t i) {
  const PlanStep& s = plan[i];
  Access a;
  for (int b : s.inputs) a.reads.push_back(extent(buffers, max_tokens, b));
  for (int b : s.outputs) a.writes.push_back(extent(buffers, max_tokens, b));
  if (s.kind == bundle::OpKind::Linear && (s.flags & static_cast<uint32_t>(bundle::OpFlags::Accumulate)))
    a.reads.insert(a.reads.end(), a.writes.begin(), a.writes.end());
  return a;
}

bool any_overlap(const std::vector<Range>& a, const std::vector<Range>& b) {
  for (const Range& x : a)
    for (const Range& y : b)
      if (x.overlaps(y)) return true;
  return false;
}

bool conflict(const Access& a, const Access& b) {
  return any_overlap(a.writes, b.reads) || any_overlap(a.writes, b.writes) || any_overlap(a.reads, b.writes);
}

// Sets of steps, one bit per step.
class StepSet {
 public:
  explicit StepSet(size_t n = 0) : words_((n + 63) / 64) {}
  bool has(size_t i) const { return (words_[i / 64] >> (i % 64)) & 1; }
  void add(size_t i) { words_[i / 64] |= uint64_t{1} << (i % 64); }
  void merge(const StepSet& o) {
    for (size_t w = 0; w < words_.size(); ++w) words_[w] |= o.words_[w];
  }

 private:
  std::vector<uint64_t> words_;
};

}  // namespace

bool steps_conflict(const std::vector<PlanStep>& plan, const std::vector<ArenaBuffer>& buffers, int64_t max_tokens,
                    size_t i, size_t j) {
  return conflict(access(plan, buffers, max_tokens, i), access(plan, buffers, max_tokens, j));
}

StepSchedule schedule_steps(const std::vector<PlanStep>& plan, const std::vector<ArenaBuffer>& buffers,
                            int64_t max_tokens, int max_lanes) {
  const size_t n = plan.size();
  std::vector<Access> acc;
  for (size_t i = 0; i < n; ++i) acc.push_back(access(plan, buffers, max_tokens, i));
  StepSchedule out;
  out.lanes = 0;
  out.steps.resize(n);
  out.signals.assign(n, false);
  // before[j]: the steps that finish before j starts in the schedule (plan order plus lane order).
  std::vector<StepSet> before(n, StepSet(n));
  std::vector<int> tail;  // per lane: its last step so far
  auto precedes = [&](int i, int j) { return i == j || before[static_cast<size_t>(j)].has(static_cast<size_t>(i)); };
  for (size_t j = 0; j < n; ++j) {
    std::vector<int> deps;
    for (size_t i = 0; i < j; ++i)
      if (conflict(acc[i], acc[j])) deps.push_back(static_cast<int>(i));
    // Those that no other dependency already waits for.
    std::vector<int> direct;
    for (int d : deps)
      if (std::none_of(deps.begin(), deps.end(), [&](int e) { return e != d && precedes(d, e); }))
        direct.push_back(d);
    StepSet& b = before[j];
    for (int d : direct) {
      b.add(static_cast<size_t>(d));
      b.merge(before[static_cast<size_t>(d)]);
    }
    int lane = -1;
    for (auto d = direct.rbegin(); d != direct.rend() && lane < 0; ++d) {
      const int l = out.steps[static_cast<size_t>(*d)].lane;
      if (tail[static_cast<size_t>(l)] == *d) lane = l;
    }
    for (size_t l = 0; l < tail.size() && lane < 0; ++l)
      if (b.has(static_cast<size_t>(tail[l]))) lane = static_cast<int>(l);
    if (lane < 0 && static_cast<int>(tail.size()) < std::max(max_lanes, 1)) {
      lane = static_cast<int>(tail.size());
      tail.push_back(-1);
    }
    if (lane < 0) lane = direct.empty() ? 0 : out.steps[static_cast<size_t>(direct.back())].lane;
    const int prev = tail[static_cast<size_t>(lane)];
    for (int d : direct)
      if (out.steps[static_cast<size_t>(d)].lane != lane && !(prev >= 0 && precedes(d, prev))) {
        out.steps[j].waits.push_back(d);
        out.signals[static_cast<size_t>(d)] = true;
      }
    if (prev >= 0) {
      b.add(static_cast<size_t>(prev));
      b.merge(before[static_cast<size_t>(prev)]);
    }
    out.steps[j].lane = lane;
    tail[static_cast<size_t>(lane)] = static_cast<int>(j);
  }
  out.lanes = std::max<int>(1, static_cast<int>(tail.size()));
  return out;
}

}  // namespace rptq::engine
