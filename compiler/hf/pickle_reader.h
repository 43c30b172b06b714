// A small, safe pickle virtual machine (protocols 2-5) for the `data.pkl` of torch.save archives.
// It never imports or calls anything: GLOBAL names are checked against an allow-list
// (collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter[_with_state],
// torch.*Storage) and the few allowed "calls" are interpreted here. Persistent ids of the form
// ('storage', <torch.XStorage>, key, location, numel) become Storage values; _rebuild_tensor_v2
// becomes a Tensor value (storage, offset, shape, strides - not yet checked against the storage).
// Stack, memo, mark and value counts are bounded; there is no recursion; every read is bounded by
// the pickle's length. Errors: rptq::Error(where, "<name> offset N: problem").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace rptq::hf::pickle {

enum class Kind : uint8_t { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Storage, Tensor };

const char* kind_name(Kind k);

struct Value {
  explicit Value(Kind k) : kind(k) {}
  Kind kind;
  bool b = false;                  // Bool
  int64_t i = 0;                   // Int; Storage: numel; Tensor: storage offset (elements)
  double f = 0;                    // Float
  std::string s;                   // Str/Bytes: contents; Global: "module.name"; Storage: key
  std::string s2;                  // Storage: storage type name (e.g. "FloatStorage"); location unused
  std::vector<Value*> items;       // Tuple/List; Tensor: items[0] = the Storage
  std::vector<std::pair<Value*, Value*>> dict;  // Dict, in insertion order (duplicates kept; last wins)
  std::vector<int64_t> shape, strides;          // Tensor
};

struct Limits {
  size_t max_stack = 1u << 20;
  size_t max_marks = 1u << 16;
  size_t max_memo = 1u << 22;
  size_t max_values = 1u << 23;
};

class Unpickler {
 public:
  // `where` names the file in errors; `name` the pickle inside it (e.g. "archive/data.pkl").
  Unpickler(const uint8_t* data, size_t size, std::string where, std::string name, Limits limits = {});
  ~Unpickler();
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;

  // Runs to STOP and returns the result; values live as long as the Unpickler.
  const Value* run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Untrusted text (names from a file) for error messages: non-printable bytes escaped as \xNN,
// capped at `max` bytes.
std::string printable(const std::string& s, size_t max = 200);

}  // namespace rptq::hf::pickle

namespace rptq::hf::pickle {

// The torch storage classes the VM accepts as GLOBALs (torch.FloatStorage, torch.LongStorage, ...)
// with their element size in bytes; nullptr for any other name (given without the "torch." prefix).
struct StorageType {
  const char* name;
  size_t elem_size;
};
const StorageType* find_storage_type(const std::string& name);

}  // namespace rptq::hf::pickle
