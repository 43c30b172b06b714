// read_torch_bin against real torch.save output (generated at test time by the oracle Python),
// hand-crafted hostile pickles and corrupted archives. Every failure must be an rptq::Error
// naming the file; every success must hand out views that lie inside the mapping.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <sstream>

#include "hf/pickle_reader.h"
#include "hf/tensor_ref.h"
#include "hf/torch_bin_reader.h"
#include "hf/zip_archive.h"
#include "rptq/error.h"
#include "test_util.h"

using rptq::Error;
using rptq::hf::DType;
using rptq::hf::TensorMap;
using rptq::hf::TensorRef;
using rptq::test::read_file;
using rptq::test::write_file;

namespace {

const char* kGenerator = R"PY(
import collections, os, pickle, struct, sys, zipfile
import torch

out = sys.argv[1]
torch.manual_seed(1234)
OD = collections.OrderedDict


def p(name):
    return os.path.join(out, name)


def manifest(sd, fname, tag):
    with open(p(fname), "w") as m:
        for name, t in sd.items():
            t = t.detach()
            m.write("%s %s %d %s %s %d\n" % (name, str(t.dtype).replace("torch.", ""), t.dim(),
                                            " ".join(str(s) for s in t.shape) or "-",
                                            " ".join(str(s) for s in t.stride()) or "-", t.storage_offset()))
            if t.is_floating_point():
                with open(p("%s.%s.f32" % (tag, name)), "wb") as f:
                    f.write(t.float().contiguous().numpy().astype("<f4").tobytes())


# 1. A state dict exercising dtypes, views, shared storages and odd shapes.
sd = OD()
sd["f32"] = torch.randn(3, 5)
sd["f16"] = torch.randn(4, 6).half()
sd["bf16"] = torch.randn(2, 7).bfloat16()
base = torch.randn(6, 4)
sd["transposed"] = base.t()            # strides (1, 4)
sd["slice"] = base[2:, 1:3]            # same storage as 'transposed', offset 9
sd["embed.weight"] = torch.randn(5, 3)
sd["lm_head.weight"] = sd["embed.weight"]   # tied weights: one storage
sd["ids"] = torch.arange(7, dtype=torch.int64)
sd["scalar"] = torch.tensor(2.5)
sd["empty"] = torch.zeros(0, 3)
sd["param"] = torch.nn.Parameter(torch.randn(3))
sd["half_t"] = torch.randn(3, 4).half().t()
sd["bf16_col"] = torch.randn(4, 5).bfloat16()[:, 2]   # 1-D, stride 5, offset 2
torch.save(sd, p("pytorch_model.bin"))
manifest(sd, "basic.txt", "basic")

# 2. nn.Module.state_dict(): an OrderedDict carrying a _metadata attribute (pickled via BUILD).
m = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
msd = m.state_dict()
assert hasattr(msd, "_metadata")
torch.save(msd, p("module.bin"))
manifest(msd, "module.txt", "module")

# 3. Formats we refuse.
torch.save(OD(a=torch.ones(2)), p("legacy.bin"), _use_new_zipfile_serialization=False)
torch.save({"state_dict": OD(a=torch.ones(2))}, p("nested.bin"))


def write_zip(path, files, compression=zipfile.ZIP_STORED, comment=b""):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in files:
            z.writestr(name, data)
        z.comment = comment


def entries(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


write_zip(p("evil.bin"), [("archive/data.pkl", pickle.dumps(OD(x=Evil()), protocol=2)),
                          ("archive/version", b"3\n")])

# 4. Hand-made tensors pointing at a 6-element float storage '0' (values 0..5).
class FakeStorage:
    def __init__(self, key, numel, typ=torch.FloatStorage):
        self.key, self.numel, self.typ = key, numel, typ


class FakeTensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride)

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args + (False, OD()))


class P(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", obj.typ, obj.key, "cpu", obj.numel)
        return None


def crafted(name, tensors, protocol=2, storages=(("0", struct.pack("<6f", 0, 1, 2, 3, 4, 5)),)):
    import io
    buf = io.BytesIO()
    P(buf, protocol=protocol).dump(OD(tensors))
    files = [("archive/data.pkl", buf.getvalue())]
    files += [("archive/data/" + k, v) for k, v in storages]
    files.append(("archive/version", b"3\n"))
    write_zip(p(name + ".bin"), files)


S = FakeStorage("0", 6)
crafted("ok_proto2", {"t": FakeTensor(S, 1, (2, 2), (1, 2)), "u": FakeTensor(S, 5, (), ())})
crafted("ok_proto4", {"t": FakeTensor(S, 1, (2, 2), (1, 2)), "u": FakeTensor(S, 5, (), ())}, protocol=4)
crafted("ok_proto5", {"t": FakeTensor(S, 0, (3, 2), (2, 1))}, protocol=5)
crafted("too_big", {"t": FakeTensor(S, 0, (3, 3), (3, 1))})
crafted("offset_past", {"t": FakeTensor(S, 1, (2, 3), (3, 1))})
crafted("empty_offset_past", {"t": FakeTensor(S, 7, (0,), (1,))})
crafted("neg_stride", {"t": FakeTensor(S, 5, (2, 3), (-3, 1))})
crafted("neg_size", {"t": FakeTensor(S, 0, (-1, 3), (3, 1))})
crafted("neg_offset", {"t": FakeTensor(S, -1, (2,), (1,))})
crafted("huge_stride", {"t": FakeTensor(S, 0, (2, 3), (2 ** 62, 1))})
crafted("max_stride", {"t": FakeTensor(S, 0, (3, 3), (2 ** 63 - 1, 2 ** 63 - 1))})
crafted("huge_numel", {"t": FakeTensor(S, 0, (2 ** 31, 2 ** 31), (0, 0))})
crafted("rank_mismatch", {"t": FakeTensor(S, 0, (2, 3), (1,))})
crafted("numel_mismatch", {"t": FakeTensor(FakeStorage("0", 7), 0, (2,), (1,))})
crafted("missing_storage", {"t": FakeTensor(FakeStorage("1", 6), 0, (2,), (1,))})
crafted("not_a_tensor", {"t": 3})
crafted("long_storage", {"t": FakeTensor(FakeStorage("0", 3, torch.LongStorage), 0, (3,), (1,))})

# 5. Container variants of the basic checkpoint.
base_entries = entries(p("pytorch_model.bin"))
write_zip(p("deflated.bin"), base_entries, zipfile.ZIP_DEFLATED)
write_zip(p("comment.bin"), base_entries, comment=b"a zip comment with PK\x05\x06 inside")
write_zip(p("no_pkl.bin"), [(n, d) for n, d in base_entries if not n.endswith("data.pkl")])


def zip64(path, files):
    """Every size and offset in ZIP64 extra fields; ZIP64 end-of-central-directory record."""
    body, central = b"", b""
    for name, data in files:
        name = name.encode()
        crc = zipfile.crc32(data) & 0xFFFFFFFF
        off = len(body)
        lextra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                            len(name), len(lextra)) + name + lextra + data
        cextra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), off)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF,
                               0xFFFFFFFF, len(name), len(cextra), 0, 0, 0, 0, 0xFFFFFFFF) + name + cextra
    cd_off = len(body)
    rec_off = cd_off + len(central)
    n = len(files)
    rec = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central), cd_off)
    loc = struct.pack("<IIQI", 0x07064B50, 0, rec_off, 1)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    with open(path, "wb") as f:
        f.write(body + central + rec + loc + eocd)
    with zipfile.ZipFile(path) as z:  # sanity: Python agrees it is a valid zip
        assert z.testzip() is None


zip64(p("zip64.bin"), [("archive/" + n.split("/", 1)[1], d) for n, d in base_entries])
print("ok")
)PY";

// Fixtures are generated once and shared by every test process (ctest runs each TEST_CASE in its
// own process; importing torch takes a couple of seconds): they live in a temp directory named
// after a hash of the generator and the interpreter, created atomically by rename. Scratch files
// (mutated copies) go to a per-process directory.
struct Fixtures {
  std::string dir;
  rptq::test::TempDir scratch;
  bool ok = false;
  std::string why;
  std::string operator()(const std::string& name) const { return dir + "/" + name; }
};

const Fixtures* fixtures() {
  static std::unique_ptr<Fixtures> fx = [] {
    namespace fs = std::filesystem;
    auto f = std::make_unique<Fixtures>();
#ifdef RPTQ_PYTHON
    const std::string python = RPTQ_PYTHON;
#else
    const std::string python;
#endif
    if (python.empty() || !fs::exists(python)) {
      f->why = "oracle python '" + python + "' not found";
      return f;
    }
    std::ostringstream name;
    name << "rptq-torch-bin-fixtures-" << std::hex << std::hash<std::string>{}(python + '\n' + kGenerator);
    f->dir = (fs::temp_directory_path() / name.str()).string();
    if (!fs::exists(f->dir + "/done")) {
      std::string tmp = f->dir + ".tmpXXXXXX";
      if (!mkdtemp(tmp.data())) {
        f->why = "mkdtemp failed";
        return f;
      }
      write_file(tmp + "/gen.py", kGenerator);
      const std::string cmd =
          "'" + python + "' '" + tmp + "/gen.py' '" + tmp + "' > '" + tmp + "/gen.log' 2>&1";
      if (std::system(cmd.c_str()) != 0) {
        f->why = "fixture generator failed:\n" + read_file(tmp + "/gen.log");
        std::error_code ec;
        fs::remove_all(tmp, ec);
        return f;
      }
      write_file(tmp + "/done", "");
      std::error_code ec;
      fs::rename(tmp, f->dir, ec);  // fails harmlessly if a concurrent process got there first
      if (ec) fs::remove_all(tmp, ec);
      if (!fs::exists(f->dir + "/done")) {
        f->why = "could not create " + f->dir;
        return f;
      }
    }
    f->ok = true;
    return f;
  }();
  return fx.get();
}

#define REQUIRE_FIXTURES(fx)                                 \
  const Fixtures* fx = fixtures();                           \
  if (!fx->ok) {                                             \
    WARN("skipping: " << fx->why);                           \
    return;                                                  \
  }

size_t elem_size(const TensorRef& t) {
  const auto* st = rptq::hf::pickle::find_storage_type(t.dtype_text);
  REQUIRE(st != nullptr);
  return st->elem_size;
}

// Every element the view can address lies inside [lo, hi) (by default: the mapped file).
void check_in_bounds(const TensorRef& t, const uint8_t* lo = nullptr, const uint8_t* hi = nullptr) {
  if (!lo) {
    REQUIRE(t.file);
    lo = t.file->data();
    hi = lo + t.file->size();
  }
  REQUIRE(t.shape.size() == t.strides.size());
  int64_t last = 0;
  for (size_t d = 0; d < t.shape.size(); ++d) {
    REQUIRE(t.shape[d] >= 0);
    REQUIRE(t.strides[d] >= 0);
    if (t.shape[d] == 0) return;
    last += (t.shape[d] - 1) * t.strides[d];
  }
  REQUIRE(t.data >= lo);
  REQUIRE(t.data <= hi);
  REQUIRE(static_cast<uint64_t>(last + 1) * elem_size(t) <= static_cast<uint64_t>(hi - t.data));
}

// Reads `path`; on failure the error must name the file. Returns true on success.
bool read_or_clean_error(const std::string& path, TensorMap& m) {
  try {
    rptq::hf::read_torch_bin(path, m);
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find(path) != std::string::npos);
    return false;
  }
  for (const auto& [name, t] : m) check_in_bounds(t);
  return true;
}

// The same through the in-memory entry point, over a heap copy of exactly `bytes.size()` bytes, so
// that AddressSanitizer sees any read past the end (it cannot see past the end of a mapping).
bool heap_read_or_clean_error(const std::string& bytes, const std::string& path) {
  std::unique_ptr<uint8_t[]> buf(new uint8_t[bytes.size()]);
  if (!bytes.empty()) std::memcpy(buf.get(), bytes.data(), bytes.size());
  TensorMap m;
  try {
    rptq::hf::detail::read_torch_bin_bytes(buf.get(), bytes.size(), path, nullptr, m);
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find(path) != std::string::npos);
    return false;
  }
  for (const auto& [name, t] : m) {
    check_in_bounds(t, buf.get(), buf.get() + bytes.size());
    if (t.dtype != DType::Unsupported) (void)rptq::hf::to_f32(t);  // touches every element
  }
  return true;
}

// Both entry points must agree on success/failure.
bool read_both(const std::string& bytes, const std::string& path) {
  write_file(path, bytes);
  TensorMap m;
  const bool ok = read_or_clean_error(path, m);
  CHECK(heap_read_or_clean_error(bytes, path) == ok);
  return ok;
}

std::string error_of(const std::string& path) {
  TensorMap m;
  try {
    rptq::hf::read_torch_bin(path, m);
  } catch (const Error& e) {
    std::string msg = e.what();
    CHECK(msg.find(path) != std::string::npos);
    return msg;
  }
  FAIL("expected rptq::Error reading " << path);
  return {};
}

std::vector<float> floats_of(const std::string& path) {
  std::string bytes = read_file(path);
  REQUIRE(bytes.size() % 4 == 0);
  std::vector<float> v(bytes.size() / 4);
  if (!bytes.empty()) std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
}

DType dtype_of(const std::string& torch_name) {
  if (torch_name == "float32") return DType::F32;
  if (torch_name == "float16") return DType::F16;
  if (torch_name == "bfloat16") return DType::BF16;
  return DType::Unsupported;
}

std::vector<int64_t> ints(std::istringstream& is, int n) {
  std::vector<int64_t> v;
  if (n == 0) {
    std::string dash;
    is >> dash;
  }
  for (int i = 0; i < n; ++i) {
    int64_t x;
    is >> x;
    v.push_back(x);
  }
  return v;
}

// Compares every tensor of `m` against the manifest and value files Python wrote.
void check_against_manifest(const Fixtures& fx, const TensorMap& m, const std::string& manifest, const std::string& tag) {
  std::istringstream lines(read_file(fx(manifest)));
  std::string line;
  size_t count = 0;
  while (std::getline(lines, line)) {
    std::istringstream is(line);
    std::string name, dtype;
    int rank = 0;
    int64_t offset = 0;
    is >> name >> dtype >> rank;
    auto shape = ints(is, rank);
    auto strides = ints(is, rank);
    is >> offset;
    INFO("tensor " << name);
    auto it = m.find(name);
    REQUIRE(it != m.end());
    const TensorRef& t = it->second;
    ++count;
    CHECK(t.name == name);
    CHECK(t.dtype == dtype_of(dtype));
    CHECK(t.shape == shape);
    CHECK(t.strides == strides);
    check_in_bounds(t);
    if (t.dtype != DType::Unsupported) {
      CHECK(same_bits(rptq::hf::to_f32(t), floats_of(fx(tag + "." + name + ".f32"))));
    }
  }
  CHECK(count == m.size());
}

}  // namespace

TEST_CASE("torch.save state dict: dtypes, views, shared storages, buffers", "[torch_bin]") {
  REQUIRE_FIXTURES(fx);
  const std::string path = (*fx)("pytorch_model.bin");
  TensorMap m;
  rptq::hf::read_torch_bin(path, m);
  REQUIRE(m.size() == 13);
  check_against_manifest(*fx, m, "basic.txt", "basic");

  // Tied weights share one storage: both views point at the same bytes.
  CHECK(m.at("embed.weight").data == m.at("lm_head.weight").data);
  // 'slice' = base[2:, 1:3] and 'transposed' = base.t() view one storage; offset 9 floats.
  CHECK(m.at("slice").data == m.at("transposed").data + 9 * 4);
  CHECK_FALSE(m.at("transposed").contiguous());
  CHECK(m.at("f32").contiguous());
  CHECK(m.at("scalar").shape.empty());
  CHECK(m.at("scalar").numel() == 1);
  CHECK(m.at("empty").numel() == 0);

  // The int64 buffer loads as Unsupported with its bytes still in place.
  const TensorRef& ids = m.at("ids");
  CHECK(ids.dtype == DType::Unsupported);
  CHECK(ids.dtype_text == "LongStorage");
  for (int64_t i = 0; i < 7; ++i) {
    int64_t v;
    std::memcpy(&v, ids.data + 8 * i, 8);
    CHECK(v == i);
  }
  CHECK_THROWS_AS(rptq::hf::to_f32(ids), Error);

  // Storages are 64-byte aligned in the file, so the first element of each is aligned too.
  CHECK(reinterpret_cast<uintptr_t>(m.at("f32").data) % 64 == 0);

  // Reading the same tensors again into the same map is a duplicate-name error.
  std::string msg;
  try {
    rptq::hf::read_torch_bin(path, m);
  } catch (const Error& e) {
    msg = e.what();
  }
  CHECK(msg.find("more than one file") != std::string::npos);
  CHECK(msg.find(path) != std::string::npos);
}

TEST_CASE("torch.save of nn.Module.state_dict() (OrderedDict with _metadata)", "[torch_bin]") {
  REQUIRE_FIXTURES(fx);
  TensorMap m;
  rptq::hf::read_torch_bin((*fx)("module.bin"), m);
  REQUIRE(m.size() == 4);
  check_against_manifest(*fx, m, "module.txt", "module");
}

TEST_CASE("ZIP64 archives, 'archive/' prefix and zip comments read like the original", "[torch_bin]") {
  REQUIRE_FIXTURES(fx);
  TensorMap ref;
  rptq::hf::read_torch_bin((*fx)("pytorch_model.bin"), ref);
  for (const char* variant : {"zip64.bin", "comment.bin"}) {
    INFO(variant);
    TensorMap m;
    rptq::hf::read_torch_bin((*fx)(variant), m);
    REQUIRE(m.size() == ref.size());
    for (const auto& [name, t] : ref) {
      INFO(name);
      const TensorRef& u = m.at(name);
      CHECK(u.dtype == t.dtype);
      CHECK(u.shape == t.shape);
      CHECK(u.strides == t.strides);
      check_in_bounds(u);
      if (t.dtype != DType::Unsupported) CHECK(same_bits(rptq::hf::to_f32(u), rptq::hf::to_f32(t)));
    }
  }
}

TEST_CASE("hand-made pickles of protocols 2, 4 and 5", "[torch_bin]") {
  REQUIRE_FIXTURES(fx);
  for (const char* f : {"ok_proto2.bin", "ok_proto4.bin"}) {
    INFO(f);
    TensorMap m;
    rptq::hf::read_torch_bin((*fx)(f), m);
    REQUIRE(m.size() == 2);
    // t = storage[1:5] viewed as 2x2 with strides (1, 2): [[1, 3], [2, 4]]
    CHECK(rptq::hf::to_f32(m.at("t")) == std::vector<float>{1, 3, 2, 4});
    CHECK(rptq::hf::to_f32(m.at("u")) == std::vector<float>{5});
  }
  TensorMap m;
  rptq::hf::read_torch_bin((*fx)("ok_proto5.bin"), m);
  CHECK(rptq::hf::to_f32(m.at("t")) == std::vector<float>{0, 1, 2, 3, 4, 5});
  TensorMap l;
  rptq::hf::read_torch_bin((*fx)("long_storage.bin"), l);
  CHECK(l.at("t").dtype == DType::Unsupported);
}

TEST_CASE("refused formats and hostile or inconsistent contents", "[torch_bin]") {
  REQUIRE_FIXTURES(fx);
  struct Case {
    const char* file;
    const char* needle;
  };
  const Case cases[] = {
      {"legacy.bin", "legacy torch.save format"},
      {"nested.bin", "'state_dict' is a dict"},
      {"evil.bin", "global 'posix.system' is not allowed"},
      {"deflated.bin", "compressed"},
      {"no_pkl.bin", "no '<name>/data.pkl' entry"},
      {"too_big.bin", "address element 8 but storage '0' has only 6 elements"},
      {"offset_past.bin", "address element 6"},
      {"empty_offset_past.bin", "storage offset 7"},
      {"neg_stride.bin", "negative stride"},
      {"neg_size.bin", "negative size"},
      {"neg_offset.bin", "negative storage offset"},
      {"huge_stride.bin", "address element"},
      {"max_stride.bin", "overflows"},
      {"huge_numel.bin", "too many elements"},
      {"rank_mismatch.bin", "stride has 1"},
      {"numel_mismatch.bin", "declared as 7 elements"},
      {"missing_storage.bin", "storage '1' is missing"},
      {"not_a_tensor.bin", "'t' is a int, not a tensor"},
  };
  for (const Case& c : cases) {
    INFO(c.file);
    std::string msg = error_of((*fx)(c.file));
    INFO(msg);
    CHECK(msg.find(c.needle) != std::string::npos);
  }
  CHECK(error_of((*fx)("does-not-exist.bin")).find("cannot open") != std::string::npos);
}

TEST_CASE("every fixture reads the same from memory as from its mapping", "[torch_bin]") {
  REQUIRE_FIXTURES(fx);
  for (const auto& e : std::filesystem::directory_iterator(fx->dir)) {
    if (e.path().extension() != ".bin") continue;
    INFO(e.path());
    const std::string bytes = read_file(e.path().string());
    TensorMap m;
    CHECK(read_or_clean_error(e.path().string(), m) == heap_read_or_clean_error(bytes, e.path().string()));
  }
}

TEST_CASE("truncated checkpoints fail cleanly", "[torch_bin]") {
  REQUIRE_FIXTURES(fx);
  const std::string bytes = read_file((*fx)("pytorch_model.bin"));
  const std::string path = fx->scratch.file("truncated.bin");
  std::vector<size_t> lengths;
  for (size_t i = 0; i < 50; ++i) lengths.push_back(bytes.size() * i / 50);
  for (size_t i = 1; i <= 100 && i <= bytes.size(); ++i) lengths.push_back(bytes.size() - i);
  for (size_t n : lengths) {
    INFO("truncated to " << n << " of " << bytes.size() << " bytes");
    CHECK_FALSE(read_both(bytes.substr(0, n), path));
  }
}

namespace {

// Offsets of the central directory and of data.pkl's bytes in a zip produced by torch.save.
struct Layout {
  size_t cd_begin, cd_end, pkl_begin, pkl_end;
};

Layout layout_of(const std::string& bytes) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  rptq::hf::ZipArchive zip(p, bytes.size(), "layout");
  Layout l{};
  size_t data_end = 0;
  for (const auto& e : zip.entries()) {
    data_end = std::max<size_t>(data_end, e.data_offset + e.size);
    if (e.name.size() >= 8 && e.name.compare(e.name.size() - 8, 8, "data.pkl") == 0) {
      l.pkl_begin = e.data_offset;
      l.pkl_end = e.data_offset + e.size;
    }
  }
  // The central directory starts at the first central header signature after the last data.
  const std::string sig("PK\x01\x02", 4);
  l.cd_begin = bytes.find(sig, data_end);
  l.cd_end = bytes.size();
  return l;
}

}  // namespace

TEST_CASE("flipped bytes in the central directory and the pickle never escape", "[torch_bin]") {
  REQUIRE_FIXTURES(fx);
  const std::string bytes = read_file((*fx)("pytorch_model.bin"));
  const Layout l = layout_of(bytes);
  REQUIRE(l.cd_begin < l.cd_end);
  REQUIRE(l.pkl_begin < l.pkl_end);
  const std::string path = fx->scratch.file("flipped.bin");
  size_t failures = 0, runs = 0;
  auto try_bytes = [&](const std::string& b) {
    if (!read_both(b, path)) ++failures;
    ++runs;
  };
  for (size_t pos = l.cd_begin; pos < l.cd_end; ++pos) {
    for (uint8_t x : {0xffu, 0x80u, 0x01u}) {
      std::string b = bytes;
      b[pos] = static_cast<char>(b[pos] ^ x);
      INFO("central directory byte " << pos << " ^ " << int(x));
      try_bytes(b);
    }
  }
  for (size_t pos = l.pkl_begin; pos < l.pkl_end; ++pos) {
    for (uint8_t x : {0xffu, 0x80u, 0x01u, 0x10u}) {
      std::string b = bytes;
      b[pos] = static_cast<char>(b[pos] ^ x);
      INFO("pickle byte " << pos << " ^ " << int(x));
      try_bytes(b);
    }
  }
  // Many of those must have been detected (most flips break the structure).
  CHECK(failures > runs / 4);
}

TEST_CASE("random mutations anywhere never escape", "[torch_bin]") {
  REQUIRE_FIXTURES(fx);
  const std::string path = fx->scratch.file("mutated.bin");
  std::mt19937 rng(42);
  for (const char* src : {"pytorch_model.bin", "zip64.bin", "ok_proto4.bin"}) {
    const std::string bytes = read_file((*fx)(src));
    for (int iter = 0; iter < 600; ++iter) {
      std::string b = bytes;
      const int n = 1 + static_cast<int>(rng() % 4);
      std::ostringstream what;
      for (int k = 0; k < n; ++k) {
        const size_t pos = rng() % b.size();
        const auto v = static_cast<char>(rng() % 256);
        b[pos] = v;
        what << pos << "=" << int(static_cast<uint8_t>(v)) << " ";
      }
      INFO(src << " mutation " << iter << ": " << what.str());
      read_both(b, path);
    }
  }
}

// ---- The pickle VM on its own ------------------------------------------------------------------

namespace {

std::string vm_error(const std::string& pkl, rptq::hf::pickle::Limits limits = {}) {
  rptq::hf::pickle::Unpickler u(reinterpret_cast<const uint8_t*>(pkl.data()), pkl.size(), "model.bin", "x/data.pkl",
                                limits);
  try {
    u.run();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("pickle VM rejects malformed and hostile streams", "[torch_bin][pickle]") {
  using rptq::hf::pickle::Limits;
  using namespace std::string_literals;
  struct Case {
    std::string pkl;
    const char* needle;
  };
  const std::string proto = "\x80\x02";
  const Case cases[] = {
      {"", "no STOP"},
      {proto, "no STOP"},
      {proto + "}", "no STOP"},
      {proto + ".", "stack underflow"},
      {proto + "(.", "stack underflow"},
      {proto + "t.", "no MARK"},
      {proto + "h\x05.", "memo key 5 was never stored"},
      {proto + "j\xff\xff\xff\xff.", "memo key 4294967295"},
      {proto + "q\x01.", "stack underflow"},
      {proto + "X\xff\xff\xff\x7f", "truncated pickle"},
      {proto + "\x8d\xff\xff\xff\xff\xff\xff\xff\xff", "truncated pickle"},
      {proto + "T\xff\xff\xff\xff", "negative BINSTRING"},
      {proto + "\x8a\x09", "9 bytes is too large"},
      {proto + "K", "truncated pickle"},
      {"\x80\x07.", "unsupported pickle protocol 7"},
      {proto + "cos\nsystem\n.", "global 'os.system' is not allowed"},
      {proto + "cbuiltins\neval", "unterminated GLOBAL"},
      {proto + "\x8c\x08" "builtins\x8c\x04" "eval\x93.", "global 'builtins.eval' is not allowed"},
      {proto + "K\x01K\x02\x93.", "STACK_GLOBAL operands are not strings"},
      {proto + "ctorch\nFloatStorage\n)R.", "cannot be called"},
      {proto + "K\x01)R.", "REDUCE calls a int"},
      {proto + "ccollections\nOrderedDict\nK\x01R.", "arguments are a int"},
      {proto + "ccollections\nOrderedDict\nK\x01\x85R.", "called with arguments"},
      {proto + "K\x01Q.", "persistent id is a int"},
      {proto + "(X\x07\x00\x00\x00storageK\x01K\x01K\x01K\x01tQ."s, "storage type is not a torch storage"},
      {proto + "]}a}K\x01" "a.", "APPEND to a dict"},
      {proto + "]K\x01K\x02s.", "SETITEM on a list"},
      {proto + "}(K\x01u.", "odd number"},
      {proto + "K\x01N b.", "unsupported pickle opcode"},
      {proto + "K\x01Nb.", "BUILD on a int"},
      {proto + "\x01", "unsupported pickle opcode"},
      {proto + "ctorch._utils\n_rebuild_tensor_v2\n)R.", "expects 6 or 7 arguments"},
      {proto + "ctorch._utils\n_rebuild_parameter\n(K\x01K\x01K\x01tR.", "not a tensor"},
  };
  for (const Case& c : cases) {
    std::string msg = vm_error(c.pkl);
    INFO("pickle " << c.pkl.size() << " bytes: " << msg);
    CHECK(msg.find(c.needle) != std::string::npos);
    CHECK(msg.rfind("model.bin: pickle x/data.pkl offset ", 0) == 0);
  }

  // Bounded resources: deep stacks, nesting, marks, memo.
  Limits small;
  small.max_stack = 1000;
  small.max_marks = 100;
  small.max_memo = 100;
  small.max_values = 5000;
  CHECK(vm_error(proto + std::string(2000, 'N'), small).find("stack too deep") != std::string::npos);
  CHECK(vm_error(proto + std::string(200, '('), small).find("too many nested MARKs") != std::string::npos);
  std::string memo = proto + "N";
  for (int i = 0; i < 200; ++i) memo += "\x94";
  CHECK(vm_error(memo, small).find("memo too large") != std::string::npos);
  std::string nest = proto + ")";
  for (int i = 0; i < 10000; ++i) nest += "\x85";
  CHECK(vm_error(nest, small).find("too many objects") != std::string::npos);
  // A million levels of nested tuples with default limits: no recursion, so no stack overflow.
  std::string deep = proto + ")";
  deep.append(1000000, '\x85');
  deep += ".";
  CHECK(vm_error(deep) == "no error");
  // A list that contains itself is fine too (values live in an arena, no reference cycles leak).
  CHECK(vm_error(proto + "]q\x00h\x00" "a."s) == "no error");
}

TEST_CASE("zip reader bounds", "[torch_bin][zip]") {
  auto zip_error = [](const std::string& bytes) -> std::string {
    try {
      rptq::hf::ZipArchive z(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "f.zip");
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK(zip_error("").find("too small") != std::string::npos);
  CHECK(zip_error(std::string(100, 'x')).find("no end-of-central-directory") != std::string::npos);
  // Empty archive: valid, no entries.
  std::string empty("PK\x05\x06", 4);
  empty += std::string(18, '\0');
  CHECK(zip_error(empty) == "no error");
  // EOCD claiming a central directory past the end.
  std::string eocd = empty;
  eocd[10] = 1;
  eocd[8] = 1;
  eocd[12] = 46;
  eocd[16] = 100;
  CHECK(zip_error(eocd).find("lies outside the file") != std::string::npos);
  // ZIP64 fields without a locator.
  std::string z64 = empty;
  for (int i = 12; i < 20; ++i) z64[i] = '\xff';
  CHECK(zip_error(z64).find("no ZIP64 locator") != std::string::npos);
  // ZIP64 locator pointing outside.
  std::string loc("PK\x06\x07", 4);
  loc += std::string(4, '\0') + std::string(8, '\x7f') + std::string("\x01\0\0\0", 4);
  CHECK(zip_error(loc + empty).find("ZIP64 end-of-central-directory record offset") != std::string::npos);
}
