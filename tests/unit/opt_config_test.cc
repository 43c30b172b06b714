// config.json parsing: the OPT fields and the ways a config can be wrong or not OPT at all.
#include <catch2/catch.hpp>

#include "hf/opt_config_json.h"
#include "rptq/error.h"
#include "test_util.h"

namespace {

const char* kOpt125m = R"({
  "model_type": "opt", "activation_function": "relu", "vocab_size": 50272, "hidden_size": 768,
  "num_hidden_layers": 12, "ffn_dim": 3072, "num_attention_heads": 12, "max_position_embeddings": 2048,
  "do_layer_norm_before": true, "word_embed_proj_dim": 768, "bos_token_id": 2, "eos_token_id": 2,
  "pad_token_id": 1, "torch_dtype": "float16"})";

rptq::OptConfig parse(const std::string& text, rptq::test::TempDir& dir) {
  rptq::test::write_file(dir.file("config.json"), text);
  return rptq::hf::read_opt_config(dir.file("config.json"));
}

std::string with(const std::string& key, const std::string& value) {
  std::string s = kOpt125m;
  const std::string k = "\"" + key + "\": ";
  auto pos = s.find(k);
  if (pos == std::string::npos) return s.substr(0, s.size() - 1) + ", " + k + value + "}";
  auto end = s.find_first_of(",}", pos);
  return s.substr(0, pos) + k + value + s.substr(end);
}

}  // namespace

TEST_CASE("config: opt-125m", "[config]") {
  rptq::test::TempDir dir;
  auto c = parse(kOpt125m, dir);
  CHECK(c.hidden_size == 768);
  CHECK(c.num_layers == 12);
  CHECK(c.head_dim() == 64);
  CHECK(c.pre_layer_norm);
  CHECK(c.final_layer_norm);
  CHECK_FALSE(c.has_projections());
}

TEST_CASE("config: opt-350m is post-LN with project_in/out and no final LayerNorm", "[config]") {
  rptq::test::TempDir dir;
  auto c = parse(with("word_embed_proj_dim", "512"), dir);
  CHECK(c.has_projections());
  auto post = parse(with("do_layer_norm_before", "false"), dir);
  CHECK_FALSE(post.pre_layer_norm);
  CHECK_FALSE(post.final_layer_norm);
}

TEST_CASE("config: not OPT or not supported gives an error naming the file and key", "[config][bad-input]") {
  rptq::test::TempDir dir;
  const std::string path = dir.file("config.json");
  auto err = [&](const std::string& text) -> std::string {
    try {
      parse(text, dir);
    } catch (const rptq::Error& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK_THAT(err(with("model_type", "\"llama\"")), Catch::Contains(path) && Catch::Contains("llama"));
  CHECK_THAT(err(with("activation_function", "\"gelu\"")), Catch::Contains("gelu"));
  CHECK_THAT(err(with("num_attention_heads", "7")), Catch::Contains("not divisible"));
  CHECK_THAT(err(with("hidden_size", "0")), Catch::Contains("hidden_size"));
  CHECK_THAT(err(with("hidden_size", "\"big\"")), Catch::Contains("must be an integer"));
  CHECK_THAT(err(with("pad_token_id", "999999")), Catch::Contains("outside the vocabulary"));
  CHECK_THAT(err("{\"model_type\": \"opt\"}"), Catch::Contains("missing required key"));
  CHECK_THAT(err("{oops"), Catch::Contains("not valid JSON"));
  CHECK_THAT(err("[]"), Catch::Contains("not a JSON object"));
  CHECK_THROWS_WITH(rptq::hf::read_opt_config(dir.file("absent.json")), Catch::Contains("cannot open"));
}
