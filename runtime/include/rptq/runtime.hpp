// A thin C++ wrapper over the C API (rptq/runtime.h): RAII handles and exceptions.
#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "rptq/runtime.h"

namespace rptq::rt {

class Error : public std::runtime_error {
 public:
  Error(rptq_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  rptq_status status() const { return status_; }

 private:
  rptq_status status_;
};

inline void check(rptq_status s) {
  if (s != RPTQ_OK) throw Error(s, rptq_last_error());
}

class Model {
 public:
  explicit Model(const std::string& path, const rptq_load_options* options = nullptr) {
    rptq_model* m = nullptr;
    check(rptq_model_load(path.c_str(), options, &m));
    handle_.reset(m, rptq_model_free);
  }
  rptq_model_info info() const {
    rptq_model_info i;
    check(rptq_model_get_info(handle_.get(), &i));
    return i;
  }
  std::vector<int32_t> tokenize(const std::string& text, bool add_bos = true) const {
    std::vector<int32_t> ids(text.size() + 2);
    size_t n = 0;
    check(rptq_tokenize(handle_.get(), text.data(), text.size(), add_bos ? 1 : 0, ids.data(), ids.size(), &n));
    ids.resize(n);
    return ids;
  }
  std::string detokenize(const std::vector<int32_t>& ids) const {
    size_t len = 0;
    check(rptq_detokenize(handle_.get(), ids.data(), ids.size(), nullptr, 0, &len));
    std::string text(len, '\0');
    check(rptq_detokenize(handle_.get(), ids.data(), ids.size(), text.data(), text.size(), &len));
    return text;
  }
  rptq_model* get() const { return handle_.get(); }

 private:
  std::shared_ptr<rptq_model> handle_;
};

class Session {
 public:
  explicit Session(const Model& model) {
    rptq_session* s = nullptr;
    check(rptq_session_create(model.get(), &s));
    handle_.reset(s);
  }
  void reset() { check(rptq_session_reset(handle_.get())); }
  int64_t position() const { return rptq_session_position(handle_.get()); }
  void prefill(const std::vector<int32_t>& ids, float* logits = nullptr) {
    check(rptq_prefill(handle_.get(), ids.data(), ids.size(), logits));
  }
  void decode_step(int32_t id, float* logits) { check(rptq_decode_step(handle_.get(), id, logits)); }
  void forward_all(const int32_t* ids, size_t n, float* logits) {
    check(rptq_forward_all(handle_.get(), ids, n, logits));
  }
  // Streams each token's bytes to `on_token` (return false to stop); returns the count.
  int32_t generate(const std::string& prompt, const rptq_sampling& sampling,
                   const std::function<bool(int32_t, const std::string&)>& on_token) {
    struct Thunk {
      static int call(int32_t id, const char* bytes, size_t len, void* user) {
        auto* f = static_cast<const std::function<bool(int32_t, const std::string&)>*>(user);
        return (*f)(id, std::string(bytes, len)) ? 0 : 1;
      }
    };
    int32_t n = 0;
    check(rptq_generate(handle_.get(), prompt.c_str(), &sampling, on_token ? Thunk::call : nullptr,
                        const_cast<void*>(static_cast<const void*>(&on_token)), &n));
    return n;
  }

 private:
  struct Free {
    void operator()(rptq_session* s) const { rptq_session_free(s); }
  };
  std::unique_ptr<rptq_session, Free> handle_;
};

}  // namespace rptq::rt
