# The installable SDK: `cmake --install BUILD [--prefix DIR]` lays out
#
#   include/rptq/runtime.h, runtime.hpp      the public C API and its C++ wrapper (nothing else)
#   lib/librptq_runtime.so{,.0,.0.1.0}       the shared runtime (only the C API is exported)
#   lib/librptq_runtime.a                    the static runtime, self-contained (runtime/api)
#   lib/cmake/rptq_runtime/                  find_package(rptq_runtime): rptq::runtime, rptq::runtime_static
#   lib/pkgconfig/rptq_runtime.pc            pkg-config --cflags --libs rptq_runtime
#   bin/rptq-compile (RPTQ_WITH_MLIR=ON), rptq-inspect, rptq-generate, rptq-perplexity
#
# and `cpack -G TGZ` in the build directory packs the same tree as
# rptq-<version>-Linux-<CMAKE_SYSTEM_PROCESSOR>.tar.gz. The package is relocatable: the CMake
# config and the .pc file locate everything relative to where they were installed.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(RPTQ_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/rptq_runtime)
set(RPTQ_INSTALL_PKGCONFIGDIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# Programs. Those that load librptq_runtime.so find it in ../lib of wherever they are installed.
file(RELATIVE_PATH rptq_bin_to_lib /${CMAKE_INSTALL_BINDIR} /${CMAKE_INSTALL_LIBDIR})
foreach(tool rptq-compile rptq-inspect rptq-generate rptq-perplexity)
  if(TARGET ${tool})
    install(TARGETS ${tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tools)
    set_property(TARGET ${tool} PROPERTY INSTALL_RPATH "$ORIGIN/${rptq_bin_to_lib}")
  endif()
endforeach()
if(TARGET rptq-compile)
  # rptq-compile links LLVM/MLIR shared objects; keep their directory (e.g. /usr/lib/llvm-16/lib)
  # when it is not one the loader searches anyway.
  set_property(TARGET rptq-compile PROPERTY INSTALL_RPATH_USE_LINK_PATH ON)
endif()

if(TARGET rptq_runtime)
  # The runtime libraries and their public headers. runtime.hpp includes only runtime.h; the other
  # headers in runtime/include/rptq are internal to the runtime and the compiler.
  install(TARGETS rptq_runtime rptq_runtime_static EXPORT rptq_runtimeTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT development
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(FILES ${CMAKE_SOURCE_DIR}/runtime/include/rptq/runtime.h ${CMAKE_SOURCE_DIR}/runtime/include/rptq/runtime.hpp
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/rptq COMPONENT development)

  # CMake package.
  install(EXPORT rptq_runtimeTargets NAMESPACE rptq:: FILE rptq_runtimeTargets.cmake
    DESTINATION ${RPTQ_INSTALL_CMAKEDIR} COMPONENT development)
  configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/rptq_runtimeConfig.cmake.in
    ${CMAKE_BINARY_DIR}/sdk/rptq_runtimeConfig.cmake INSTALL_DESTINATION ${RPTQ_INSTALL_CMAKEDIR})
  # 0.x: the API may still change between minor versions; the SONAME follows the major version.
  write_basic_package_version_file(${CMAKE_BINARY_DIR}/sdk/rptq_runtimeConfigVersion.cmake
    VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
  install(FILES ${CMAKE_BINARY_DIR}/sdk/rptq_runtimeConfig.cmake ${CMAKE_BINARY_DIR}/sdk/rptq_runtimeConfigVersion.cmake
    DESTINATION ${RPTQ_INSTALL_CMAKEDIR} COMPONENT development)

  # pkg-config. prefix is relative to the .pc file (${pcfiledir}), so an unpacked tarball or an
  # install with --prefix works without editing it. Libs.private: what the static archive needs
  # beyond libc (the C++ standard library, libm, and threads/libdl where the C library lacks them).
  file(RELATIVE_PATH rptq_pc_to_prefix /${RPTQ_INSTALL_PKGCONFIGDIR} /)
  string(REGEX REPLACE "/$" "" rptq_pc_to_prefix "${rptq_pc_to_prefix}")
  set(RPTQ_PC_LIBS_PRIVATE "-lstdc++ -lm")
  if(CMAKE_THREAD_LIBS_INIT)
    string(APPEND RPTQ_PC_LIBS_PRIVATE " ${CMAKE_THREAD_LIBS_INIT}")
  endif()
  if(NOT RPTQ_LIBC_HAS_DLOPEN AND CMAKE_DL_LIBS)
    string(APPEND RPTQ_PC_LIBS_PRIVATE " -l${CMAKE_DL_LIBS}")
  endif()
  configure_file(${CMAKE_SOURCE_DIR}/cmake/rptq_runtime.pc.in ${CMAKE_BINARY_DIR}/sdk/rptq_runtime.pc @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/sdk/rptq_runtime.pc DESTINATION ${RPTQ_INSTALL_PKGCONFIGDIR}
    COMPONENT development)
endif()

# CPack: one tarball per architecture, e.g. rptq-0.1.0-Linux-x86_64.tar.gz / -aarch64.tar.gz.
set(CPACK_GENERATOR TGZ)
set(CPACK_PACKAGE_NAME rptq)
set(CPACK_PACKAGE_VENDOR rptq)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "rptq: RPTQ quantization compiler and embeddable LLM runtime SDK")
set(CPACK_SYSTEM_NAME ${CMAKE_SYSTEM_NAME}-${CMAKE_SYSTEM_PROCESSOR})
set(CPACK_PACKAGE_FILE_NAME ${CPACK_PACKAGE_NAME}-${CPACK_PACKAGE_VERSION}-${CPACK_SYSTEM_NAME})
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/package)
set(CPACK_STRIP_FILES ON)
set(CPACK_SOURCE_GENERATOR "")
include(CPack)
