// Byte-level BPE tokenizer and its file loader, on tiny hand-made vocabularies.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "hf/tokenizer_files.h"
#include "rptq/error.h"
#include "test_util.h"
#include "tokenizer/bpe_tokenizer.h"

using rptq::BpeTokenizer;
using Vocab = std::vector<std::pair<std::string, int32_t>>;
using Merges = std::vector<std::pair<std::string, std::string>>;

namespace {

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {  // the byte alphabet stays below U+0800
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// GPT-2's bytes_to_unicode() character for byte b.
std::string byte_char(int b) {
  int extra = 0;
  for (int x = 0; x < 256; ++x) {
    const bool printable = (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF);
    if (x == b) return utf8(printable ? static_cast<uint32_t>(x) : 256u + static_cast<uint32_t>(extra));
    if (!printable) ++extra;
  }
  return "";
}

const std::string G = "\xC4\xA0";  // 'Ġ', the byte-level character of ' '

// Ids 0..255: the single bytes, in byte order; then `extra` tokens.
Vocab byte_vocab(const std::vector<std::string>& extra) {
  Vocab v;
  for (int b = 0; b < 256; ++b) v.emplace_back(byte_char(b), b);
  for (const std::string& t : extra) v.emplace_back(t, static_cast<int32_t>(v.size()));
  return v;
}

int32_t id_of(const Vocab& v, const std::string& tok) {
  for (const auto& [t, id] : v)
    if (t == tok) return id;
  FAIL("token not in vocab: " << tok);
  return -1;
}

int32_t b(char c) { return static_cast<unsigned char>(c); }

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const rptq::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("byte-level BPE without merges gives one id per byte", "[tokenizer]") {
  const Vocab v = byte_vocab({"</s>"});
  const BpeTokenizer tok(v, {}, {"</s>"}, 256);
  CHECK(tok.vocab_size() == 257);
  CHECK(tok.bos_id() == 256);
  CHECK(tok.encode("ab c") == std::vector<int32_t>{256, b('a'), b('b'), b(' '), b('c')});
  CHECK(tok.encode("ab c", false) == std::vector<int32_t>{b('a'), b('b'), b(' '), b('c')});
  CHECK(tok.encode("", true) == std::vector<int32_t>{256});
  CHECK(tok.encode("", false).empty());
  CHECK(tok.encode("\xC3\xA9", false) == std::vector<int32_t>{0xC3, 0xA9});
  CHECK(tok.decode({b('h'), b('i'), 0xC3, 0xA9, b('\n')}) == "hi\xC3\xA9\n");
  CHECK(tok.decode({0xC3}) == "\xC3");  // a cut character stays raw bytes
  CHECK(tok.token_bytes(b(' ')) == " ");
  CHECK(tok.token_bytes(256) == "</s>");
  CHECK_THROWS_AS(tok.token_bytes(257), rptq::Error);
  CHECK_THROWS_AS(tok.decode({-1}), rptq::Error);
}

TEST_CASE("merges apply by rank, leftmost first on ties", "[tokenizer]") {
  const Vocab v = byte_vocab({"ab", "bc", "aa", "aaaa"});
  const int32_t ab = id_of(v, "ab"), bc = id_of(v, "bc"), aa = id_of(v, "aa"), aaaa = id_of(v, "aaaa");
  {
    const BpeTokenizer tok(v, {{"b", "c"}, {"a", "b"}}, {}, 0);
    CHECK(tok.encode("abc", false) == std::vector<int32_t>{b('a'), bc});
  }
  {
    const BpeTokenizer tok(v, {{"a", "b"}, {"b", "c"}}, {}, 0);
    CHECK(tok.encode("abc", false) == std::vector<int32_t>{ab, b('c')});
    CHECK(tok.encode("abcabc", false) == std::vector<int32_t>{ab, b('c'), ab, b('c')});
  }
  {
    const BpeTokenizer tok(v, {{"a", "a"}, {"aa", "aa"}}, {}, 0);
    CHECK(tok.encode("aaa", false) == std::vector<int32_t>{aa, b('a')});
    CHECK(tok.encode("aaaaa", false) == std::vector<int32_t>{aaaa, b('a')});
    CHECK(tok.encode("aaaaaaa", false) == std::vector<int32_t>{aaaa, aa, b('a')});
  }
  {
    // A merge whose parts or result are not in the vocabulary is ignored.
    const BpeTokenizer tok(v, {{"x", "y"}, {"q", "zz"}, {"a", "b"}}, {}, 0);
    CHECK(tok.encode("xyab", false) == std::vector<int32_t>{b('x'), b('y'), ab});
  }
  {
    // A long word (no cache) merges the same way.
    const BpeTokenizer tok(v, {{"a", "a"}, {"aa", "aa"}}, {}, 0);
    const std::vector<int32_t> ids = tok.encode(std::string(1001, 'a'), false);
    REQUIRE(ids.size() == 251);
    CHECK(ids.back() == b('a'));
    CHECK(ids[0] == aaaa);
  }
}

TEST_CASE("the pre-tokenizer splits words before BPE", "[tokenizer]") {
  const Vocab v = byte_vocab({G + "b", "a" + G, "'s", "'S", G + G, "1" + G});
  const int32_t gb = id_of(v, G + "b"), sq = id_of(v, "'s"), gg = id_of(v, G + G);
  // "aĠ" and "1Ġ" would only form across a pre-token boundary.
  const BpeTokenizer tok(v, {{"a", G}, {G, "b"}, {"'", "s"}, {"'", "S"}, {G, G}, {"1", G}}, {}, 0);
  CHECK(tok.encode("a b", false) == std::vector<int32_t>{b('a'), gb});
  CHECK(tok.encode("1 b", false) == std::vector<int32_t>{b('1'), gb});
  // Whitespace runs leave their last space to the following word, and are kept whole at the end.
  CHECK(tok.encode("a   b", false) == std::vector<int32_t>{b('a'), gg, gb});
  CHECK(tok.encode("a  ", false) == std::vector<int32_t>{b('a'), gg});
  CHECK(tok.encode("a\n b", false) == std::vector<int32_t>{b('a'), b('\n'), gb});
  // Contractions are lowercase-only: 'S is punctuation + letter.
  CHECK(tok.encode("it's", false) == std::vector<int32_t>{b('i'), b('t'), sq});
  CHECK(tok.encode("IT'S", false) == std::vector<int32_t>{b('I'), b('T'), b('\''), b('S')});
}

TEST_CASE("special tokens are matched verbatim, longest first", "[tokenizer]") {
  const Vocab v = byte_vocab({"</s>", "<pad>", "<a>", "<a>b", G + "x"});
  const int32_t eos = id_of(v, "</s>"), pad = id_of(v, "<pad>"), a = id_of(v, "<a>"), ab = id_of(v, "<a>b");
  const int32_t gx = id_of(v, G + "x");
  const BpeTokenizer tok(v, {{G, "x"}}, {"</s>", "<pad>", "<a>", "<a>b"}, eos);
  CHECK(tok.encode("x</s>y", true) == std::vector<int32_t>{eos, b('x'), eos, b('y')});
  CHECK(tok.encode("</s><pad></s>", false) == std::vector<int32_t>{eos, pad, eos});
  CHECK(tok.encode("<a>b<a>c", false) == std::vector<int32_t>{ab, a, b('c')});
  CHECK(tok.encode("</s", false) == std::vector<int32_t>{b('<'), b('/'), b('s')});
  // Text either side of a special token is pre-tokenized on its own.
  CHECK(tok.encode("</s> x", false) == std::vector<int32_t>{eos, gx});
  CHECK(tok.encode(" </s>x", false) == std::vector<int32_t>{b(' '), eos, b('x')});
  CHECK(tok.decode({eos, b('h'), pad}) == "</s>h<pad>");

  CHECK_THROWS_WITH(BpeTokenizer(v, {}, {"<nope>"}, eos), Catch::Contains("<nope>"));
  CHECK_THROWS_AS(BpeTokenizer(v, {}, {}, 100000), rptq::Error);
  CHECK_THROWS_AS(BpeTokenizer(Vocab{{"a", 0}, {"b", 0}}, {}, {}, 0), rptq::Error);
  CHECK_THROWS_AS(BpeTokenizer(Vocab{{"a", 0}, {"b", 5}}, {}, {}, 0), rptq::Error);
  CHECK_THROWS_AS(BpeTokenizer(Vocab{}, {}, {}, 0), rptq::Error);
}

TEST_CASE("utf8_replace_invalid follows Python's errors='replace'", "[tokenizer]") {
  const std::string R = "\xEF\xBF\xBD";
  CHECK(rptq::utf8_replace_invalid("") == "");
  CHECK(rptq::utf8_replace_invalid("h\xC3\xA9llo \xF0\x9F\x98\x80") == "h\xC3\xA9llo \xF0\x9F\x98\x80");
  CHECK(rptq::utf8_replace_invalid("\xFF") == R);
  CHECK(rptq::utf8_replace_invalid("\xC3(") == R + "(");
  CHECK(rptq::utf8_replace_invalid("\xE2\x82(") == R + "(");
  CHECK(rptq::utf8_replace_invalid("\xF0\x9F\x98") == R);
  CHECK(rptq::utf8_replace_invalid("\xED\xA0\x80") == R + R + R);  // surrogate
  CHECK(rptq::utf8_replace_invalid("\xF4\x90\x80\x80") == R + R + R + R);  // > U+10FFFF
  CHECK(rptq::utf8_replace_invalid("\xC0\xAF") == R + R);  // overlong
  CHECK(rptq::utf8_replace_invalid("\xE0\x80\xAF") == R + R + R);
  CHECK(rptq::utf8_replace_invalid("\xF0\x9F\x98\x80\xF0\x9F") == "\xF0\x9F\x98\x80" + R);
  CHECK(rptq::utf8_replace_invalid("a\x80\x80" "b") == "a" + R + R + "b");
  CHECK(rptq::utf8_replace_invalid("\xF1\x80\x80\xC3\xA9") == R + "\xC3\xA9");
  CHECK(rptq::utf8_replace_invalid(std::string("a\0b", 3)) == std::string("a\0b", 3));

  // encode() applies it first.
  const Vocab v = byte_vocab({});
  const BpeTokenizer tok(v, {}, {}, 0);
  CHECK(tok.encode("\xFF", false) == std::vector<int32_t>{0xEF, 0xBF, 0xBD});
}

TEST_CASE("encode is thread-safe and deterministic", "[tokenizer]") {
  const Vocab v = byte_vocab({"ab", "abab", G + "ab"});
  const BpeTokenizer tok(v, {{"a", "b"}, {"ab", "ab"}, {G, "ab"}}, {}, 0);
  std::string text;
  for (int i = 0; i < 2000; ++i) text += (i % 7 ? " ab" : " abababab") + std::to_string(i % 13);
  const std::vector<int32_t> expect = tok.encode(text);
  std::vector<std::vector<int32_t>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&, t] { got[t] = tok.encode(text); });
  for (auto& th : threads) th.join();
  for (const auto& g : got) CHECK(g == expect);
  CHECK(tok.decode(expect).substr(0, 3) == std::string(1, '\0') + " a");  // bos id 0 is byte 0
}

namespace {

std::string vocab_json(const Vocab& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    std::string esc;
    for (char c : v[i].first) {
      if (c == '"' || c == '\\') esc += '\\';
      if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        esc += buf;
      } else {
        esc += c;
      }
    }
    s += (i ? ",\"" : "\"") + esc + "\":" + std::to_string(v[i].second);
  }
  return s + "}";
}

}  // namespace

TEST_CASE("load_tokenizer reads vocab.json and merges.txt", "[tokenizer][hf]") {
  rptq::test::TempDir dir;
  const Vocab v = byte_vocab({"</s>", "<pad>", "he", "ll", "hell", "hello", "<s>"});
  rptq::test::write_file(dir.file("vocab.json"), vocab_json(v));
  rptq::test::write_file(dir.file("merges.txt"), "#version: 0.2\nh e\nl l\n\nhe ll\r\nhell o\nzz top\n");
  const int32_t eos = id_of(v, "</s>"), pad = id_of(v, "<pad>"), hello = id_of(v, "hello");

  SECTION("OPT defaults: </s> is BOS, </s> and <pad> are special") {
    const BpeTokenizer tok = rptq::hf::load_tokenizer(dir.path());
    CHECK(tok.bos_id() == eos);
    CHECK(tok.encode("hello</s><pad><s>") ==
          std::vector<int32_t>{eos, hello, eos, pad, b('<'), b('s'), b('>')});
    const BpeTokenizer tok2 = rptq::hf::load_tokenizer(dir.file("vocab.json"), dir.file("merges.txt"));
    CHECK(tok2.encode("hello</s>") == tok.encode("hello</s>"));
  }
  SECTION("special_tokens_map.json chooses BOS and the special tokens") {
    rptq::test::write_file(dir.file("special_tokens_map.json"),
                           R"({"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
                               "pad_token": null})");
    const BpeTokenizer tok = rptq::hf::load_tokenizer(dir.path());
    const int32_t s = id_of(v, "<s>");
    CHECK(tok.bos_id() == s);
    CHECK(tok.encode("<s><pad>", false) == std::vector<int32_t>{s, b('<'), b('p'), b('a'), b('d'), b('>')});
  }
  SECTION("tokenizer_config.json added_tokens_decoder") {
    rptq::test::write_file(dir.file("tokenizer_config.json"),
                           R"({"added_tokens_decoder": {"1": {"content": "<pad>", "special": true},
                               "2": {"content": "</s>", "special": true}}, "bos_token": "</s>"})");
    const BpeTokenizer tok = rptq::hf::load_tokenizer(dir.path());
    CHECK(tok.bos_id() == eos);
    CHECK(tok.encode("<pad>", false) == std::vector<int32_t>{pad});
  }
  SECTION("a special token outside the vocabulary is an error naming the file") {
    rptq::test::write_file(dir.file("special_tokens_map.json"), R"({"mask_token": "<mask>"})");
    const std::string msg = error_of([&] { rptq::hf::load_tokenizer(dir.path()); });
    CHECK_THAT(msg, Catch::Contains("special_tokens_map.json") && Catch::Contains("<mask>"));
  }
  SECTION("the error names tokenizer_config.json when the bad token comes from there") {
    rptq::test::write_file(dir.file("special_tokens_map.json"), R"({"eos_token": "</s>"})");
    rptq::test::write_file(dir.file("tokenizer_config.json"), R"({"additional_special_tokens": ["<x>"]})");
    const std::string msg = error_of([&] { rptq::hf::load_tokenizer(dir.path()); });
    CHECK_THAT(msg, Catch::Contains("tokenizer_config.json") && Catch::Contains("<x>"));
  }
  SECTION("invalid JSON in special_tokens_map.json") {
    rptq::test::write_file(dir.file("special_tokens_map.json"), "{nope");
    CHECK_THAT(error_of([&] { rptq::hf::load_tokenizer(dir.path()); }),
               Catch::Contains("special_tokens_map.json") && Catch::Contains("not valid JSON"));
  }
}

TEST_CASE("GPT-2 vocabularies default to <|endoftext|>", "[tokenizer][hf]") {
  rptq::test::TempDir dir;
  const Vocab v = byte_vocab({"<|endoftext|>"});
  rptq::test::write_file(dir.file("vocab.json"), vocab_json(v));
  rptq::test::write_file(dir.file("merges.txt"), "#version: 0.2\n");
  const BpeTokenizer tok = rptq::hf::load_tokenizer(dir.path());
  CHECK(tok.bos_id() == 256);
  CHECK(tok.encode("a<|endoftext|>") == std::vector<int32_t>{256, b('a'), 256});

  rptq::test::write_file(dir.file("vocab.json"), vocab_json(byte_vocab({})));
  CHECK_THAT(error_of([&] { rptq::hf::load_tokenizer(dir.path()); }), Catch::Contains("vocab.json"));
}

TEST_CASE("bad tokenizer files give errors naming the file", "[tokenizer][hf]") {
  rptq::test::TempDir dir;
  const std::string vocab = dir.file("vocab.json"), merges = dir.file("merges.txt");
  const std::string good_vocab = vocab_json(byte_vocab({"</s>"}));
  rptq::test::write_file(merges, "#version: 0.2\na b\n");
  auto load = [&] { return error_of([&] { rptq::hf::load_tokenizer(vocab, merges); }); };

  CHECK_THAT(load(), Catch::Contains(vocab) && Catch::Contains("cannot open"));
  CHECK_THAT(error_of([&] { rptq::hf::load_tokenizer(dir.file("nothere")); }), Catch::Contains("nothere"));
  CHECK_THAT(error_of([&] { rptq::hf::load_tokenizer(dir.path()); }), Catch::Contains("vocab.json"));

  rptq::test::write_file(vocab, "{\"a\": 0,");
  CHECK_THAT(load(), Catch::Contains(vocab) && Catch::Contains("not valid JSON"));
  rptq::test::write_file(vocab, "[\"a\", \"b\"]");
  CHECK_THAT(load(), Catch::Contains(vocab) && Catch::Contains("object"));
  rptq::test::write_file(vocab, "{\"a\": \"0\"}");
  CHECK_THAT(load(), Catch::Contains(vocab) && Catch::Contains("not an integer"));
  rptq::test::write_file(vocab, "{\"a\": 0.5}");
  CHECK_THAT(load(), Catch::Contains(vocab) && Catch::Contains("not an integer"));
  rptq::test::write_file(vocab, "{\"a\": 0, \"b\": 7}");
  CHECK_THAT(load(), Catch::Contains(vocab) && Catch::Contains("out of range"));
  rptq::test::write_file(vocab, "{\"a\": 0, \"b\": -1}");
  CHECK_THAT(load(), Catch::Contains(vocab) && Catch::Contains("out of range"));
  rptq::test::write_file(vocab, "{\"a\": 1, \"b\": 1}");
  CHECK_THAT(load(), Catch::Contains(vocab) && Catch::Contains("duplicate id"));
  rptq::test::write_file(vocab, "{}");
  CHECK_THAT(load(), Catch::Contains(vocab) && Catch::Contains("empty"));

  rptq::test::write_file(vocab, good_vocab);
  CHECK(load() == "(no error)");
  CHECK_THAT(error_of([&] { rptq::hf::load_tokenizer(vocab, dir.file("none.txt")); }),
             Catch::Contains("none.txt") && Catch::Contains("cannot open"));
  rptq::test::write_file(merges, "#version: 0.2\na b\nab c d\n");
  CHECK_THAT(load(), Catch::Contains(merges) && Catch::Contains("line 3"));
  rptq::test::write_file(merges, "a b\nabc\n");
  CHECK_THAT(load(), Catch::Contains(merges) && Catch::Contains("line 2"));
  rptq::test::write_file(merges, "a  b\n");
  CHECK_THAT(load(), Catch::Contains(merges) && Catch::Contains("line 1"));
  // Merge tokens outside the vocabulary are accepted (and never fire).
  rptq::test::write_file(merges, "#version: 0.2\nq xyz\n\n");
  CHECK(load() == "(no error)");
}

TEST_CASE("the shared OPT tokenizer encodes known ids", "[tokenizer][hf]") {
  const std::string dir = std::string(RPTQ_SHARED_DIR) + "/data/opt-tokenizer";
  if (!std::filesystem::exists(dir + "/vocab.json")) {
    WARN("no " << dir << "; skipped");
    return;
  }
  const BpeTokenizer tok = rptq::hf::load_tokenizer(dir);
  CHECK(tok.vocab_size() == 50265);
  CHECK(tok.bos_id() == 2);
  // Values from transformers' GPT2TokenizerFast on the same files.
  CHECK(tok.encode("Hello world! It's  a test.\n\n  </s>x<pad> 123 4567\n") ==
        std::vector<int32_t>{2, 31414, 232, 328, 85, 18, 1437, 10, 1296, 4, 50140, 1437, 1437, 2, 1178, 1,
                             17072, 2248, 4111, 50118});
  CHECK(tok.decode(tok.encode("Hello world! It's  a test.")) == "</s>Hello world! It's  a test.");
}
