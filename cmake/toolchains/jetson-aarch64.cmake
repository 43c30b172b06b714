# Cross-compiling the runtime for Jetson Orin (Cortex-A78AE: armv8.2-a + dotprod) from a Debian
# x86-64 host with Debian's cross toolchain (g++-aarch64-linux-gnu) and qemu-user:
#
#   cmake --preset jetson && cmake --build --preset jetson && ctest --preset jetson
#
# What is linked comes from the aarch64 sysroot only (/usr/aarch64-linux-gnu plus the cross gcc's
# own libstdc++/libgomp). The build's other dependencies are header-only (Eigen, nlohmann json,
# CLI11, Catch2, FlatBuffers, xxHash with XXH_INLINE_ALL) and are taken from the host's
# /usr/include, which Debian's cross gcc searches last, after the aarch64 headers (so host libc
# headers never shadow the target's); their CMake package files are read from the host too.
# flatc runs on the host. Test executables run through qemu-aarch64 (CMAKE_CROSSCOMPILING_EMULATOR):
# ctest and catch_discover_tests both use it. RPTQ_WITH_MLIR must be OFF (the compiler is host-only).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(RPTQ_CROSS_TRIPLE aarch64-linux-gnu)
set(RPTQ_CROSS_SYSROOT /usr/${RPTQ_CROSS_TRIPLE})
set(CMAKE_C_COMPILER ${RPTQ_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${RPTQ_CROSS_TRIPLE}-g++)

# Orin's ISA. The generic kernels still dispatch at run time (scalar without dotprod), but code
# outside the micro-kernels is compiled for this baseline.
set(CMAKE_C_FLAGS_INIT "-march=armv8.2-a+dotprod")
set(CMAKE_CXX_FLAGS_INIT "-march=armv8.2-a+dotprod")

# Programs (flatc, sh, python) from the host; libraries only from the target; headers and CMake
# package files from either (the target's first), since the host ones used are header-only.
set(CMAKE_FIND_ROOT_PATH ${RPTQ_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;${RPTQ_CROSS_SYSROOT})
