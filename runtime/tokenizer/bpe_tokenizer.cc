// GPT-2 byte-level BPE, written to give the same ids as Hugging Face `tokenizers` (ByteLevel
// pre-tokenizer with the GPT-2 regex, BPE model without dropout/unk, added special tokens split
// out first) on the same vocab.json / merges.txt.
#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <array>
#include <mutex>
#include <queue>
#include <unordered_set>

#include "rptq/error.h"

namespace rptq {
namespace {

struct CharRange {
  uint32_t first, last;
  uint8_t cls;
};
#include "unicode_tables.inc"

enum CharClass : uint8_t { kOther = 0, kLetter = 1, kNumber = 2, kSpace = 3 };

// Classes of ASCII code points, filled from the range table once.
struct AsciiClasses {
  std::array<uint8_t, 128> cls{};
  AsciiClasses() {
    for (const CharRange& r : kCharRanges)
      for (uint32_t c = r.first; c <= r.last && c < 128; ++c) cls[c] = r.cls;
  }
};

uint8_t char_class(uint32_t cp) {
  static const AsciiClasses ascii;
  if (cp < 128) return ascii.cls[cp];
  const CharRange* begin = std::begin(kCharRanges);
  const CharRange* end = std::end(kCharRanges);
  // First range whose `last` >= cp.
  const CharRange* it =
      std::lower_bound(begin, end, cp, [](const CharRange& r, uint32_t c) { return r.last < c; });
  if (it != end && it->first <= cp) return it->cls;
  return kOther;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Length of the valid UTF-8 sequence at s[i..n), or 0 with `*subpart` set to the length of the
// maximal subpart of an ill-formed sequence (>= 1), per Unicode 3.9 / Python's decoder.
size_t utf8_seq(const unsigned char* s, size_t i, size_t n, size_t* subpart) {
  const unsigned char b0 = s[i];
  if (b0 < 0x80) return 1;
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    *subpart = 1;
    return 0;
  }
  size_t k = 1;
  for (; k <= need; ++k) {
    if (i + k >= n) break;
    const unsigned char b = s[i + k];
    const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) break;
  }
  if (k == need + 1) return need + 1;
  *subpart = k;
  return 0;
}

// Decodes one code point of valid UTF-8 at s[i]; returns its length.
size_t decode_cp(const unsigned char* s, size_t i, uint32_t* cp) {
  const unsigned char b0 = s[i];
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  if (b0 < 0xE0) {
    *cp = ((b0 & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu);
    return 2;
  }
  if (b0 < 0xF0) {
    *cp = ((b0 & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
    return 3;
  }
  *cp = ((b0 & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) |
        (s[i + 3] & 0x3Fu);
  return 4;
}

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100.. in byte order.
struct ByteMap {
  std::array<uint32_t, 256> to_cp{};
  std::array<std::string, 256> to_utf8;
  std::array<int, 512> from_cp{};  // code point -> byte, -1 if not in the alphabet
  ByteMap() {
    from_cp.fill(-1);
    uint32_t extra = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_cp[b] = printable ? static_cast<uint32_t>(b) : 256 + extra++;
      append_utf8(to_utf8[b], to_cp[b]);
      from_cp[to_cp[b]] = b;
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

// Bytes of a vocab token: its characters mapped back through bytes_to_unicode; a token with a
// character outside that alphabet gives its own UTF-8 bytes (what HF's ByteLevel decoder does).
std::string token_text_to_bytes(const std::string& tok) {
  const ByteMap& bm = byte_map();
  std::string out;
  const auto* s = reinterpret_cast<const unsigned char*>(tok.data());
  size_t i = 0;
  while (i < tok.size()) {
    size_t sub = 0;
    if (utf8_seq(s, i, tok.size(), &sub) == 0) return tok;
    uint32_t cp;
    i += decode_cp(s, i, &cp);
    if (cp >= bm.from_cp.size() || bm.from_cp[cp] < 0) return tok;
    out.push_back(static_cast<char>(bm.from_cp[cp]));
  }
  return out;
}

struct MergeEntry {
  int32_t rank;
  int32_t new_id;
};

inline uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

}  // namespace

struct BpeTokenizer::Impl {
  std::vector<std::string> id_to_token;  // vocab text (byte-to-unicode alphabet)
  std::vector<std::string> id_bytes;     // what decode() writes per id
  std::unordered_map<std::string, int32_t> token_to_id;
  std::array<int32_t, 256> byte_id{};  // id of the single-byte token, -1 if absent
  std::unordered_map<uint64_t, MergeEntry> merges;
  std::vector<std::string> specials;  // longest first
  std::vector<int32_t> special_ids;
  std::array<bool, 256> special_first_byte{};

  // Word -> ids cache, shared across threads.
  static constexpr size_t kCacheCapacity = 1 << 17;
  static constexpr size_t kMaxCachedWord = 256;
  mutable std::mutex cache_mu;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;

  void bpe(std::string_view word, std::vector<int32_t>& out) const;
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;
  void encode_segment(std::string_view text, std::vector<int32_t>& out) const;
};

// HF tokenizers' Word::merge_all: repeatedly apply the lowest-rank (then leftmost) mergeable pair.
void BpeTokenizer::Impl::bpe(std::string_view word, std::vector<int32_t>& out) const {
  struct Sym {
    int32_t id;
    int prev, next;
    bool alive;
  };
  std::vector<Sym> syms;
  syms.reserve(word.size());
  for (unsigned char b : word) {
    const int32_t id = byte_id[b];
    if (id < 0) continue;  // HF drops characters missing from the vocab when there is no unk
    const int idx = static_cast<int>(syms.size());
    syms.push_back({id, idx - 1, idx + 1, true});
  }
  if (syms.empty()) return;
  syms.back().next = -1;
  if (syms.size() > 1) {
    struct Cand {
      int32_t rank;
      int pos;
      int32_t new_id;
    };
    auto worse = [](const Cand& a, const Cand& b) {
      return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
    };
    std::vector<Cand> heap;
    heap.reserve(syms.size());
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
      auto it = merges.find(pair_key(syms[i].id, syms[i + 1].id));
      if (it != merges.end()) heap.push_back({it->second.rank, static_cast<int>(i), it->second.new_id});
    }
    std::make_heap(heap.begin(), heap.end(), worse);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), worse);
      const Cand top = heap.back();
      heap.pop_back();
      Sym& cur = syms[top.pos];
      if (!cur.alive || cur.next < 0) continue;
      const int next_pos = cur.next;
      Sym& right = syms[next_pos];
      auto it = merges.find(pair_key(cur.id, right.id));
      if (it == merges.end() || it->second.new_id != top.new_id) continue;  // stale entry
      cur.id = top.new_id;
      cur.next = right.next;
      right.alive = false;
      if (right.next >= 0) syms[right.next].prev = top.pos;
      if (cur.prev >= 0) {
        auto m = merges.find(pair_key(syms[cur.prev].id, cur.id));
        if (m != merges.end()) {
          heap.push_back({m->second.rank, cur.prev, m->second.new_id});
          std::push_heap(heap.begin(), heap.end(), worse);
        }
      }
      if (cur.next >= 0) {
        auto m = merges.find(pair_key(cur.id, syms[cur.next].id));
        if (m != merges.end()) {
          heap.push_back({m->second.rank, top.pos, m->second.new_id});
          std::push_heap(heap.begin(), heap.end(), worse);
        }
      }
    }
  }
  for (int i = 0; i >= 0; i = syms[i].next) out.push_back(syms[i].id);
}

void BpeTokenizer::Impl::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.size() == 1) {
    const int32_t id = byte_id[static_cast<unsigned char>(word[0])];
    if (id >= 0) out.push_back(id);
    return;
  }
  const bool cacheable = word.size() <= kMaxCachedWord;
  std::string key;
  if (cacheable) {
    key.assign(word);
    std::lock_guard<std::mutex> lock(cache_mu);
    auto it = cache.find(key);
    if (it != cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t start = out.size();
  bpe(word, out);
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu);
    if (cache.size() < kCacheCapacity)
      cache.emplace(std::move(key), std::vector<int32_t>(out.begin() + static_cast<std::ptrdiff_t>(start), out.end()));
  }
}

// The GPT-2 pre-tokenizer regex, by hand, on valid UTF-8:
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
void BpeTokenizer::Impl::encode_segment(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  std::vector<uint32_t> cps;
  std::vector<uint8_t> cls;
  std::vector<uint32_t> off;
  cps.reserve(n);
  cls.reserve(n);
  off.reserve(n + 1);
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    const size_t len = decode_cp(s, i, &cp);
    cps.push_back(cp);
    cls.push_back(char_class(cp));
    off.push_back(static_cast<uint32_t>(i));
    i += len;
  }
  off.push_back(static_cast<uint32_t>(n));
  const size_t m = cps.size();

  size_t i = 0;
  while (i < m) {
    const uint32_t c = cps[i];
    size_t j = 0;
    // 's 't 're 've 'm 'll 'd (case-sensitive)
    if (c == '\'' && i + 1 < m) {
      const uint32_t c1 = cps[i + 1];
      if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
        j = i + 2;
      } else if (i + 2 < m) {
        const uint32_t c2 = cps[i + 2];
        if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) j = i + 3;
      }
    }
    if (j == 0) {
      if (c == ' ' && i + 1 < m && cls[i + 1] != kSpace) {
        // ' ?X+' with the space: X is the class of the next character.
        const uint8_t x = cls[i + 1];
        j = i + 2;
        while (j < m && cls[j] == x) ++j;
      } else if (cls[i] != kSpace) {
        const uint8_t x = cls[i];
        j = i + 1;
        while (j < m && cls[j] == x) ++j;
      } else {
        size_t k = i + 1;
        while (k < m && cls[k] == kSpace) ++k;
        if (k == m) {
          j = m;  // \s+(?!\S) at the end
        } else if (k - 1 > i) {
          j = k - 1;  // \s+(?!\S): leave the last space to the next word
        } else {
          j = k;  // \s+
        }
      }
    }
    encode_word(text.substr(off[i], off[j] - off[i]), out);
    i = j;
  }
}

BpeTokenizer::BpeTokenizer(std::vector<std::pair<std::string, int32_t>> vocab,
                           std::vector<std::pair<std::string, std::string>> merges,
                           std::vector<std::string> special_tokens, int32_t bos_id)
    : bos_id_(bos_id) {
  auto impl = std::make_shared<Impl>();
  const size_t n = vocab.size();
  if (n == 0) fail("tokenizer", "empty vocabulary");
  if (n > static_cast<size_t>(INT32_MAX)) fail("tokenizer", "vocabulary too large");
  impl->id_to_token.assign(n, std::string());
  std::vector<bool> seen(n, false);
  impl->token_to_id.reserve(n * 2);
  for (auto& [tok, id] : vocab) {
    if (tok.empty()) fail("tokenizer", "vocabulary has an empty token (id " + std::to_string(id) + ")");
    if (id < 0 || static_cast<size_t>(id) >= n)
      fail("tokenizer", "token '" + tok + "' has id " + std::to_string(id) + ", out of range [0, " +
                            std::to_string(n) + ")");
    if (seen[id]) fail("tokenizer", "duplicate id " + std::to_string(id) + " (token '" + tok + "')");
    seen[id] = true;
    if (!impl->token_to_id.emplace(tok, id).second) fail("tokenizer", "duplicate token '" + tok + "'");
    impl->id_to_token[id] = std::move(tok);
  }
  const ByteMap& bm = byte_map();
  for (int b = 0; b < 256; ++b) {
    auto it = impl->token_to_id.find(bm.to_utf8[b]);
    impl->byte_id[b] = it == impl->token_to_id.end() ? -1 : it->second;
  }
  // A merge whose parts or result are not in the vocabulary can never fire; it is ignored.
  // A pair listed twice takes its last rank (as HF's map construction does).
  impl->merges.reserve(merges.size() * 2);
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto& [a, b] = merges[r];
    if (a.empty() || b.empty()) fail("tokenizer", "merge " + std::to_string(r) + " has an empty part");
    auto ia = impl->token_to_id.find(a);
    auto ib = impl->token_to_id.find(b);
    auto iab = impl->token_to_id.find(a + b);
    if (ia == impl->token_to_id.end() || ib == impl->token_to_id.end() || iab == impl->token_to_id.end())
      continue;
    impl->merges[pair_key(ia->second, ib->second)] = MergeEntry{static_cast<int32_t>(r), iab->second};
  }
  std::unordered_set<std::string> special_set;
  for (auto& sp : special_tokens) {
    if (sp.empty()) fail("tokenizer", "empty special token");
    auto it = impl->token_to_id.find(sp);
    if (it == impl->token_to_id.end()) fail("tokenizer", "special token '" + sp + "' is not in the vocabulary");
    if (!special_set.insert(sp).second) continue;
    impl->specials.push_back(sp);
  }
  std::stable_sort(impl->specials.begin(), impl->specials.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  impl->id_bytes.resize(n);
  for (size_t id = 0; id < n; ++id) impl->id_bytes[id] = token_text_to_bytes(impl->id_to_token[id]);
  for (const std::string& sp : impl->specials) {
    const int32_t id = impl->token_to_id.at(sp);
    impl->special_ids.push_back(id);
    impl->special_first_byte[static_cast<unsigned char>(sp[0])] = true;
    impl->id_bytes[id] = sp;  // special tokens decode to their text
  }
  if (bos_id < 0 || static_cast<size_t>(bos_id) >= n)
    fail("tokenizer", "BOS id " + std::to_string(bos_id) + " out of range [0, " + std::to_string(n) + ")");
  impl_ = std::move(impl);
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool add_bos) const {
  const std::string clean = utf8_replace_invalid(text);
  const Impl& im = *impl_;
  std::vector<int32_t> ids;
  ids.reserve(clean.size() / 3 + 2);
  if (add_bos) ids.push_back(bos_id_);
  const std::string_view s(clean);
  size_t seg = 0;
  size_t i = 0;
  // Special tokens are matched leftmost-longest before pre-tokenization; the text between them
  // is pre-tokenized separately (as HF's added-token splitting does).
  while (i < s.size()) {
    if (im.special_first_byte[static_cast<unsigned char>(s[i])]) {
      size_t k = 0;
      for (; k < im.specials.size(); ++k)
        if (s.compare(i, im.specials[k].size(), im.specials[k]) == 0) break;
      if (k < im.specials.size()) {
        im.encode_segment(s.substr(seg, i - seg), ids);
        ids.push_back(im.special_ids[k]);
        i += im.specials[k].size();
        seg = i;
        continue;
      }
    }
    ++i;
  }
  im.encode_segment(s.substr(seg), ids);
  return ids;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= impl_->id_bytes.size())
      fail("tokenizer", "token id " + std::to_string(id) + " out of range [0, " +
                            std::to_string(impl_->id_bytes.size()) + ")");
    out += impl_->id_bytes[id];
  }
  return out;
}

std::string BpeTokenizer::token_bytes(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->id_bytes.size())
    fail("tokenizer", "token id " + std::to_string(id) + " out of range [0, " +
                          std::to_string(impl_->id_bytes.size()) + ")");
  return impl_->id_bytes[id];
}

int32_t BpeTokenizer::vocab_size() const { return static_cast<int32_t>(impl_->id_to_token.size()); }

std::string utf8_replace_invalid(std::string_view bytes) {
  static const char kReplacement[] = "\xEF\xBF\xBD";
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  std::string out;
  out.reserve(n);
  size_t i = 0;
  while (i < n) {
    // Copy runs of ASCII quickly.
    size_t j = i;
    while (j < n && s[j] < 0x80) ++j;
    out.append(bytes.data() + i, j - i);
    i = j;
    if (i >= n) break;
    size_t sub = 0;
    const size_t len = utf8_seq(s, i, n, &sub);
    if (len) {
      out.append(bytes.data() + i, len);
      i += len;
    } else {
      out.append(kReplacement, 3);
      i += sub;
    }
  }
  return out;
}

size_t utf8_first_invalid(std::string_view bytes) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  for (size_t i = 0; i < n;) {
    if (s[i] < 0x80) {
      ++i;
      continue;
    }
    size_t sub = 0;
    const size_t len = utf8_seq(s, i, n, &sub);
    if (!len) return i;
    i += len;
  }
  return std::string_view::npos;
}

}  // namespace rptq
