// A checkpoint that is not OPT: one error naming the file, non-zero exit, no output file.
// REQUIRES: rptq-compile
// RUN: rm -rf %t && mkdir -p %t
// RUN: echo '{"model_type": "llama"}' > %t/config.json
// RUN: not rptq-compile %t --emit mlir -o %t/out.mlir 2>&1 | FileCheck %s
// RUN: not test -e %t/out.mlir
// CHECK: rptq-compile: error: {{.*}}config.json: model_type is 'llama', not 'opt'
