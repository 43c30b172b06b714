# MLIR/LLVM 16 from Debian's llvm-16-dev / libmlir-16-dev packages.
message(STATUS "Using MLIRConfig.cmake in: ${MLIR_DIR}")
list(APPEND CMAKE_MODULE_PATH "${MLIR_CMAKE_DIR}" "${LLVM_CMAKE_DIR}")
include(TableGen)
include(AddLLVM)
include(AddMLIR)
# Debian's LLVM is built without RTTI and exceptions; our dialect library follows LLVM's
# conventions, while the rest of the compiler (which uses exceptions for error reporting)
# talks to it only through functions that do not let exceptions cross MLIR frames.
set(RPTQ_MLIR_INCLUDE_DIRS ${MLIR_INCLUDE_DIRS} ${LLVM_INCLUDE_DIRS})
set(RPTQ_MLIR_DEFINITIONS ${LLVM_DEFINITIONS})
find_program(RPTQ_FILECHECK FileCheck HINTS /usr/lib/llvm-16/bin REQUIRED)
find_program(RPTQ_MLIR_TBLGEN mlir-tblgen HINTS /usr/lib/llvm-16/bin)
