#include "hf/tensor_ref.h"

#include <sstream>

#include "rptq/error.h"
#include "rptq/half.h"

namespace rptq::hf {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::Unsupported: break;
  }
  return "unsupported";
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16:
    case DType::BF16: return 2;
    case DType::Unsupported: break;
  }
  return 0;
}

int64_t TensorRef::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool TensorRef::contiguous() const { return strides == contiguous_strides(shape); }

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

namespace {

template <typename Convert>
void gather(const TensorRef& t, float* out, Convert convert) {
  const size_t es = dtype_size(t.dtype);
  const int64_t n = t.numel();
  if (n == 0) return;
  if (t.contiguous()) {
    for (int64_t i = 0; i < n; ++i) out[i] = convert(t.data + i * es);
    return;
  }
  // Odometer over the index space; readers have already bounded every addressed element.
  const size_t rank = t.shape.size();
  std::vector<int64_t> idx(rank, 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = convert(t.data + off * static_cast<int64_t>(es));
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < t.shape[d]) {
        off += t.strides[d];
        break;
      }
      off -= t.strides[d] * (t.shape[d] - 1);
      idx[d] = 0;
    }
  }
}

}  // namespace

std::vector<float> to_f32(const TensorRef& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  switch (t.dtype) {
    case DType::F32:
      gather(t, out.data(), [](const uint8_t* p) {
        float f;
        std::memcpy(&f, p, 4);
        return f;
      });
      break;
    case DType::F16:
      gather(t, out.data(), [](const uint8_t* p) {
        uint16_t h;
        std::memcpy(&h, p, 2);
        return f16_to_f32(h);
      });
      break;
    case DType::BF16:
      gather(t, out.data(), [](const uint8_t* p) {
        uint16_t h;
        std::memcpy(&h, p, 2);
        return bf16_to_f32(h);
      });
      break;
    case DType::Unsupported:
      fail(t.file ? t.file->path() : std::string(),
           "tensor '" + t.name + "' has dtype " + t.dtype_text + "; only F32, F16 and BF16 are supported");
  }
  return out;
}

}  // namespace rptq::hf
