#include <string>

#include "bundle/bundle_format.h"
#include "bundle/bundle_reader.h"
#include "bundle/dtype.h"
#include "bundle/verify.h"

namespace rptq::bundle {

namespace {

constexpr int64_t kMaxTokens = int64_t{1} << 31;
constexpr uint32_t kKnownFlags = static_cast<uint32_t>(OpFlags::Relu) | static_cast<uint32_t>(OpFlags::Accumulate) |
                                 static_cast<uint32_t>(OpFlags::QuantizeOutput);

void verify_memory(const MetaCheck& c, const MemoryPlan& mem) {
  if (mem.max_tokens() < 1 || mem.max_tokens() >= kMaxTokens) {
    c.fail("memory plan: max_tokens = " + std::to_string(mem.max_tokens()) + " is out of range");
  }
  const uint64_t rows = static_cast<uint64_t>(mem.max_tokens());
  for (uint32_t i = 0; i < mem.buffers()->size(); ++i) {
    const Buffer* b = mem.buffers()->Get(i);
    const std::string what = "memory plan buffer " + std::to_string(i) + " '" + printable(b->name()) + "'";
    if (!dtype_known(b->dtype())) c.fail(what + ": unknown dtype " + dtype_name(b->dtype()));
    const auto row = row_byte_size(b->dtype(), b->row_elems());
    uint64_t bytes = 0;
    if (b->row_elems() < 1 || !row || __builtin_mul_overflow(*row, rows, &bytes)) {
      c.fail(what + ": row_elems " + std::to_string(b->row_elems()) + " is out of range");
    }
    if (b->offset() % kTensorAlignment != 0) {
      c.fail(what + ": offset " + std::to_string(b->offset()) + " is not " + std::to_string(kTensorAlignment) +
             "-byte aligned");
    }
    if (b->offset() > mem.arena_bytes() || bytes > mem.arena_bytes() - b->offset()) {
      c.fail(what + ": " + std::to_string(bytes) + " bytes at offset " + std::to_string(b->offset()) +
             " exceed arena_bytes " + std::to_string(mem.arena_bytes()));
    }
  }
}

// One op against the model and the memory plan: what it reads and writes must exist and have the
// width and dtype the kernel will assume (activation codes are U8, one per byte; all else F32).
class OpCheck {
 public:
  OpCheck(const MetaCheck& c, const Op& op, uint32_t index) : c_(c), op_(op), model_(*c.bundle.model()) {
    what_ = "plan op " + std::to_string(index) + " (" +
            (op.kind() <= OpKind::MAX ? EnumNameOpKind(op.kind()) : "unknown kind") + ")";
  }

  void run() {
    const ModelConfig& cfg = *model_.config();
    const int64_t hidden = cfg.hidden_size();
    if ((static_cast<uint32_t>(op_.flags()) & ~kKnownFlags) != 0) fail("unknown flag bits");
    check_act_index(op_.act(), "act");
    check_act_index(op_.out_act(), "out_act");
    switch (op_.kind()) {
      case OpKind::Embed:
        arity(0, 1);
        buffer(output(0), "output", hidden, DType::F32);
        return;
      case OpKind::NormQuant: {
        arity(1, 1);
        if (op_.norm() > 2) fail("norm " + std::to_string(op_.norm()) + ", expected 0, 1 or 2");
        if (op_.norm() < 2) need_layer();
        if (!find_norm(model_, op_.layer(), op_.norm())) fail("its LayerNorm is absent from the model");
        buffer(input(0), "input", hidden, DType::F32);
        buffer(output(0), "output", hidden, act_dtype(op_.act()));
        return;
      }
      case OpKind::Linear: {
        // QuantizeOutput: the float rows go to a scratch buffer (outputs[1]) before quantization.
        const bool quantize_out = (op_.flags() & OpFlags::QuantizeOutput) == OpFlags::QuantizeOutput;
        arity(1, quantize_out ? 2 : 1);
        if (op_.linear() > LinearId::MAX) fail("unknown linear " + std::to_string(static_cast<unsigned>(op_.linear())));
        if (op_.linear() != LinearId::ProjectOut) need_layer();
        const QuantLinear* q = find_linear(model_, op_.layer(), op_.linear());
        if (!q) fail(std::string(EnumNameLinearId(op_.linear())) + " is absent from the model");
        if (quantize_out && act_dtype(op_.out_act()) != DType::U8) fail("QuantizeOutput without a quantized out_act");
        buffer(input(0), "input", q->in_features(), act_dtype(op_.act()));
        buffer(output(0), "output", q->out_features(), quantize_out ? DType::U8 : DType::F32);
        if (quantize_out) buffer(output(1), "scratch", q->out_features(), DType::F32);
        return;
      }
      case OpKind::Attention:
        arity(3, 1);
        need_layer();
        for (int i = 0; i < 3; ++i) buffer(input(i), "input", hidden, DType::F32);
        buffer(output(0), "output", hidden, act_dtype(static_cast<int32_t>(ActPoint::AttnOut)));
        return;
      case OpKind::LmHead:
        // Logits go to the caller's memory, not the arena, so the arena does not scale with the
        // vocabulary.
        arity(1, 0);
        buffer(input(0), "input", cfg.word_embed_proj_dim(), DType::F32);
        return;
    }
    fail("unknown op kind " + std::to_string(static_cast<unsigned>(op_.kind())));
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const { c_.fail(what_ + ": " + problem); }

  static uint32_t count(const flatbuffers::Vector<int32_t>* v) { return v ? v->size() : 0; }
  int32_t input(uint32_t i) const { return op_.inputs()->Get(i); }
  int32_t output(uint32_t i) const { return op_.outputs()->Get(i); }

  void arity(uint32_t inputs, uint32_t outputs) const {
    if (count(op_.inputs()) != inputs || count(op_.outputs()) != outputs) {
      fail(std::to_string(count(op_.inputs())) + " inputs and " + std::to_string(count(op_.outputs())) +
           " outputs, expected " + std::to_string(inputs) + " and " + std::to_string(outputs));
    }
  }

  void need_layer() const {
    if (op_.layer() < 0 || static_cast<uint32_t>(op_.layer()) >= model_.layers()->size()) {
      fail("layer " + std::to_string(op_.layer()) + " out of range");
    }
  }

  void check_act_index(int32_t act, const char* field) const {
    if (act < -1 || act > static_cast<int32_t>(ActPoint::MAX))
      fail(std::string(field) + " " + std::to_string(act) + " out of range");
  }

  // Codes when the op's layer quantizes that activation, floats otherwise.
  DType act_dtype(int32_t act) const {
    if (act < 0) return DType::F32;
    const ActQuant* a = find_act(model_, op_.layer(), act);
    if (!a) fail("activation quantizer " + std::to_string(act) + " needs a layer, got " + std::to_string(op_.layer()));
    return a->bits() < 16 ? DType::U8 : DType::F32;
  }

  void buffer(int32_t index, const char* role, int64_t width, DType dtype) const {
    const auto* buffers = c_.bundle.memory()->buffers();
    if (index < 0 || static_cast<uint32_t>(index) >= buffers->size()) {
      fail(std::string(role) + " buffer " + std::to_string(index) + " out of range (" +
           std::to_string(buffers->size()) + " buffers)");
    }
    const Buffer* b = buffers->Get(static_cast<uint32_t>(index));
    if (b->row_elems() != width || b->dtype() != dtype) {
      fail(std::string(role) + " buffer " + std::to_string(index) + " '" + printable(b->name()) + "' holds " +
           std::to_string(b->row_elems()) + " x " + dtype_name(b->dtype()) + " per row, expected " +
           std::to_string(width) + " x " + dtype_name(dtype));
    }
  }

  const MetaCheck& c_;
  const Op& op_;
  const Model& model_;
  std::string what_;
};

}  // namespace

void verify_plan(const MetaCheck& c) {
  verify_memory(c, *c.bundle.memory());
  const auto* plan = c.bundle.plan();
  for (uint32_t i = 0; i < plan->size(); ++i) OpCheck(c, *plan->Get(i), i).run();
}

}  // namespace rptq::bundle
