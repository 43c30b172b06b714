// Output files appear whole or not at all: bytes go to a temporary file in the destination's
// directory, are flushed to disk, and the file is renamed over the destination.
#pragma once

#include <string>
#include <string_view>

namespace rptq {

void write_file_atomically(const std::string& path, std::string_view bytes);

}  // namespace rptq
