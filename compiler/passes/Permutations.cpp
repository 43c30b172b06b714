//===- Permutations.cpp - permutation algebra of channel reorders ---------===//

#include "Permutations.h"

namespace rptq::perm {

bool isIdentity(llvm::ArrayRef<int64_t> p) {
  for (size_t j = 0; j < p.size(); ++j)
    if (p[j] != static_cast<int64_t>(j))
      return false;
  return true;
}

llvm::SmallVector<int64_t> inverse(llvm::ArrayRef<int64_t> p) {
  llvm::SmallVector<int64_t> inv(p.size());
  for (size_t j = 0; j < p.size(); ++j)
    inv[p[j]] = static_cast<int64_t>(j);
  return inv;
}

llvm::SmallVector<int64_t> compose(llvm::ArrayRef<int64_t> first,
                                   llvm::ArrayRef<int64_t> second) {
  llvm::SmallVector<int64_t> c(second.size());
  for (size_t j = 0; j < second.size(); ++j)
    c[j] = first[second[j]];
  return c;
}

llvm::SmallVector<int64_t> identity(int64_t n) {
  llvm::SmallVector<int64_t> p(n);
  for (int64_t j = 0; j < n; ++j)
    p[j] = j;
  return p;
}

int64_t firstBlockCrossing(llvm::ArrayRef<int64_t> p, int64_t blockSize) {
  for (size_t j = 0; j < p.size(); ++j)
    if (p[j] / blockSize != static_cast<int64_t>(j) / blockSize)
      return static_cast<int64_t>(j);
  return -1;
}

} // namespace rptq::perm
