// The plan's schedule on streams (engine/step_schedule.h): every pair of steps that touch common
// arena bytes (one writing) is ordered by it, and steps that do not, such as Q, K and V, run on
// different lanes. The CUDA backend's use of it (events, capture) is tested end to end through the
// fake driver, which runs work in the latest-first order the waits allow (cuda.emulated).
#include <catch2/catch.hpp>

#include <vector>

#include "bundle/bundle_reader.h"
#include "bundle_fixture.h"
#include "engine/model_binding.h"
#include "engine/step_schedule.h"
#include "test_util.h"

using rptq::bundle::DType;
using rptq::bundle::OpFlags;
using rptq::bundle::OpKind;
using rptq::engine::ArenaBuffer;
using rptq::engine::PlanStep;
using rptq::engine::schedule_steps;
using rptq::engine::StepSchedule;
using rptq::engine::steps_conflict;

namespace {

struct Plan {
  std::vector<ArenaBuffer> buffers;
  std::vector<PlanStep> steps;
  int64_t max_tokens = 4;

  int buffer(DType t, int64_t width, uint64_t offset) {
    buffers.push_back({t, width, offset});
    return static_cast<int>(buffers.size()) - 1;
  }
  size_t step(OpKind kind, std::vector<int> in, std::vector<int> out, uint32_t flags = 0) {
    PlanStep s;
    s.kind = kind;
    s.inputs = std::move(in);
    s.outputs = std::move(out);
    s.flags = flags;
    steps.push_back(s);
    return steps.size() - 1;
  }
};

// Whether the schedule runs step i before step j starts: i precedes j on j's lane, or j (or a step
// before it on its lane) waits for i or for a step after i on i's lane, and so on.
bool ordered(const StepSchedule& s, size_t i, size_t j) {
  std::vector<bool> reached(s.steps.size(), false);
  std::vector<size_t> todo{j};
  while (!todo.empty()) {
    const size_t k = todo.back();
    todo.pop_back();
    for (size_t p = 0; p < k; ++p) {
      const bool lane_before = s.steps[p].lane == s.steps[k].lane;
      bool waited = false;
      for (int w : s.steps[k].waits) waited = waited || static_cast<size_t>(w) == p;
      if ((lane_before || waited) && !reached[p]) {
        reached[p] = true;
        todo.push_back(p);
      }
    }
  }
  return reached[i];
}

void check_orders_every_conflict(const std::vector<PlanStep>& plan, const std::vector<ArenaBuffer>& buffers,
                                 int64_t max_tokens, const StepSchedule& s) {
  REQUIRE(s.steps.size() == plan.size());
  for (size_t j = 0; j < plan.size(); ++j) {
    CHECK(s.steps[j].lane >= 0);
    CHECK(s.steps[j].lane < s.lanes);
    for (int w : s.steps[j].waits) {
      CHECK(s.signals[static_cast<size_t>(w)]);
      CHECK(s.steps[static_cast<size_t>(w)].lane != s.steps[j].lane);
    }
    for (size_t i = 0; i < j; ++i)
      if (steps_conflict(plan, buffers, max_tokens, i, j)) {
        INFO("step " << j << " after step " << i);
        CHECK(ordered(s, i, j));
      }
  }
}

// One pre-LN decoder layer as the compiler plans it, without reuse of arena bytes.
struct Layer : Plan {
  size_t norm, q, k, v, attn, out_proj, fc2;
  Layer() {
    const int residual = buffer(DType::F32, 8, 0), x = buffer(DType::U8, 8, 128), qb = buffer(DType::F32, 8, 256),
              kb = buffer(DType::F32, 8, 384), vb = buffer(DType::F32, 8, 512), ab = buffer(DType::U8, 8, 640),
              hb = buffer(DType::U8, 16, 768);
    norm = step(OpKind::NormQuant, {residual}, {x});
    q = step(OpKind::Linear, {x}, {qb});
    k = step(OpKind::Linear, {x}, {kb});
    v = step(OpKind::Linear, {x}, {vb});
    attn = step(OpKind::Attention, {qb, kb, vb}, {ab});
    out_proj = step(OpKind::Linear, {ab}, {residual}, static_cast<uint32_t>(OpFlags::Accumulate));
    step(OpKind::NormQuant, {residual}, {x});
    step(OpKind::Linear, {x}, {hb});
    fc2 = step(OpKind::Linear, {hb}, {residual}, static_cast<uint32_t>(OpFlags::Accumulate));
  }
};

}  // namespace

TEST_CASE("Q, K and V run on three lanes; attention waits for the two it does not follow", "[schedule]") {
  const Layer p;
  const StepSchedule s = schedule_steps(p.steps, p.buffers, p.max_tokens, 3);
  check_orders_every_conflict(p.steps, p.buffers, p.max_tokens, s);
  CHECK(s.lanes == 3);
  CHECK(s.steps[p.q].lane != s.steps[p.k].lane);
  CHECK(s.steps[p.k].lane != s.steps[p.v].lane);
  CHECK(s.steps[p.q].lane != s.steps[p.v].lane);
  CHECK(s.steps[p.attn].waits.size() == 2);
  CHECK_FALSE(ordered(s, p.q, p.k));
  CHECK_FALSE(ordered(s, p.k, p.v));
  // The residual adds stay in plan order behind everything that reads the residual.
  CHECK(ordered(s, p.norm, p.out_proj));
  CHECK(ordered(s, p.out_proj, p.fc2));
}

TEST_CASE("one lane runs the plan in order without waits", "[schedule]") {
  const Layer p;
  const StepSchedule s = schedule_steps(p.steps, p.buffers, p.max_tokens, 1);
  CHECK(s.lanes == 1);
  for (const StepSchedule::Step& step : s.steps) {
    CHECK(step.lane == 0);
    CHECK(step.waits.empty());
  }
}

TEST_CASE("two lanes still order every conflict", "[schedule]") {
  const Layer p;
  const StepSchedule s = schedule_steps(p.steps, p.buffers, p.max_tokens, 2);
  CHECK(s.lanes == 2);
  check_orders_every_conflict(p.steps, p.buffers, p.max_tokens, s);
}

TEST_CASE("reused arena bytes order a write after the reads of the buffer that held them", "[schedule]") {
  Plan p;
  const int in = p.buffer(DType::F32, 8, 0);
  const int a = p.buffer(DType::F32, 8, 128), b = p.buffer(DType::F32, 8, 256);
  // c reuses the first half of a's bytes (a is dead after its readers): 4 rows x 4 floats = 64 bytes.
  const int c = p.buffer(DType::F32, 4, 128);
  const int d = p.buffer(DType::F32, 8, 512), e = p.buffer(DType::F32, 8, 640);
  const size_t make_a = p.step(OpKind::Linear, {in}, {a});
  const size_t make_b = p.step(OpKind::Linear, {in}, {b});
  const size_t read_a = p.step(OpKind::Linear, {a}, {d});
  const size_t write_c = p.step(OpKind::Linear, {b}, {c});  // depends on b only through the bytes
  const size_t read_c = p.step(OpKind::Linear, {c}, {e});
  CHECK(steps_conflict(p.steps, p.buffers, p.max_tokens, read_a, write_c));
  CHECK_FALSE(steps_conflict(p.steps, p.buffers, p.max_tokens, make_a, make_b));
  CHECK_FALSE(steps_conflict(p.steps, p.buffers, p.max_tokens, read_a, make_b));
  const StepSchedule s = schedule_steps(p.steps, p.buffers, p.max_tokens, 3);
  check_orders_every_conflict(p.steps, p.buffers, p.max_tokens, s);
  CHECK(ordered(s, read_a, write_c));
  CHECK(ordered(s, make_a, write_c));  // write after write
  CHECK(ordered(s, write_c, read_c));
  CHECK_FALSE(ordered(s, make_a, make_b));
}

TEST_CASE("a compiled bundle's plan: every conflict ordered, projections on several lanes", "[schedule]") {
  rptq::test::TempDir dir;
  rptq::test::write_toy_bundle(dir.file("toy.rptq"));
  const auto bundle = rptq::bundle::LoadedBundle::open(dir.file("toy.rptq"));
  const rptq::engine::ModelBinding m = rptq::engine::bind_model(*bundle, false, false);
  const StepSchedule s = schedule_steps(m.plan, m.buffers, m.max_tokens, 3);
  check_orders_every_conflict(m.plan, m.buffers, m.max_tokens, s);
  CHECK(s.lanes > 1);
}
