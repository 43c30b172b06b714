// Which steps of an execution plan may run at the same time, and on which of a few streams
// ("lanes") a backend runs each so that they do. OPT's Q, K and V projections read one input and
// write three buffers: on a GPU they need not queue behind each other (three kernel tails and
// launch gaps per layer become one), and a captured graph gets them as parallel branches.
//
// Dependencies come from the memory plan alone: step j depends on an earlier step i when one
// writes arena bytes the other reads or writes (reads after writes, and also writes after reads
// or writes, since the static plan reuses bytes of buffers whose lifetimes do not overlap). Every
// other resource is touched by one step per call (a layer's KV cache by its attention step, the
// logits by the LM head) or before any step (token ids, position) and after all (logits copy),
// which the backend orders by starting every lane after its input copies and joining every lane
// before its output copy.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model_binding.h"

namespace rptq::engine {

struct StepSchedule {
  struct Step {
    int lane = 0;
    // Earlier steps on other lanes that this step must wait for (after their last kernel; the
    // steps earlier on its own lane are ordered by the lane itself). Only the waits that nothing
    // else already implies.
    std::vector<int> waits;
  };
  int lanes = 1;            // lanes used, <= the maximum asked for
  std::vector<Step> steps;  // per plan step
  std::vector<bool> signals;  // per step: some step waits for it (the backend records an event after it)
};

// Whether plan step j (> i) must run after step i: they touch overlapping arena bytes and at least
// one of them writes them (a Linear step with the Accumulate flag reads its output too).
bool steps_conflict(const std::vector<PlanStep>& plan, const std::vector<ArenaBuffer>& buffers, int64_t max_tokens,
                    size_t i, size_t j);

// A schedule on at most max_lanes lanes (>= 1; 1 gives one lane and no waits): each step goes on
// the lane of its latest dependency when it is that lane's last step, else on a lane whose last
// step it depends on anyway (or an unused one), so that lanes add no ordering the plan does not
// need while a free lane exists.
StepSchedule schedule_steps(const std::vector<PlanStep>& plan, const std::vector<ArenaBuffer>& buffers,
                            int64_t max_tokens, int max_lanes);

}  // namespace rptq::engine
