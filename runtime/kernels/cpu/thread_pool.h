// The kernels' threads: a persistent pool that splits a loop into one contiguous chunk per thread
// (OpenMP's static schedule), without OpenMP, so the runtime links nothing beyond the C/C++
// runtime and pthreads. Workers spin briefly after each loop (decode issues thousands of short
// loops per second) and then sleep.
//
// Thread count: $RPTQ_NUM_THREADS, else the CPUs this process may run on. One loop runs on the
// pool at a time; a loop started while another holds the pool (a second session on another
// thread) runs on its caller alone, so concurrent sessions never wait for each other.
#pragma once

#include <cstdint>
#include <functional>

namespace rptq::cpu {

// Calls body(begin, end) for chunks covering [0, n) in order of thread index: chunk k is
// [k·n/T, (k+1)·n/T) for T threads (empty chunks are skipped). With parallel == false, n <= 1 or
// one thread, it is body(0, n) on the caller. Chunks run concurrently: body must only write what
// its range owns. Exceptions must not escape body.
void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& body, bool parallel = true);

// Threads parallel_for uses, the caller included.
int num_threads();

}  // namespace rptq::cpu
