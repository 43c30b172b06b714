// Literals for generated C++ and CUDA sources: exact (floats as hexadecimal) and deterministic, so
// that the same model always gives the same source text and hence the same code bytes.
#pragma once

#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string>

namespace rptq::codegen {

inline std::string hex_float(float v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%af", static_cast<double>(v));
  return buf;
}

// values[0..n) formatted and comma-separated, 16 to a line.
template <class T, class F>
std::string literal_list(const T* values, int64_t n, F&& format) {
  std::ostringstream s;
  for (int64_t i = 0; i < n; ++i) {
    if (i) s << (i % 16 == 0 ? ",\n      " : ", ");
    s << format(values[i]);
  }
  return s.str();
}

inline std::string int_literals(const int32_t* v, int64_t n) {
  return literal_list(v, n, [](int32_t x) { return std::to_string(x); });
}
inline std::string float_literals(const float* v, int64_t n) { return literal_list(v, n, hex_float); }
// Integers held as floats (zero points from channel_params), written as the integers they are.
inline std::string integral_float_literals(const float* v, int64_t n) {
  return literal_list(v, n, [](float x) { return std::to_string(static_cast<int32_t>(x)); });
}

inline const char* bool_literal(bool b) { return b ? "true" : "false"; }

}  // namespace rptq::codegen
