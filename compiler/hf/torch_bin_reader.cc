// pytorch_model.bin as written by torch.save (>= 1.6, zipfile serialization):
//   <prefix>/data.pkl      pickle of the state dict; tensors reference storages by persistent id
//   <prefix>/data/<key>    raw little-endian bytes of each storage (STORED, 64-byte aligned)
//   <prefix>/version, [<prefix>/byteorder], ...
// Tensors become TensorRefs pointing into the mapped file; every element a tensor's
// (offset, size, stride) can address is checked to lie inside its storage entry.
#include <algorithm>
#include <limits>
#include <map>

#include "hf/pickle_reader.h"
#include "hf/tensor_ref.h"
#include "hf/torch_bin_reader.h"
#include "hf/zip_archive.h"
#include "rptq/error.h"

namespace rptq::hf {
namespace {

using pickle::Kind;
using pickle::Value;

DType storage_dtype(const std::string& type) {
  if (type == "FloatStorage") return DType::F32;
  if (type == "HalfStorage") return DType::F16;
  if (type == "BFloat16Storage") return DType::BF16;
  return DType::Unsupported;
}

using pickle::printable;

// Finds the single "<prefix>/data.pkl" entry (prefix without '/'), returns "<prefix>/".
std::string archive_prefix(const ZipArchive& zip, const std::string& path) {
  std::string found;
  int count = 0;
  for (const ZipEntry& e : zip.entries()) {
    const std::string suffix = "/data.pkl";
    if (e.name.size() <= suffix.size() || e.name.compare(e.name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    std::string prefix = e.name.substr(0, e.name.size() - suffix.size() + 1);
    if (prefix.find('/') != prefix.size() - 1) continue;  // nested deeper: not torch.save's layout
    if (count == 0 || prefix != found) ++count;
    found = prefix;
  }
  if (count == 0)
    fail(path, "zip archive has no '<name>/data.pkl' entry; not a torch.save checkpoint");
  if (count > 1) fail(path, "zip archive has more than one '<name>/data.pkl' entry; not a torch.save checkpoint");
  return found;
}

}  // namespace

void read_torch_bin(const std::string& path, TensorMap& out) {
  auto file = MappedFile::open(path);
  detail::read_torch_bin_bytes(file->data(), file->size(), path, file, out);
}

void detail::read_torch_bin_bytes(const uint8_t* base, size_t size, const std::string& path,
                                  std::shared_ptr<const MappedFile> file, TensorMap& out) {
  if (size == 0) fail(path, "empty file; not a torch.save checkpoint");
  if (base[0] == 0x80)
    fail(path, "legacy torch.save format (pickle, pre-1.6) is not supported; re-save with torch>=1.6 "
               "(torch.save(torch.load(f), f)) or convert to safetensors");

  ZipArchive zip(base, size, path);
  const std::string prefix = archive_prefix(zip, path);

  if (const ZipEntry* bo = zip.find(prefix + "byteorder")) {
    const uint8_t* p = zip.stored_data(*bo);
    std::string order(reinterpret_cast<const char*>(p), static_cast<size_t>(std::min<uint64_t>(bo->size, 16)));
    if (order != "little")
      fail(path, "storages are stored with byte order '" + printable(order) + "'; only little-endian checkpoints are supported");
  }

  const ZipEntry* pkl = zip.find(prefix + "data.pkl");
  pickle::Unpickler unpickler(zip.stored_data(*pkl), static_cast<size_t>(pkl->size), path, pkl->name);
  const Value* root = unpickler.run();
  if (root->kind != Kind::Dict)
    fail(path, std::string("data.pkl holds a ") + pickle::kind_name(root->kind) +
                   ", not a state dict (a dict of name -> tensor)");

  // Python dict semantics: a repeated key keeps the last value.
  std::map<std::string, const Value*> tensors;
  for (const auto& [k, v] : root->dict) {
    if (k->kind != Kind::Str)
      fail(path, std::string("state dict has a key of type ") + pickle::kind_name(k->kind) + "; names must be strings");
    if (v->kind != Kind::Tensor)
      fail(path, "state dict entry '" + printable(k->s) + "' is a " + pickle::kind_name(v->kind) +
                     ", not a tensor; only a flat dict of name -> tensor is supported (nested checkpoints such as "
                     "{'state_dict': {...}} or {'model': {...}} must be unwrapped and re-saved)");
    tensors[k->s] = v;
  }

  for (const auto& [name, v] : tensors) {
    auto bad = [&, &name = name](const std::string& what) { fail(path, "tensor '" + printable(name) + "': " + what); };
    const Value* st = v->items.at(0);
    const pickle::StorageType* type = pickle::find_storage_type(st->s2);
    if (!type) bad("unknown storage type '" + st->s2 + "'");  // unreachable: the VM checks it
    const uint64_t es = type->elem_size;

    const std::string entry_name = prefix + "data/" + st->s;
    const ZipEntry* entry = zip.find(entry_name);
    if (!entry) bad("storage '" + printable(st->s) + "' is missing from the archive (no entry '" + printable(entry_name) + "')");
    const uint8_t* storage = zip.stored_data(*entry);
    const uint64_t storage_numel = static_cast<uint64_t>(st->i);
    if (storage_numel > std::numeric_limits<uint64_t>::max() / es || storage_numel * es != entry->size)
      bad("storage '" + printable(st->s) + "' is declared as " + std::to_string(storage_numel) + " elements of " + st->s2 +
          " but its entry holds " + std::to_string(entry->size) + " bytes");

    TensorRef t;
    t.name = name;
    t.dtype = storage_dtype(st->s2);
    t.dtype_text = st->s2;
    t.shape = v->shape;
    t.strides = v->strides;
    if (v->i < 0) bad("negative storage offset " + std::to_string(v->i));
    const uint64_t offset = static_cast<uint64_t>(v->i);
    bool empty = false;
    // Zero strides can make numel far larger than the storage, and TensorRef::numel() multiplies
    // in int64: keep the product of the (non-zero) sizes sane for consumers.
    constexpr uint64_t kMaxNumel = uint64_t{1} << 40;
    uint64_t numel = 1;
    for (size_t d = 0; d < t.shape.size(); ++d) {
      if (t.shape[d] < 0) bad("negative size " + std::to_string(t.shape[d]) + " in shape " + shape_text(t.shape));
      if (t.strides[d] < 0)
        bad("negative stride " + std::to_string(t.strides[d]) + " in strides " + shape_text(t.strides));
      if (t.shape[d] == 0) {
        empty = true;
        continue;
      }
      const uint64_t s = static_cast<uint64_t>(t.shape[d]);
      if (numel > kMaxNumel / s) bad("shape " + shape_text(t.shape) + " has too many elements (more than 2^40)");
      numel *= s;
    }
    uint64_t last = offset;  // highest element index addressed
    if (!empty) {
      for (size_t d = 0; d < t.shape.size(); ++d) {
        const uint64_t span_count = static_cast<uint64_t>(t.shape[d] - 1);
        const uint64_t stride = static_cast<uint64_t>(t.strides[d]);
        if (stride != 0 && span_count > (std::numeric_limits<uint64_t>::max() - last) / stride)
          bad("shape " + shape_text(t.shape) + " with strides " + shape_text(t.strides) + " overflows");
        last += span_count * stride;
      }
      if (last >= storage_numel)
        bad("shape " + shape_text(t.shape) + ", strides " + shape_text(t.strides) + " and offset " +
            std::to_string(offset) + " address element " + std::to_string(last) + " but storage '" + printable(st->s) +
            "' has only " + std::to_string(storage_numel) + " elements");
    } else if (offset > storage_numel) {
      bad("storage offset " + std::to_string(offset) + " lies past the end of storage '" + printable(st->s) + "' (" +
          std::to_string(storage_numel) + " elements)");
    }
    t.data = storage + offset * es;
    t.file = file;
    if (!out.emplace(name, std::move(t)).second) fail(path, "tensor '" + printable(name) + "' appears in more than one file");
  }
}

}  // namespace rptq::hf
