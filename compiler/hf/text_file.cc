#include "hf/text_file.h"

#include "rptq/error.h"
#include "rptq/mapped_file.h"
#include "tokenizer/bpe_tokenizer.h"

namespace rptq::hf {

std::string read_utf8_text(const std::string& path) {
  auto file = MappedFile::open(path);
  std::string text(reinterpret_cast<const char*>(file->data()), file->size());
  const size_t bad = utf8_first_invalid(text);
  if (bad != std::string::npos)
    fail(path, "not valid UTF-8 text: ill-formed byte sequence at offset " + std::to_string(bad));
  return text;
}

}  // namespace rptq::hf
