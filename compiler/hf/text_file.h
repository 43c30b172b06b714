// Evaluation and calibration text: read whole, and required to be UTF-8 (a text in another
// encoding would tokenize into a silently different token stream).
#pragma once

#include <string>

namespace rptq::hf {

// Throws rptq::Error naming `path` if it cannot be read or is not valid UTF-8 (with the offset).
std::string read_utf8_text(const std::string& path);

}  // namespace rptq::hf
