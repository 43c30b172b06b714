// What rptq-inspect shows about a bundle, as JSON (--json prints it as is) and as compact text.
// One walk over the verified metadata serves both, and the fuzzer runs it on every input it loads.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "bundle/bundle_reader.h"

namespace rptq::bundle {

// list_tensors: also every tensor's name, dtype, shape and size.
nlohmann::json summarize_bundle(const LoadedBundle& bundle, bool list_tensors);

// The summary as text for a terminal (strings sanitized).
std::string summary_text(const nlohmann::json& summary);

// The summary as JSON text; invalid UTF-8 in bundle strings becomes U+FFFD.
std::string summary_json(const nlohmann::json& summary);

}  // namespace rptq::bundle
