// Parses a Hugging Face OPT config.json into rptq::OptConfig, rejecting anything that is not an
// OPT architecture this project implements (with the offending key named).
#pragma once

#include <string>

#include "rptq/opt_config.h"

namespace rptq::hf {

OptConfig read_opt_config(const std::string& path);

}  // namespace rptq::hf
