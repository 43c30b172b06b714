// rptq-builder-test: builds a small OPT-like function with the C++ builders
// of the rptq ops (the way the importer uses them), verifies it and prints it.
// Checked by tests/lit/dialect/builders.mlir.

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "rptq/Dialect/RptqDialect.h"
#include "rptq/Dialect/RptqOps.h"
#include "llvm/Support/raw_ostream.h"

int main() {
  mlir::MLIRContext context;
  context.loadDialect<rptq::RptqDialect, mlir::func::FuncDialect>();
  mlir::OpBuilder b(&context);
  mlir::Location loc = b.getUnknownLoc();

  const int64_t d = 8, ffn = 16, vocab = 32, positions = 10;
  mlir::Type f32 = b.getF32Type();
  auto tensor = [&](llvm::ArrayRef<int64_t> shape, mlir::Type elem) {
    return mlir::RankedTensorType::get(shape, elem);
  };
  const int64_t dyn = mlir::ShapedType::kDynamic;
  mlir::Type ids = tensor({dyn}, b.getI32Type());

  mlir::ModuleOp module = mlir::ModuleOp::create(loc);
  b.setInsertionPointToEnd(module.getBody());
  auto func = b.create<mlir::func::FuncOp>(
      loc, "forward",
      b.getFunctionType({ids, ids}, {tensor({dyn, vocab}, f32)}));
  b.setInsertionPointToStart(func.addEntryBlock());
  mlir::Value tokIds = func.getArgument(0), posIds = func.getArgument(1);

  auto weight = [&](llvm::StringRef name, llvm::ArrayRef<int64_t> shape) {
    return b.create<rptq::WeightOp>(loc, tensor(shape, f32), name).getResult();
  };
  mlir::Value tokW = weight("decoder.embed_tokens.weight", {vocab, d});
  mlir::Value posW = weight("decoder.embed_positions.weight", {positions, d});
  // (One op per statement: argument evaluation order is unspecified in C++.)
  mlir::Value tok = b.create<rptq::EmbeddingOp>(loc, tokIds, tokW);
  mlir::Value pos =
      b.create<rptq::PositionEmbeddingOp>(loc, posIds, posW, /*offset=*/2);
  mlir::Value h = b.create<rptq::AddOp>(loc, tok, pos);

  mlir::Value lnW = weight("ln.weight", {d});
  mlir::Value lnB = weight("ln.bias", {d});
  mlir::Value x = b.create<rptq::LayerNormOp>(loc, h, lnW, lnB, 1e-5f);
  mlir::Value qW = weight("q.weight", {d, d});
  mlir::Value qB = weight("q.bias", {d});
  mlir::Value q = b.create<rptq::LinearOp>(loc, x, qW, qB);
  mlir::Value k = b.create<rptq::LinearOp>(loc, x, weight("k.weight", {d, d}));
  mlir::Value v = b.create<rptq::LinearOp>(loc, x, weight("v.weight", {d, d}));
  mlir::Value a = b.create<rptq::AttentionOp>(loc, q, k, v, /*numHeads=*/2,
                                              /*scale=*/0.5f, /*causal=*/true);
  h = b.create<rptq::AddOp>(loc, h, a);
  // Layer norm without affine parameters, with a fused channel reorder.
  x = b.create<rptq::LayerNormOp>(loc, h, mlir::Value(), mlir::Value(), 1e-5f,
                                  llvm::ArrayRef<int64_t>{7, 6, 5, 4, 3, 2, 1, 0});
  mlir::Value fc1W = weight("fc1.weight", {ffn, d});
  mlir::Value fc1B = weight("fc1.bias", {ffn});
  mlir::Value f = b.create<rptq::LinearOp>(loc, x, fc1W, fc1B);
  f = b.create<rptq::ReluOp>(loc, f);
  mlir::Value fc2W = weight("fc2.weight", {d, ffn});
  mlir::Value fc2B = weight("fc2.bias", {d});
  f = b.create<rptq::LinearOp>(loc, f, fc2W, fc2B);
  h = b.create<rptq::AddOp>(loc, h, f);
  mlir::Value logits = b.create<rptq::LmHeadOp>(loc, h, tokW);
  b.create<mlir::func::ReturnOp>(loc, logits);

  // Accessors.
  auto attn = a.getDefiningOp<rptq::AttentionOp>();
  llvm::outs() << "// heads=" << attn.getNumHeads()
               << " causal=" << attn.getCausal()
               << " scale=" << static_cast<int>(attn.getScale().convertToFloat() * 100)
               << "/100\n";

  if (mlir::failed(mlir::verify(module))) {
    llvm::errs() << "verification failed\n";
    return 1;
  }
  module.print(llvm::outs());
  llvm::outs() << "\n";
  module->erase();
  return 0;
}
