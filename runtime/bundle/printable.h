// Strings from a bundle are untrusted bytes: this is how they appear in error messages and listings.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rptq::bundle {

// At most `max` bytes (then "..."), control bytes as '?'. UTF-8 passes through.
inline std::string printable(std::string_view s, size_t max = 80) {
  std::string out(s.substr(0, max));
  for (char& ch : out) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace rptq::bundle
