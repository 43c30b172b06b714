#include "kernels/cpu/thread_pool.h"

#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace rptq::cpu {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

int configured_threads() {
  if (const char* v = std::getenv("RPTQ_NUM_THREADS")) {
    const int n = std::atoi(v);
    if (n >= 1) return n;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

class Pool {
 public:
  explicit Pool(int threads) : threads_(threads) {
    for (int k = 1; k < threads_; ++k) workers_.emplace_back([this, k] { work(k); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  int threads() const { return threads_; }

  // False when another loop holds the pool.
  bool run(int64_t n, const std::function<void(int64_t, int64_t)>& body) {
    std::unique_lock<std::mutex> owner(busy_, std::try_to_lock);
    if (!owner.owns_lock()) return false;
    body_ = &body;
    n_ = n;
    done_.store(0, std::memory_order_relaxed);
    {
      // Under the mutex, so that a worker about to sleep either sees the new generation or is
      // already waiting when notified.
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    if (sleepers_.load(std::memory_order_acquire) > 0) wake_.notify_all();
    chunk(0);
    while (done_.load(std::memory_order_acquire) < threads_ - 1) cpu_relax();
    body_ = nullptr;
    return true;
  }

 private:
  void chunk(int k) {
    const int64_t begin = n_ * k / threads_, end = n_ * (k + 1) / threads_;
    if (begin < end) (*body_)(begin, end);
  }

  void work(int k) {
    uint64_t seen = 0;
    for (;;) {
      // Spin about 100 µs for the next loop, then sleep.
      uint64_t g = generation_.load(std::memory_order_acquire);
      for (int spin = 0; g == seen && spin < 20000; ++spin) {
        cpu_relax();
        g = generation_.load(std::memory_order_acquire);
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleepers_.fetch_add(1, std::memory_order_acq_rel);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        sleepers_.fetch_sub(1, std::memory_order_acq_rel);
        g = generation_.load(std::memory_order_acquire);
      }
      seen = g;
      if (stop_) return;
      chunk(k);
      done_.fetch_add(1, std::memory_order_release);
    }
  }

  const int threads_;
  std::vector<std::thread> workers_;
  std::mutex busy_;  // held by the loop on the pool
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<int> done_{0};
  const std::function<void(int64_t, int64_t)>* body_ = nullptr;
  int64_t n_ = 0;
  bool stop_ = false;
};

Pool& pool() {
  static Pool p(configured_threads());
  return p;
}

}  // namespace

int num_threads() { return pool().threads(); }

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& body, bool parallel) {
  if (n <= 0) return;
  if (!parallel || n == 1 || pool().threads() == 1 || !pool().run(n, body)) body(0, n);
}

}  // namespace rptq::cpu
