#include "bundle/checksum.h"

#include <cstddef>

#include "bundle/bundle_format.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace rptq::bundle {

uint64_t xxh64(const void* data, size_t size) { return XXH64(data, size, 0); }

uint64_t header_checksum(const FileHeader& header) {
  static_assert(offsetof(FileHeader, header_xxh64) == sizeof(FileHeader) - 8, "checksum is the last field");
  return xxh64(&header, offsetof(FileHeader, header_xxh64));
}

struct Xxh64Stream::State {
  XXH64_state_t s;
};

Xxh64Stream::Xxh64Stream() : state_(std::make_unique<State>()) { reset(); }
Xxh64Stream::~Xxh64Stream() = default;
Xxh64Stream::Xxh64Stream(Xxh64Stream&&) noexcept = default;
Xxh64Stream& Xxh64Stream::operator=(Xxh64Stream&&) noexcept = default;

void Xxh64Stream::reset() { XXH64_reset(&state_->s, 0); }
void Xxh64Stream::update(const void* data, size_t size) { XXH64_update(&state_->s, data, size); }
uint64_t Xxh64Stream::digest() const { return XXH64_digest(&state_->s); }

}  // namespace rptq::bundle
