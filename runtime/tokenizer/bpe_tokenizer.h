// GPT-2 byte-level BPE, as used by OPT (vocab.json + merges.txt), with OPT's conventions:
// BOS `</s>` prepended on request, special tokens matched verbatim before BPE.
// Encode/decode equal Hugging Face's GPT2TokenizerFast on the same files.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rptq {

// Everything a tokenizer is built from (what a bundle stores).
struct BpeTokenizerSpec {
  std::vector<std::pair<std::string, int32_t>> vocab;        // token text and id
  std::vector<std::pair<std::string, std::string>> merges;   // by rank
  std::vector<std::string> special_tokens;
  int32_t bos_id = 0;
};

class BpeTokenizer {
 public:
  explicit BpeTokenizer(BpeTokenizerSpec spec)
      : BpeTokenizer(std::move(spec.vocab), std::move(spec.merges), std::move(spec.special_tokens), spec.bos_id) {}
  // vocab: token text in GPT-2's byte-to-unicode alphabet (UTF-8) and its id.
  // merges: ranked pairs, rank = position. special_tokens: texts matched verbatim in the input
  // (each must be in vocab). bos_id: the id prepended by encode(..., add_bos=true).
  // Throws rptq::Error (where = "tokenizer") on inconsistent inputs.
  BpeTokenizer(std::vector<std::pair<std::string, int32_t>> vocab,
               std::vector<std::pair<std::string, std::string>> merges,
               std::vector<std::string> special_tokens, int32_t bos_id);

  // Invalid UTF-8 in `text` is replaced by U+FFFD per maximal subpart, as Python's
  // bytes.decode("utf-8", errors="replace") does, before tokenization.
  std::vector<int32_t> encode(std::string_view text, bool add_bos = true) const;
  // Raw bytes; may be invalid UTF-8 when `ids` cut a multi-byte character.
  std::string decode(const std::vector<int32_t>& ids) const;
  // Bytes of one token (special tokens give their text). Throws on an out-of-range id.
  std::string token_bytes(int32_t id) const;

  int32_t vocab_size() const;
  int32_t bos_id() const { return bos_id_; }

 private:
  // Implementation detail members are defined by the implementation.
  struct Impl;
  std::shared_ptr<const Impl> impl_;
  int32_t bos_id_;
};

// Makes `bytes` valid UTF-8 by replacing each maximal invalid subpart with U+FFFD
// (Python's errors="replace").
std::string utf8_replace_invalid(std::string_view bytes);

// Byte offset of the first ill-formed UTF-8 sequence in `bytes`, or npos when it is all valid.
size_t utf8_first_invalid(std::string_view bytes);

}  // namespace rptq
