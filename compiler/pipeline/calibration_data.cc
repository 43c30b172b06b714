#include "pipeline/calibration_data.h"

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include "hf/text_file.h"
#include "rptq/error.h"

namespace rptq::pipeline {
namespace {

std::vector<int32_t> read_token_ids(const std::string& path, int64_t vocab_size) {
  std::ifstream in(path);
  if (!in) fail(path, "cannot open the token-id file");
  std::vector<int32_t> ids;
  std::string word;
  while (in >> word) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size()) fail(path, "'" + word + "' (token " + std::to_string(ids.size()) + ") is not an integer id");
    if (v < 0 || v >= vocab_size)
      fail(path, "token id " + word + " is outside the vocabulary of " + std::to_string(vocab_size));
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

}  // namespace

CalibrationSet load_calibration(CalibrationSource source, const BpeTokenizer& tokenizer, int64_t vocab_size,
                                int64_t max_positions) {
  if (source.seqlen == 0) source.seqlen = std::min<int64_t>(512, max_positions);
  if (source.samples <= 0) fail("calibration", "the number of samples must be positive");
  if (source.seqlen <= 1 || source.seqlen > max_positions)
    fail("calibration", "sample length " + std::to_string(source.seqlen) + " must be in 2.." +
                            std::to_string(max_positions) + " (the model's context)");
  std::mt19937_64 rng(source.seed);
  CalibrationSet set(static_cast<size_t>(source.samples));
  if (source.kind == CalibrationSource::Kind::kRandom) {
    for (auto& s : set)
      for (int64_t i = 0; i < source.seqlen; ++i) s.push_back(static_cast<int32_t>(rng() % static_cast<uint64_t>(vocab_size)));
    return set;
  }

  std::vector<int32_t> ids;
  if (source.kind == CalibrationSource::Kind::kTokenIds) {
    ids = read_token_ids(source.path, vocab_size);
  } else {
    const std::string text = hf::read_utf8_text(source.path);
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) fail(source.path, "calibration text is empty");
    ids = tokenizer.encode(text, /*add_bos=*/false);
  }
  if (ids.empty()) fail(source.path, "calibration file is empty");
  const auto n = static_cast<int64_t>(ids.size());
  if (n < source.seqlen)
    fail(source.path, "calibration data has " + std::to_string(n) + " tokens, fewer than one sample of " +
                          std::to_string(source.seqlen));
  // Random windows of the raw token stream, as GPTQ/RPTQ draw them (they overlap when the text
  // is short).
  for (auto& s : set) {
    const auto start = static_cast<int64_t>(rng() % static_cast<uint64_t>(n - source.seqlen + 1));
    s.assign(ids.begin() + start, ids.begin() + start + source.seqlen);
  }
  return set;
}

}  // namespace rptq::pipeline
