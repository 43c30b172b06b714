#include "hf/pickle_reader.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "rptq/error.h"

namespace rptq::hf::pickle {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Global: return "global";
    case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
  }
  return "?";
}

const StorageType* find_storage_type(const std::string& name) {
  static const StorageType types[] = {
      {"FloatStorage", 4},  {"HalfStorage", 2},   {"BFloat16Storage", 2},     {"DoubleStorage", 8},
      {"LongStorage", 8},   {"IntStorage", 4},    {"ShortStorage", 2},        {"CharStorage", 1},
      {"ByteStorage", 1},   {"BoolStorage", 1},   {"ComplexFloatStorage", 8}, {"ComplexDoubleStorage", 16},
      {"QInt8Storage", 1},  {"QUInt8Storage", 1}, {"QInt32Storage", 4},       {"QUInt4x2Storage", 1},
      {"QUInt2x4Storage", 1},
  };
  for (const auto& t : types)
    if (name == t.name) return &t;
  return nullptr;
}

namespace {

constexpr const char* kOrderedDict = "collections.OrderedDict";
constexpr const char* kRebuildTensorV2 = "torch._utils._rebuild_tensor_v2";
constexpr const char* kRebuildParameter = "torch._utils._rebuild_parameter";
constexpr const char* kRebuildParameterWithState = "torch._utils._rebuild_parameter_with_state";
constexpr const char* kTorchSize = "torch.Size";
constexpr size_t kMaxRank = 64;

bool allowed_global(const std::string& g) {
  if (g == kOrderedDict || g == kRebuildTensorV2 || g == kRebuildParameter || g == kRebuildParameterWithState ||
      g == kTorchSize)
    return true;
  return g.size() > 6 && g.compare(0, 6, "torch.") == 0 && find_storage_type(g.substr(6)) != nullptr;
}


}  // namespace

struct Unpickler::Impl {
  Impl(const uint8_t* d, size_t n, std::string w, std::string nm, Limits l)
      : data(d), size(n), where(std::move(w)), name(std::move(nm)), limits(l) {}
  const uint8_t* data;
  size_t size;
  std::string where, name;
  Limits limits;
  size_t pos = 0;
  size_t op_pos = 0;
  uint8_t op = 0;
  std::vector<std::unique_ptr<Value>> arena;
  std::vector<Value*> stack;
  std::vector<size_t> marks;
  std::unordered_map<uint64_t, Value*> memo;

  [[noreturn]] void bad(const std::string& problem) const {
    std::string opname;
    if (op >= 0x20 && op < 0x7f) {
      opname = std::string("'") + static_cast<char>(op) + "'";
    } else {
      static const char* hex = "0123456789abcdef";
      opname = std::string("0x") + hex[op >> 4] + hex[op & 15];
    }
    fail(where, "pickle " + name + " offset " + std::to_string(op_pos) + " (opcode " + opname + "): " + problem);
  }

  Value* make(Kind k) {
    if (arena.size() >= limits.max_values) bad("too many objects (more than " + std::to_string(limits.max_values) + ")");
    arena.push_back(std::make_unique<Value>(k));
    return arena.back().get();
  }

  const uint8_t* take(uint64_t n) {
    if (n > size - pos)
      bad("truncated pickle: needs " + std::to_string(n) + " more bytes, " + std::to_string(size - pos) + " left");
    const uint8_t* p = data + pos;
    pos += static_cast<size_t>(n);
    return p;
  }
  uint64_t le(size_t n) {
    const uint8_t* p = take(n);
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
    return v;
  }

  size_t floor() const { return marks.empty() ? 0 : marks.back(); }
  void push(Value* v) {
    if (stack.size() >= limits.max_stack) bad("stack too deep (more than " + std::to_string(limits.max_stack) + ")");
    stack.push_back(v);
  }
  Value* pop() {
    if (stack.size() <= floor()) bad("stack underflow (corrupt pickle)");
    Value* v = stack.back();
    stack.pop_back();
    return v;
  }
  Value* top() {
    if (stack.size() <= floor()) bad("stack underflow (corrupt pickle)");
    return stack.back();
  }
  std::vector<Value*> pop_mark() {
    if (marks.empty()) bad("no MARK on the stack (corrupt pickle)");
    size_t k = marks.back();
    marks.pop_back();
    std::vector<Value*> items(stack.begin() + static_cast<std::ptrdiff_t>(k), stack.end());
    stack.resize(k);
    return items;
  }
  void memo_put(uint64_t key) {
    Value* v = top();
    if (memo.size() >= limits.max_memo && memo.find(key) == memo.end())
      bad("memo too large (more than " + std::to_string(limits.max_memo) + " entries)");
    memo[key] = v;
  }
  void memo_get(uint64_t key) {
    auto it = memo.find(key);
    if (it == memo.end()) bad("memo key " + std::to_string(key) + " was never stored (corrupt pickle)");
    push(it->second);
  }
  void push_int(int64_t v) {
    Value* x = make(Kind::Int);
    x->i = v;
    push(x);
  }
  void push_str(Kind k, uint64_t n) {
    const uint8_t* p = take(n);
    Value* x = make(k);
    x->s.assign(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
    push(x);
  }
  std::string read_line() {
    const void* nl = std::memchr(data + pos, '\n', size - pos);
    if (!nl) bad("truncated pickle: unterminated GLOBAL name");
    size_t n = static_cast<size_t>(static_cast<const uint8_t*>(nl) - (data + pos));
    std::string s(reinterpret_cast<const char*>(data + pos), n);
    pos += n + 1;
    return s;
  }
  void push_global(const std::string& module, const std::string& attr) {
    std::string g = module + "." + attr;
    if (!allowed_global(g))
      bad("global '" + printable(g) +
          "' is not allowed (only torch tensor/storage rebuilders and collections.OrderedDict are; "
          "the file may be malicious or not a plain state dict)");
    Value* x = make(Kind::Global);
    x->s = std::move(g);
    push(x);
  }

  static bool is_seq(const Value* v) { return v->kind == Kind::Tuple || v->kind == Kind::List; }

  std::vector<int64_t> int_seq(const Value* v, const char* what) {
    if (!is_seq(v)) bad(std::string("_rebuild_tensor_v2: ") + what + " is a " + kind_name(v->kind) + ", not a tuple");
    if (v->items.size() > kMaxRank)
      bad(std::string("_rebuild_tensor_v2: ") + what + " has " + std::to_string(v->items.size()) + " dimensions");
    std::vector<int64_t> out;
    for (const Value* e : v->items) {
      if (e->kind != Kind::Int) bad(std::string("_rebuild_tensor_v2: ") + what + " holds a " + kind_name(e->kind));
      out.push_back(e->i);
    }
    return out;
  }

  Value* call(const Value* fn, const Value* args) {
    const std::string& g = fn->s;
    const auto& a = args->items;
    if (g == kOrderedDict) {
      if (!a.empty()) bad("collections.OrderedDict called with arguments (only OrderedDict() is supported)");
      return make(Kind::Dict);
    }
    if (g == kTorchSize) {
      if (a.size() != 1 || !is_seq(a[0])) bad("torch.Size expects one tuple argument");
      Value* t = make(Kind::Tuple);
      t->items = a[0]->items;
      return t;
    }
    if (g == kRebuildTensorV2) {
      if (a.size() != 6 && a.size() != 7)
        bad("_rebuild_tensor_v2 expects 6 or 7 arguments, got " + std::to_string(a.size()));
      if (a[0]->kind != Kind::Storage) bad(std::string("_rebuild_tensor_v2: storage argument is a ") + kind_name(a[0]->kind));
      if (a[1]->kind != Kind::Int) bad(std::string("_rebuild_tensor_v2: storage offset is a ") + kind_name(a[1]->kind));
      Value* t = make(Kind::Tensor);
      t->items.push_back(a[0]);
      t->i = a[1]->i;
      t->shape = int_seq(a[2], "size");
      t->strides = int_seq(a[3], "stride");
      if (t->shape.size() != t->strides.size())
        bad("_rebuild_tensor_v2: size has " + std::to_string(t->shape.size()) + " dimensions but stride has " +
            std::to_string(t->strides.size()));
      return t;
    }
    if (g == kRebuildParameter || g == kRebuildParameterWithState) {
      const size_t want = g == kRebuildParameter ? 3 : 4;
      if (a.size() != want) bad(g + " expects " + std::to_string(want) + " arguments, got " + std::to_string(a.size()));
      if (a[0]->kind != Kind::Tensor) bad(g + ": data argument is a " + kind_name(a[0]->kind) + ", not a tensor");
      return a[0];
    }
    bad("global '" + printable(g) + "' cannot be called");
  }

  Value* persistent_load(const Value* pid) {
    if (pid->kind != Kind::Tuple) bad(std::string("persistent id is a ") + kind_name(pid->kind) + ", not a tuple");
    const auto& t = pid->items;
    if (t.size() != 5 || t[0]->kind != Kind::Str || t[0]->s != "storage")
      bad("persistent id is not ('storage', type, key, location, numel)");
    if (t[1]->kind != Kind::Global || find_storage_type(t[1]->s.substr(std::min<size_t>(6, t[1]->s.size()))) == nullptr)
      bad("persistent id: storage type is not a torch storage class");
    if (t[2]->kind != Kind::Str && t[2]->kind != Kind::Int) bad("persistent id: storage key is not a string");
    if (t[4]->kind != Kind::Int || t[4]->i < 0) bad("persistent id: numel is not a non-negative integer");
    Value* s = make(Kind::Storage);
    s->s = t[2]->kind == Kind::Str ? t[2]->s : std::to_string(t[2]->i);
    s->s2 = t[1]->s.substr(6);
    s->i = t[4]->i;
    return s;
  }

  const Value* run() {
    while (true) {
      if (pos >= size) bad("truncated pickle: no STOP opcode");
      op_pos = pos;
      op = data[pos++];
      switch (op) {
        case 0x80: {  // PROTO
          uint64_t p = le(1);
          if (p > 5) bad("unsupported pickle protocol " + std::to_string(p));
          break;
        }
        case 0x95: le(8); break;  // FRAME: frames are only a buffering hint
        case '.': return pop();   // STOP
        case '(':                 // MARK
          if (marks.size() >= limits.max_marks) bad("too many nested MARKs");
          marks.push_back(stack.size());
          break;
        case '0': pop(); break;       // POP
        case '1': pop_mark(); break;  // POP_MARK
        case '2': push(top()); break; // DUP
        case 'N': push(make(Kind::None)); break;
        case 0x88:
        case 0x89: {
          Value* v = make(Kind::Bool);
          v->b = op == 0x88;
          push(v);
          break;
        }
        case 'J': push_int(static_cast<int32_t>(static_cast<uint32_t>(le(4)))); break;  // BININT
        case 'K': push_int(static_cast<int64_t>(le(1))); break;                         // BININT1
        case 'M': push_int(static_cast<int64_t>(le(2))); break;                         // BININT2
        case 0x8a:    // LONG1
        case 0x8b: {  // LONG4
          uint64_t n = op == 0x8a ? le(1) : le(4);
          if (n > 8) bad("integer of " + std::to_string(n) + " bytes is too large");
          const uint8_t* p = take(n);
          uint64_t v = 0;
          for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
          if (n > 0 && n < 8 && (p[n - 1] & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign-extend
          push_int(static_cast<int64_t>(v));
          break;
        }
        case 'G': {  // BINFLOAT, big-endian
          const uint8_t* p = take(8);
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
          Value* v = make(Kind::Float);
          std::memcpy(&v->f, &bits, 8);
          push(v);
          break;
        }
        case 'X': push_str(Kind::Str, le(4)); break;     // BINUNICODE
        case 0x8c: push_str(Kind::Str, le(1)); break;    // SHORT_BINUNICODE
        case 0x8d: push_str(Kind::Str, le(8)); break;    // BINUNICODE8
        case 'U': push_str(Kind::Str, le(1)); break;     // SHORT_BINSTRING
        case 'T': {                                      // BINSTRING (signed length)
          int32_t n = static_cast<int32_t>(static_cast<uint32_t>(le(4)));
          if (n < 0) bad("negative BINSTRING length");
          push_str(Kind::Str, static_cast<uint64_t>(n));
          break;
        }
        case 'B': push_str(Kind::Bytes, le(4)); break;   // BINBYTES
        case 'C': push_str(Kind::Bytes, le(1)); break;   // SHORT_BINBYTES
        case 0x8e: push_str(Kind::Bytes, le(8)); break;  // BINBYTES8
        case 'c': {                                      // GLOBAL
          std::string module = read_line();
          std::string attr = read_line();
          push_global(module, attr);
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          Value* attr = pop();
          Value* module = pop();
          if (module->kind != Kind::Str || attr->kind != Kind::Str) bad("STACK_GLOBAL operands are not strings");
          push_global(module->s, attr->s);
          break;
        }
        case '}': push(make(Kind::Dict)); break;
        case ']': push(make(Kind::List)); break;
        case ')': push(make(Kind::Tuple)); break;
        case 't':
        case 'l': {  // TUPLE, LIST
          Value* v = make(op == 't' ? Kind::Tuple : Kind::List);
          v->items = pop_mark();
          push(v);
          break;
        }
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
          const size_t n = static_cast<size_t>(op - 0x84);
          if (stack.size() < floor() + n) bad("stack underflow (corrupt pickle)");
          Value* v = make(Kind::Tuple);
          v->items.assign(stack.end() - static_cast<std::ptrdiff_t>(n), stack.end());
          stack.resize(stack.size() - n);
          push(v);
          break;
        }
        case 'd': {  // DICT
          auto items = pop_mark();
          if (items.size() % 2) bad("DICT with an odd number of items");
          Value* v = make(Kind::Dict);
          for (size_t i = 0; i < items.size(); i += 2) v->dict.emplace_back(items[i], items[i + 1]);
          push(v);
          break;
        }
        case 'q': memo_put(le(1)); break;           // BINPUT
        case 'r': memo_put(le(4)); break;           // LONG_BINPUT
        case 0x94: memo_put(memo.size()); break;    // MEMOIZE
        case 'h': memo_get(le(1)); break;           // BINGET
        case 'j': memo_get(le(4)); break;           // LONG_BINGET
        case 'a': {                                 // APPEND
          Value* v = pop();
          Value* list = top();
          if (list->kind != Kind::List) bad(std::string("APPEND to a ") + kind_name(list->kind));
          list->items.push_back(v);
          break;
        }
        case 'e': {  // APPENDS
          auto items = pop_mark();
          Value* list = top();
          if (list->kind != Kind::List) bad(std::string("APPENDS to a ") + kind_name(list->kind));
          list->items.insert(list->items.end(), items.begin(), items.end());
          break;
        }
        case 's': {  // SETITEM
          Value* v = pop();
          Value* k = pop();
          Value* d = top();
          if (d->kind != Kind::Dict) bad(std::string("SETITEM on a ") + kind_name(d->kind));
          d->dict.emplace_back(k, v);
          break;
        }
        case 'u': {  // SETITEMS
          auto items = pop_mark();
          if (items.size() % 2) bad("SETITEMS with an odd number of items");
          Value* d = top();
          if (d->kind != Kind::Dict) bad(std::string("SETITEMS on a ") + kind_name(d->kind));
          for (size_t i = 0; i < items.size(); i += 2) d->dict.emplace_back(items[i], items[i + 1]);
          break;
        }
        case 'b': {  // BUILD: object state (e.g. a state dict's _metadata) is not needed; drop it
          pop();
          Value* obj = top();
          if (obj->kind != Kind::Dict && obj->kind != Kind::Tensor)
            bad(std::string("BUILD on a ") + kind_name(obj->kind));
          break;
        }
        case 'R': {  // REDUCE
          Value* args = pop();
          Value* fn = pop();
          if (fn->kind != Kind::Global) bad(std::string("REDUCE calls a ") + kind_name(fn->kind) + ", not a global");
          if (args->kind != Kind::Tuple) bad(std::string("REDUCE arguments are a ") + kind_name(args->kind) + ", not a tuple");
          push(call(fn, args));
          break;
        }
        case 'Q': push(persistent_load(pop())); break;  // BINPERSID
        default: bad("unsupported pickle opcode");
      }
    }
  }
};

Unpickler::Unpickler(const uint8_t* data, size_t size, std::string where, std::string name, Limits limits)
    : impl_(std::make_unique<Impl>(data, size, std::move(where), std::move(name), limits)) {}
Unpickler::~Unpickler() = default;

const Value* Unpickler::run() { return impl_->run(); }

std::string printable(const std::string& s, size_t max) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    unsigned char u = static_cast<unsigned char>(s[i]);
    if (u >= 0x20 && u < 0x7f) {
      out += s[i];
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace rptq::hf::pickle
