#!/bin/sh
# The installed SDK as an application outside the tree sees it:
#
#   check_sdk.sh BUILD_DIR [TOOLCHAIN_FILE [EMULATOR ARGS...]]
#
# installs BUILD_DIR (cmake --install --prefix into a scratch directory), checks the layout, then
# builds samples/sdk-app against the installed tree four ways and runs each program (through
# EMULATOR, e.g. `qemu-aarch64 -L /usr/aarch64-linux-gnu`, when cross-compiling):
#   find_package(rptq_runtime) + rptq::runtime         (shared)
#   find_package(rptq_runtime) + rptq::runtime_static  (static, must not need librptq_runtime.so)
#   cc app.c $(pkg-config --cflags --libs rptq_runtime)                      (shared)
#   cc app.c ... -Wl,-Bstatic -lrptq_runtime -Wl,-Bdynamic + Libs.private   (static)
# and compiles rptq/runtime.hpp alone with the installed headers. Without a bundle the app prints
# the runtime's version, which must equal the .pc file's; RPTQ_SDK_BUNDLE=model.rptq also loads
# it, prints its description and generates a few tokens with every variant.
#
# Environment: CMAKE (default cmake), RPTQ_SDK_FLAGS (compiler flags the applications need, e.g.
# -fsanitize=address,undefined when the runtime is instrumented), RPTQ_SDK_WORK (scratch directory, kept; default: a temporary
# directory, removed), PKG_CONFIG (default pkg-config). The compilers, generator and install layout
# are the build's (BUILD_DIR/CMakeCache.txt and CMakeFiles/<version>/CMake<LANG>Compiler.cmake).
set -eu

fail() {
  echo "check_sdk: FAIL: $*" >&2
  exit 1
}
[ $# -ge 1 ] || fail "usage: check_sdk.sh BUILD_DIR [TOOLCHAIN_FILE [EMULATOR ARGS...]]"
build=$(cd "$1" && pwd)
toolchain=${2:-}
shift
[ $# -ge 1 ] && shift
emulator="$*"  # word-split on purpose below
src=$(cd "$(dirname "$0")/../.." && pwd)
app_src=$src/samples/sdk-app
cmake=${CMAKE:-cmake}
pkg_config=${PKG_CONFIG:-pkg-config}
flags=${RPTQ_SDK_FLAGS:-}
cache=$build/CMakeCache.txt
[ -f "$cache" ] || fail "$build is not a CMake build directory"

cache_get() {  # cache_get NAME: the value of NAME in the build's cache ("" if absent)
  sed -n "s/^$1:[A-Z]*=//p" "$cache" | head -n 1
}
compiler_of() {  # compiler_of C|CXX: what the build compiles LANG with (a toolchain file's too)
  for f in "$build"/CMakeFiles/*/CMake"$1"Compiler.cmake; do
    [ -f "$f" ] && sed -n "s/^set(CMAKE_$1_COMPILER \"\(.*\)\")\$/\1/p" "$f" | head -n 1 && return
  done
}
cc=$(compiler_of C)
cxx=$(compiler_of CXX)
generator=$(cache_get CMAKE_GENERATOR)
make_program=$(cache_get CMAKE_MAKE_PROGRAM)
build_type=$(cache_get CMAKE_BUILD_TYPE)
libdir=$(cache_get CMAKE_INSTALL_LIBDIR)
includedir=$(cache_get CMAKE_INSTALL_INCLUDEDIR)
bindir=$(cache_get CMAKE_INSTALL_BINDIR)
[ -n "$cc" ] && [ -n "$cxx" ] && [ -n "$libdir" ] || fail "cannot tell the compilers or CMAKE_INSTALL_LIBDIR of $build"

if [ -n "${RPTQ_SDK_WORK:-}" ]; then
  work=$RPTQ_SDK_WORK
  rm -rf "$work"
  mkdir -p "$work"
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/rptq-sdk.XXXXXX")
  trap 'rm -rf "$work"' EXIT
fi
work=$(cd "$work" && pwd)
prefix=$work/sdk

run() {  # run PROGRAM ARGS...: through the emulator when there is one
  # shellcheck disable=SC2086
  $emulator "$@"
}

# 1. Install, then check the layout: public headers only, both libraries with the SONAME links,
#    the CMake package, the .pc file and the programs the build has.
echo "== cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "cmake --install"; }
for f in "$includedir/rptq/runtime.h" "$includedir/rptq/runtime.hpp" \
         "$libdir/librptq_runtime.a" "$libdir/librptq_runtime.so" "$libdir/librptq_runtime.so.0" \
         "$libdir/cmake/rptq_runtime/rptq_runtimeConfig.cmake" \
         "$libdir/cmake/rptq_runtime/rptq_runtimeConfigVersion.cmake" \
         "$libdir/cmake/rptq_runtime/rptq_runtimeTargets.cmake" \
         "$libdir/pkgconfig/rptq_runtime.pc" "$bindir/rptq-inspect" "$bindir/rptq-generate" "$bindir/rptq-perplexity"; do
  [ -e "$prefix/$f" ] || fail "not installed: $f"
done
[ -L "$prefix/$libdir/librptq_runtime.so" ] && [ -L "$prefix/$libdir/librptq_runtime.so.0" ] ||
  fail "librptq_runtime.so and .so.0 must be symlinks to the versioned file"
headers=$(cd "$prefix/$includedir" && find . -type f | sort | tr '\n' ' ')
[ "$headers" = "./rptq/runtime.h ./rptq/runtime.hpp " ] || fail "installed headers are '$headers', want runtime.h and runtime.hpp only"
if grep -q '^RPTQ_WITH_MLIR:BOOL=ON' "$cache"; then
  [ -x "$prefix/$bindir/rptq-compile" ] || fail "RPTQ_WITH_MLIR=ON but bin/rptq-compile is not installed"
fi
version=$(sed -n 's/^Version: *//p' "$prefix/$libdir/pkgconfig/rptq_runtime.pc")
[ -n "$version" ] || fail "rptq_runtime.pc has no Version"
echo "   installed rptq $version: $(cd "$prefix" && find . -type f -o -type l | sort | tr '\n' ' ')"

# An installed tool finds librptq_runtime.so through its RUNPATH ($ORIGIN/../lib).
run "$prefix/$bindir/rptq-generate" --help >"$work/generate-help.log" 2>&1 ||
  { cat "$work/generate-help.log"; fail "installed rptq-generate --help"; }

# check_app NAME PROGRAM: runs it without and (RPTQ_SDK_BUNDLE) with a bundle.
check_app() {
  out=$(run "$2") || fail "$1: exit status $?"
  [ "$out" = "rptq runtime $version" ] || fail "$1 printed '$out', want 'rptq runtime $version'"
  echo "   $1: $out"
  if [ -n "${RPTQ_SDK_BUNDLE:-}" ]; then
    run "$2" "$RPTQ_SDK_BUNDLE" "The history of" >"$work/$1.bundle.log" 2>&1 ||
      { cat "$work/$1.bundle.log"; fail "$1 $RPTQ_SDK_BUNDLE"; }
    sed 's/^/     /' "$work/$1.bundle.log"
  fi
}
not_needs_runtime_so() {  # the static programs must not load librptq_runtime.so
  if command -v readelf >/dev/null 2>&1 && readelf -d "$2" | grep -q 'NEEDED.*librptq_runtime'; then
    fail "$1 needs librptq_runtime.so"
  fi
}

# 2. find_package: the sample's own CMake project, shared and static.
echo "== samples/sdk-app with find_package(rptq_runtime)"
set -- -S "$app_src" -B "$work/app" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE="${build_type:-Release}"
[ -n "$generator" ] && set -- "$@" -G "$generator"
[ -n "$make_program" ] && set -- "$@" -DCMAKE_MAKE_PROGRAM="$make_program"
[ -n "$flags" ] && set -- "$@" -DCMAKE_C_FLAGS="$flags"
if [ -n "$toolchain" ]; then
  set -- "$@" -DCMAKE_TOOLCHAIN_FILE="$toolchain"
else
  set -- "$@" -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx"
fi
"$cmake" "$@" >"$work/app-configure.log" 2>&1 || { cat "$work/app-configure.log"; fail "configuring samples/sdk-app"; }
"$cmake" --build "$work/app" >"$work/app-build.log" 2>&1 || { cat "$work/app-build.log"; fail "building samples/sdk-app"; }
check_app find_package-shared "$work/app/rptq-sdk-app"
check_app find_package-static "$work/app/rptq-sdk-app-static"
not_needs_runtime_so find_package-static "$work/app/rptq-sdk-app-static"

# 3. pkg-config, no build system: the same source, shared and static. The shared program finds the
#    library through an rpath; the static one links librptq_runtime.a plus Libs.private.
echo "== samples/sdk-app/app.c with pkg-config"
PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig
export PKG_CONFIG_PATH
unset PKG_CONFIG_SYSROOT_DIR 2>/dev/null || true
pc_version=$("$pkg_config" --modversion rptq_runtime) || fail "pkg-config cannot find rptq_runtime"
[ "$pc_version" = "$version" ] || fail "pkg-config --modversion says $pc_version"
cflags=$("$pkg_config" --cflags rptq_runtime)
libs=$("$pkg_config" --libs rptq_runtime)
static_libs=$("$pkg_config" --static --libs rptq_runtime | sed 's/-lrptq_runtime/-Wl,-Bstatic -lrptq_runtime -Wl,-Bdynamic/')
# shellcheck disable=SC2086
"$cc" -std=c99 -Wall -Werror $flags $cflags "$app_src/app.c" -o "$work/app-pc" $libs -Wl,-rpath,"$prefix/$libdir" ||
  fail "cc app.c \$(pkg-config --cflags --libs rptq_runtime)"
# shellcheck disable=SC2086
"$cc" -std=c99 -Wall -Werror $flags $cflags "$app_src/app.c" -o "$work/app-pc-static" $static_libs ||
  fail "cc app.c with librptq_runtime.a and pkg-config --static --libs"
check_app pkg-config-shared "$work/app-pc"
check_app pkg-config-static "$work/app-pc-static"
not_needs_runtime_so pkg-config-static "$work/app-pc-static"

# 4. The C++ header compiles on its own against the installed headers.
printf '#include <rptq/runtime.hpp>\nint main() { return rptq::rt::Error(RPTQ_OK, "").status(); }\n' >"$work/hpp.cc"
# shellcheck disable=SC2086
"$cxx" -std=c++17 -Wall -Werror $flags $cflags -c "$work/hpp.cc" -o "$work/hpp.o" || fail "rptq/runtime.hpp alone"

echo "check_sdk: OK ($build${toolchain:+, $toolchain}${emulator:+, run through $emulator})"
