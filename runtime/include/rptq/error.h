// Errors raised while reading user-supplied files or running a model.
// Every message names the file (or object) and the problem, so a CLI can print it as-is.
#pragma once

#include <stdexcept>
#include <string>

namespace rptq {

class Error : public std::runtime_error {
 public:
  Error(std::string where, std::string problem)
      : std::runtime_error(where.empty() ? problem : where + ": " + problem),
        where_(std::move(where)) {}
  const std::string& where() const { return where_; }

 private:
  std::string where_;
};

[[noreturn]] inline void fail(const std::string& where, const std::string& problem) {
  throw Error(where, problem);
}

}  // namespace rptq
