// Whole small files (config.json, shard indexes, tokenizer files) read with errors that name the
// file: one reader for all of them, so every such file fails the same way.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace rptq::hf {

// The file's bytes; rptq::Error "cannot open <what> file" etc. naming `path` otherwise.
std::string read_small_file(const std::string& path, const std::string& what);

// The file parsed as JSON; rptq::Error "not valid JSON: ..." naming `path` otherwise.
nlohmann::json read_json_file(const std::string& path, const std::string& what);

}  // namespace rptq::hf
