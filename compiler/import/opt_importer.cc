#include "import/opt_importer.h"

#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/Builders.h>
#include <mlir/IR/BuiltinTypes.h>
#include <mlir/IR/Verifier.h>

#include "rptq/Dialect/RptqDialect.h"
#include "rptq/Dialect/RptqOps.h"
#include "rptq/error.h"

#include <cmath>

namespace rptq::import {
namespace {

class OptBuilder {
 public:
  OptBuilder(mlir::OpBuilder& b, const hf::Checkpoint& ck)
      : b_(b), ck_(ck), c_(ck.config()), loc_(b.getUnknownLoc()), f32_(b.getF32Type()) {}

  // Weights are typed f32 whatever their storage dtype: the IR states the reference semantics,
  // and the weight store converts on load.
  mlir::Value weight(const std::string& name) {
    const hf::TensorRef& t = ck_.get(name);
    auto type = mlir::RankedTensorType::get(t.shape, f32_);
    return b_.create<::rptq::WeightOp>(loc_, type, name);
  }

  mlir::Value linear(mlir::Value x, const std::string& name, bool bias) {
    mlir::Value bv = bias ? weight(name + ".bias") : mlir::Value();
    return b_.create<::rptq::LinearOp>(loc_, x, weight(name + ".weight"), bv);
  }

  mlir::Value layer_norm(mlir::Value x, const std::string& name) {
    mlir::Value g, beta;
    if (c_.layer_norm_affine) {
      g = weight(name + ".weight");
      beta = weight(name + ".bias");
    }
    return b_.create<::rptq::LayerNormOp>(loc_, x, g, beta, c_.layer_norm_eps, llvm::ArrayRef<int64_t>{});
  }

  mlir::Value decoder_layer(mlir::Value h, int64_t l) {
    const std::string p = "decoder.layers." + std::to_string(l) + ".";
    const bool bias = c_.enable_bias;
    // Attention block; pre-LN normalises its input, post-LN (opt-350m) its output.
    mlir::Value x = c_.pre_layer_norm ? layer_norm(h, p + "self_attn_layer_norm") : h;
    mlir::Value q = linear(x, p + "self_attn.q_proj", bias);
    mlir::Value k = linear(x, p + "self_attn.k_proj", bias);
    mlir::Value v = linear(x, p + "self_attn.v_proj", bias);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c_.head_dim()));
    mlir::Value a = b_.create<::rptq::AttentionOp>(loc_, q, k, v, c_.num_heads, scale, /*causal=*/true);
    h = b_.create<::rptq::AddOp>(loc_, h, linear(a, p + "self_attn.out_proj", bias));
    if (!c_.pre_layer_norm) h = layer_norm(h, p + "self_attn_layer_norm");
    // Feed-forward block.
    x = c_.pre_layer_norm ? layer_norm(h, p + "final_layer_norm") : h;
    mlir::Value f = b_.create<::rptq::ReluOp>(loc_, linear(x, p + "fc1", bias));
    h = b_.create<::rptq::AddOp>(loc_, h, linear(f, p + "fc2", bias));
    if (!c_.pre_layer_norm) h = layer_norm(h, p + "final_layer_norm");
    return h;
  }

  void forward(mlir::func::FuncOp fn) {
    mlir::Value ids = fn.getArgument(0), positions = fn.getArgument(1);
    mlir::Value embed = weight("decoder.embed_tokens.weight");
    mlir::Value h = b_.create<::rptq::EmbeddingOp>(loc_, ids, embed);
    if (c_.has_projections()) h = linear(h, "decoder.project_in", false);
    mlir::Value pos = b_.create<::rptq::PositionEmbeddingOp>(loc_, positions, weight("decoder.embed_positions.weight"),
                                                              OptConfig::kPositionOffset);
    h = b_.create<::rptq::AddOp>(loc_, h, pos);
    for (int64_t l = 0; l < c_.num_layers; ++l) h = decoder_layer(h, l);
    if (c_.final_layer_norm) h = layer_norm(h, "decoder.final_layer_norm");
    if (c_.has_projections()) h = linear(h, "decoder.project_out", false);
    // A tied head reads the embedding table; an untied one its own weight.
    mlir::Value head = ck_.get("lm_head.weight").name == ck_.get("decoder.embed_tokens.weight").name
                           ? embed
                           : weight("lm_head.weight");
    mlir::Value logits = b_.create<::rptq::LmHeadOp>(loc_, h, head);
    b_.create<mlir::func::ReturnOp>(loc_, logits);
  }

 private:
  mlir::OpBuilder& b_;
  const hf::Checkpoint& ck_;
  const OptConfig& c_;
  mlir::Location loc_;
  mlir::Type f32_;
};

mlir::DictionaryAttr config_attr(mlir::Builder& b, const OptConfig& c) {
  llvm::SmallVector<mlir::NamedAttribute> a;
  auto i = [&](const char* k, int64_t v) { a.push_back(b.getNamedAttr(k, b.getI64IntegerAttr(v))); };
  auto f = [&](const char* k, bool v) { a.push_back(b.getNamedAttr(k, b.getBoolAttr(v))); };
  i("vocab_size", c.vocab_size);
  i("hidden_size", c.hidden_size);
  i("num_layers", c.num_layers);
  i("num_heads", c.num_heads);
  i("ffn_dim", c.ffn_dim);
  i("max_positions", c.max_positions);
  i("word_embed_proj_dim", c.word_embed_proj_dim);
  f("pre_layer_norm", c.pre_layer_norm);
  f("final_layer_norm", c.final_layer_norm);
  f("enable_bias", c.enable_bias);
  f("layer_norm_affine", c.layer_norm_affine);
  f("tie_word_embeddings", c.tie_word_embeddings);
  a.push_back(b.getNamedAttr("layer_norm_eps", b.getF32FloatAttr(c.layer_norm_eps)));
  i("bos_token_id", c.bos_token_id);
  i("eos_token_id", c.eos_token_id);
  i("pad_token_id", c.pad_token_id);
  return b.getDictionaryAttr(a);
}

}  // namespace

void load_dialects(mlir::MLIRContext& ctx) {
  ctx.loadDialect<::rptq::RptqDialect, mlir::func::FuncDialect>();
}

mlir::OwningOpRef<mlir::ModuleOp> import_opt(mlir::MLIRContext& ctx, const hf::Checkpoint& ck) {
  load_dialects(ctx);
  const OptConfig& c = ck.config();
  mlir::OpBuilder b(&ctx);
  auto loc = mlir::FileLineColLoc::get(&ctx, ck.dir() + "/config.json", 0, 0);
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(loc);
  (*module)->setAttr("rptq.config", config_attr(b, c));
  (*module)->setAttr("rptq.checkpoint", b.getStringAttr(ck.dir()));

  auto seq_i32 = mlir::RankedTensorType::get({mlir::ShapedType::kDynamic}, b.getI32Type());
  auto logits = mlir::RankedTensorType::get({mlir::ShapedType::kDynamic, c.vocab_size}, b.getF32Type());
  b.setInsertionPointToEnd(module->getBody());
  auto fn = b.create<mlir::func::FuncOp>(loc, "forward", b.getFunctionType({seq_i32, seq_i32}, {logits}));
  fn.setArgAttr(0, "rptq.name", b.getStringAttr("token_ids"));
  fn.setArgAttr(1, "rptq.name", b.getStringAttr("positions"));
  b.setInsertionPointToStart(fn.addEntryBlock());
  OptBuilder(b, ck).forward(fn);

  if (mlir::failed(mlir::verify(*module)))
    fail(ck.dir(), "internal error: the imported module does not verify");
  return module;
}

}  // namespace rptq::import
