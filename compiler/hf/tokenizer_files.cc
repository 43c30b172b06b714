#include "hf/tokenizer_files.h"

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <vector>

#include "hf/json_file.h"
#include "rptq/error.h"

namespace rptq::hf {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::vector<std::pair<std::string, int32_t>> read_vocab(const std::string& path) {
  const json j = read_json_file(path, "vocab.json");
  if (!j.is_object()) fail(path, "vocabulary must be a JSON object of token -> id");
  if (j.empty()) fail(path, "vocabulary is empty");
  const size_t n = j.size();
  std::vector<std::pair<std::string, int32_t>> vocab;
  vocab.reserve(n);
  std::vector<const std::string*> owner(n, nullptr);
  for (auto it = j.begin(); it != j.end(); ++it) {
    const json& v = it.value();
    if (!v.is_number_integer())
      fail(path, "id of token '" + it.key() + "' is " + v.dump() + ", not an integer");
    const bool negative = v.is_number_unsigned() ? false : v.get<int64_t>() < 0;
    const uint64_t id = negative ? 0 : v.get<uint64_t>();
    if (negative || id >= n)
      fail(path, "id " + v.dump() + " of token '" + it.key() + "' is out of range [0, " + std::to_string(n) +
                     ") (ids must number the " + std::to_string(n) + " tokens densely)");
    if (owner[id]) fail(path, "duplicate id " + std::to_string(id) + " (tokens '" + *owner[id] + "' and '" + it.key() + "')");
    if (it.key().empty()) fail(path, "empty token (id " + std::to_string(id) + ")");
    owner[id] = &it.key();
    vocab.emplace_back(it.key(), static_cast<int32_t>(id));
  }
  return vocab;
}

std::vector<std::pair<std::string, std::string>> read_merges(const std::string& path) {
  const std::string text = read_small_file(path, "merges.txt");
  std::vector<std::pair<std::string, std::string>> merges;
  size_t pos = 0;
  size_t line_no = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line.compare(0, 8, "#version") == 0) continue;
    const size_t sp = line.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 == line.size() || line.find(' ', sp + 1) != std::string::npos)
      fail(path, "line " + std::to_string(line_no) + ": malformed merge '" + line +
                     "' (expected two tokens separated by one space)");
    merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  return merges;
}

// A special-token entry: a string, an {"content": ...} object (AddedToken), or null.
bool token_content(const std::string& path, const char* key, const json& v, std::string* out) {
  if (v.is_null()) return false;
  if (v.is_string()) {
    *out = v.get<std::string>();
    return true;
  }
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    *out = v["content"].get<std::string>();
    return true;
  }
  fail(path, std::string("'") + key + "' must be a string or an object with a string 'content'");
}

struct SpecialTokens {
  std::vector<std::pair<std::string, std::string>> tokens;  // token, file that names it
  std::string bos;
  bool any_file = false;
};

void read_special_file(const std::string& path, SpecialTokens& st) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return;
  st.any_file = true;
  const json j = read_json_file(path, fs::path(path).filename().string());
  if (!j.is_object()) fail(path, "must be a JSON object");
  static const char* kKeys[] = {"bos_token", "eos_token", "unk_token", "pad_token",
                                "sep_token", "cls_token", "mask_token"};
  for (const char* key : kKeys) {
    if (!j.contains(key)) continue;
    std::string tok;
    if (!token_content(path, key, j[key], &tok)) continue;
    st.tokens.emplace_back(tok, path);
    if (std::string(key) == "bos_token" && st.bos.empty()) st.bos = tok;
  }
  if (j.contains("additional_special_tokens") && !j["additional_special_tokens"].is_null()) {
    const json& a = j["additional_special_tokens"];
    if (!a.is_array()) fail(path, "'additional_special_tokens' must be an array");
    for (const json& v : a) {
      std::string tok;
      if (token_content(path, "additional_special_tokens", v, &tok)) st.tokens.emplace_back(tok, path);
    }
  }
  if (j.contains("added_tokens_decoder") && !j["added_tokens_decoder"].is_null()) {
    const json& d = j["added_tokens_decoder"];
    if (!d.is_object()) fail(path, "'added_tokens_decoder' must be an object");
    for (auto it = d.begin(); it != d.end(); ++it) {
      const json& v = it.value();
      if (!v.is_object()) fail(path, "added_tokens_decoder entry '" + it.key() + "' must be an object");
      const bool special = v.contains("special") && v["special"].is_boolean() && v["special"].get<bool>();
      std::string tok;
      if (special && token_content(path, "added_tokens_decoder", v, &tok)) st.tokens.emplace_back(tok, path);
    }
  }
}

BpeTokenizerSpec read_spec(const std::string& vocab_path, const std::string& merges_path, SpecialTokens st,
                           const std::string& special_where) {
  auto vocab = read_vocab(vocab_path);
  auto merges = read_merges(merges_path);
  std::unordered_map<std::string, int32_t> ids;
  ids.reserve(vocab.size() * 2);
  for (const auto& [tok, id] : vocab) ids.emplace(tok, id);

  std::vector<std::string> specials;
  if (!st.any_file) {
    if (ids.count("</s>")) {
      specials.push_back("</s>");
    } else if (ids.count("<|endoftext|>")) {
      specials.push_back("<|endoftext|>");
    } else {
      fail(vocab_path, "vocabulary has neither '</s>' (OPT) nor '<|endoftext|>' (GPT-2) to use as BOS");
    }
    if (ids.count("<pad>")) specials.push_back("<pad>");
  } else {
    for (const auto& [tok, file] : st.tokens) {
      if (!ids.count(tok))
        fail(file, "special token '" + tok + "' is not in " + vocab_path +
                                " (added tokens outside the vocabulary are not supported)");
      specials.push_back(tok);
    }
  }
  std::string bos = st.bos;
  if (bos.empty()) {
    if (ids.count("</s>")) bos = "</s>";
    else if (ids.count("<|endoftext|>")) bos = "<|endoftext|>";
    else fail(special_where, "no bos_token given and the vocabulary has neither '</s>' nor '<|endoftext|>'");
    specials.push_back(bos);
  }
  return {std::move(vocab), std::move(merges), std::move(specials), ids.at(bos)};
}

BpeTokenizer build(BpeTokenizerSpec spec, const std::string& vocab_path) {
  try {
    return BpeTokenizer(std::move(spec));
  } catch (const Error& e) {
    fail(vocab_path, e.what());
  }
}

}  // namespace

BpeTokenizerSpec load_tokenizer_spec(const std::string& model_dir) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) fail(model_dir, "not a directory (expected a tokenizer/model directory)");
  const fs::path dir(model_dir);
  SpecialTokens st;
  const std::string stm = (dir / "special_tokens_map.json").string();
  const std::string tc = (dir / "tokenizer_config.json").string();
  read_special_file(stm, st);
  read_special_file(tc, st);
  std::string where = fs::exists(stm, ec) ? stm : tc;
  return read_spec((dir / "vocab.json").string(), (dir / "merges.txt").string(), std::move(st), where);
}

BpeTokenizer load_tokenizer(const std::string& model_dir) {
  return build(load_tokenizer_spec(model_dir), (fs::path(model_dir) / "vocab.json").string());
}

BpeTokenizer load_tokenizer(const std::string& vocab_path, const std::string& merges_path) {
  return build(read_spec(vocab_path, merges_path, SpecialTokens{}, vocab_path), vocab_path);
}

}  // namespace rptq::hf
