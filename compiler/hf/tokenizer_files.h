// Reads a Hugging Face GPT-2/OPT tokenizer (vocab.json + merges.txt, optionally
// special_tokens_map.json / tokenizer_config.json) into an rptq::BpeTokenizer.
#pragma once

#include <string>

#include "tokenizer/bpe_tokenizer.h"

namespace rptq::hf {

// `model_dir` holds vocab.json and merges.txt. Special tokens come from special_tokens_map.json
// and tokenizer_config.json when present (bos/eos/unk/pad/sep/cls/mask tokens,
// additional_special_tokens, added_tokens_decoder entries marked special); without them, OPT's
// defaults: `</s>` and `<pad>` are special and BOS is `</s>`, or, for a vocabulary without `</s>`
// (GPT-2), `<|endoftext|>`. Throws rptq::Error naming the file and the problem.
BpeTokenizer load_tokenizer(const std::string& model_dir);
// The same files, read but not built (the compiler stores them in the bundle). Checks the
// special tokens against the vocabulary; building may still reject inconsistent merges.
BpeTokenizerSpec load_tokenizer_spec(const std::string& model_dir);

// vocab.json and merges.txt given directly; special tokens and BOS take the defaults above.
BpeTokenizer load_tokenizer(const std::string& vocab_path, const std::string& merges_path);

}  // namespace rptq::hf
