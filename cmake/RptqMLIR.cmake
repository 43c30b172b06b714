# MLIR/LLVM 16 from Debian's llvm-16-dev / libmlir-16-dev packages.
message(STATUS "Using MLIRConfig.cmake in: ${MLIR_DIR}")
list(APPEND CMAKE_MODULE_PATH "${MLIR_CMAKE_DIR}" "${LLVM_CMAKE_DIR}")
include(TableGen)
include(AddLLVM)
include(AddMLIR)
# Debian's LLVM 16 is built with RTTI but without exceptions: the dialect library follows LLVM's
# conventions (-fno-exceptions), while the rest of the compiler, which reports bad input with
# exceptions, never lets one cross an MLIR frame (MLIR calls no callbacks of ours that throw).
set(RPTQ_MLIR_INCLUDE_DIRS ${MLIR_INCLUDE_DIRS} ${LLVM_INCLUDE_DIRS})
set(RPTQ_MLIR_DEFINITIONS ${LLVM_DEFINITIONS})
find_program(RPTQ_FILECHECK FileCheck HINTS /usr/lib/llvm-16/bin REQUIRED)
