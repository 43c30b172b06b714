// Text inputs must be UTF-8: a Latin-1 or binary file is an error naming the file and offset.
#include <catch2/catch.hpp>

#include "hf/text_file.h"
#include "rptq/error.h"
#include "test_util.h"
#include "tokenizer/bpe_tokenizer.h"

TEST_CASE("utf8_first_invalid finds the first ill-formed sequence", "[text]") {
  CHECK(rptq::utf8_first_invalid("") == std::string::npos);
  CHECK(rptq::utf8_first_invalid("plain ascii\n") == std::string::npos);
  CHECK(rptq::utf8_first_invalid("caf\xC3\xA9 \xF0\x9F\x98\x80") == std::string::npos);
  CHECK(rptq::utf8_first_invalid("caf\xE9!") == 3);                   // Latin-1 é
  CHECK(rptq::utf8_first_invalid("ab\xC3") == 2);                     // truncated sequence
  CHECK(rptq::utf8_first_invalid("\xED\xA0\x80") == 0);               // surrogate
  CHECK(rptq::utf8_first_invalid("x\xC0\xAF") == 1);                  // overlong
  CHECK(rptq::utf8_first_invalid("ok\xF4\x90\x80\x80") == 2);         // above U+10FFFF
}

TEST_CASE("read_utf8_text reads UTF-8 and rejects other encodings", "[text][bad-input]") {
  rptq::test::TempDir dir;
  rptq::test::write_file(dir.file("good.txt"), "The tower is 324 metres \xE2\x80\x94 tall.\n");
  CHECK(rptq::hf::read_utf8_text(dir.file("good.txt")) == "The tower is 324 metres \xE2\x80\x94 tall.\n");
  rptq::test::write_file(dir.file("latin1.txt"), "na\xEFve");
  CHECK_THROWS_WITH(rptq::hf::read_utf8_text(dir.file("latin1.txt")),
                    Catch::Contains(dir.file("latin1.txt")) && Catch::Contains("not valid UTF-8") &&
                        Catch::Contains("offset 2"));
  CHECK_THROWS_WITH(rptq::hf::read_utf8_text(dir.file("absent.txt")), Catch::Contains("cannot open"));
}
