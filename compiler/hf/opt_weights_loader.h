// Turns a checkpoint's tensors into the fp32 arrays the reference executor reads.
#pragma once

#include <memory>

#include "hf/checkpoint.h"
#include "reference/opt_weights.h"

namespace rptq::hf {

// fp32 contiguous tensors are borrowed from the mapping; f16/bf16 or strided ones are converted.
// lazy_layers: decoder layers are left empty and converted on demand by OptWeights::load_layer
// (a copy of `ck` is kept for it), so a compile holds one converted layer at a time.
std::shared_ptr<OptWeights> load_opt_weights(const Checkpoint& ck, bool lazy_layers = false);

}  // namespace rptq::hf
