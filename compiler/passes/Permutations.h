//===- Permutations.h - permutation algebra of channel reorders -*- C++ -*-===//
//
// A permutation P of [0, n) reorders a dimension as y[j] = x[P[j]].
//
//===----------------------------------------------------------------------===//

#ifndef RPTQ_PASSES_PERMUTATIONS_H
#define RPTQ_PASSES_PERMUTATIONS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>

namespace rptq::perm {

bool isIdentity(llvm::ArrayRef<int64_t> p);

/// inv[p[j]] = j: undoes reordering by p.
llvm::SmallVector<int64_t> inverse(llvm::ArrayRef<int64_t> p);

/// Reordering by `first`, then by `second`, is reordering by
/// result[j] = first[second[j]].
llvm::SmallVector<int64_t> compose(llvm::ArrayRef<int64_t> first,
                                   llvm::ArrayRef<int64_t> second);

/// The identity of size n, so that an absent permutation composes like one.
llvm::SmallVector<int64_t> identity(int64_t n);

/// First position j whose channel p[j] comes from another block of
/// `blockSize` channels (another attention head), or -1 if none.
int64_t firstBlockCrossing(llvm::ArrayRef<int64_t> p, int64_t blockSize);

} // namespace rptq::perm

#endif // RPTQ_PASSES_PERMUTATIONS_H
