// OPT checkpoint → module in the `rptq` dialect. The first stage of rptq-compile.
//
// The module holds one `func.func @forward(%ids: tensor<?xi32>, %positions: tensor<?xi32>)`
// returning logits; every parameter is an `rptq.weight` naming a tensor of the checkpoint
// (canonical name, e.g. "decoder.layers.0.fc1.weight"), so the IR stays small for any model size.
// The architecture hyper-parameters are the module attribute `rptq.config`.
#pragma once

#include <mlir/IR/BuiltinOps.h>
#include <mlir/IR/OwningOpRef.h>

#include "hf/checkpoint.h"

namespace rptq::import {

mlir::OwningOpRef<mlir::ModuleOp> import_opt(mlir::MLIRContext& ctx, const hf::Checkpoint& ck);

// Registers and loads every dialect the importer emits.
void load_dialects(mlir::MLIRContext& ctx);

}  // namespace rptq::import
