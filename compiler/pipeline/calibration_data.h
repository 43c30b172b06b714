// The calibration set: `samples` windows of `seqlen` tokens, drawn at random (fixed seed) from a
// text, a token-id file or uniformly random ids, as GPTQ and RPTQ draw theirs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/bpe_tokenizer.h"

namespace rptq::pipeline {

struct CalibrationSource {
  enum class Kind { kText, kTokenIds, kRandom };
  Kind kind = Kind::kText;
  std::string path;       // UTF-8 text, or whitespace-separated decimal token ids
  int64_t samples = 128;
  int64_t seqlen = 0;     // 0: 512 tokens, or the model's context if shorter
  uint64_t seed = 0;
};

using CalibrationSet = std::vector<std::vector<int32_t>>;

// Throws rptq::Error naming the file: unreadable, empty, not UTF-8, ids outside the vocabulary,
// fewer tokens than one sample; and for sample counts/lengths that are not positive or exceed
// the model's context.
CalibrationSet load_calibration(CalibrationSource source, const BpeTokenizer& tokenizer, int64_t vocab_size,
                                int64_t max_positions);

}  // namespace rptq::pipeline
