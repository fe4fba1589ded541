#include "worker/backend/cpu/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace ps::cpu {

namespace {

// Tells the core this is a spin-wait (frees the pipeline for the sibling hyper-thread, saves
// power, avoids the memory-order flush on exit).
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// The first part of a spin only pauses; after that the spinner yields between checks, so that on
// an oversubscribed machine the thread it waits for can get the core.
constexpr int64_t kPauseOnlyMicros = 50;

using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// Spins until done() or until budget_us have passed; true when done() became true.
template <typename Done>
bool SpinUntil(Done done, int64_t budget_us) {
  if (budget_us <= 0) return done();
  const Clock::time_point start = Clock::now();
  for (;;) {
    // Reading the clock costs ~20 ns; checking it every 64 rounds keeps the reaction fast.
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      CpuRelax();
    }
    const int64_t spent = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
    if (spent >= budget_us) return false;
    if (spent >= kPauseOnlyMicros) std::this_thread::yield();
  }
}

}  // namespace

ThreadPool::ThreadPool(int threads) : threads_(std::max(threads, 1)) {
  workers_.reserve(threads_ - 1);
  for (int t = 1; t < threads_; ++t) workers_.emplace_back([this, t] { WorkerLoop(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_.store(true);
  }
  work_cv_.notify_all();
  for (std::thread& w : workers_) w.join();
}

void ThreadPool::RunSlice(int thread) {
  // Equal slices, the remainder spread over the first ones: slice t is [begin, end).
  const int64_t base = n_ / threads_;
  const int64_t extra = n_ % threads_;
  const int64_t begin = thread * base + std::min<int64_t>(thread, extra);
  const int64_t end = begin + base + (thread < extra ? 1 : 0);
  if (begin < end) call_(ctx_, thread, begin, end);
}

void ThreadPool::Run(int64_t n, void* ctx, Trampoline call) {
  if (n <= 0) return;
  n_ = n;
  ctx_ = ctx;
  call_ = call;
  if (threads_ == 1 || n == 1) {
    // Only slice 0 is non-empty (decode's one-row steps): no hand-over, no wait.
    RunSlice(0);
    return;
  }
  pending_.store(threads_ - 1, std::memory_order_relaxed);
  posted_ns_.store(NowNs(), std::memory_order_relaxed);
  generation_.fetch_add(1);  // publishes the job (seq_cst, so it is ordered before the read below)
  if (sleeping_workers_.load() > 0) {
    // Taking the mutex orders this notify after any sleeper's last check of generation_.
    { std::lock_guard<std::mutex> lock(mu_); }
    work_cv_.notify_all();
  }
  RunSlice(0);
  AwaitSlices();
}

void ThreadPool::AwaitSlices() {
  const int64_t spin_us = quiet_workers_.load(std::memory_order_relaxed) > 0 ? 0 : kSpinMicros;
  if (SpinUntil([this] { return pending_.load(std::memory_order_acquire) == 0; }, spin_us)) return;
  std::unique_lock<std::mutex> lock(mu_);
  caller_sleeping_.store(true);
  done_cv_.wait(lock, [this] { return pending_.load() == 0; });
  caller_sleeping_.store(false);
}

bool ThreadPool::AwaitJob(uint64_t seen, int64_t spin_us) {
  const auto ready = [this, seen] {
    return generation_.load(std::memory_order_acquire) != seen || stopping_.load(std::memory_order_relaxed);
  };
  if (SpinUntil(ready, spin_us)) return spin_us > 0;
  std::unique_lock<std::mutex> lock(mu_);
  sleeping_workers_.fetch_add(1);
  work_cv_.wait(lock, [this, seen] { return generation_.load() != seen || stopping_.load(); });
  sleeping_workers_.fetch_sub(1);
  return false;
}

void ThreadPool::WorkerLoop(int thread) {
  uint64_t seen = 0;
  // Slow hand-overs count 4, fast ones -1 (never below 0): more than about one slow one in five
  // reaches the limit, a rare one (a timer interrupt) does not.
  constexpr int kSlowLimit = 16;
  int slow_score = 0;
  int quiet_jobs = 0;  // > 0: sleeping after each job instead of spinning
  for (;;) {
    const bool spun = AwaitJob(seen, quiet_jobs > 0 ? 0 : kSpinMicros);
    if (stopping_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    if (spun) {
      const int64_t late_ns = NowNs() - posted_ns_.load(std::memory_order_relaxed);
      slow_score = late_ns > kSlowHandoffMicros * 1000 ? slow_score + 4 : std::max(slow_score - 1, 0);
      if (slow_score >= kSlowLimit) {
        slow_score = 0;
        quiet_jobs = kQuietJobs;
        quiet_workers_.fetch_add(1, std::memory_order_relaxed);
      }
    } else if (quiet_jobs > 0 && --quiet_jobs == 0) {
      quiet_workers_.fetch_sub(1, std::memory_order_relaxed);
    }
    RunSlice(thread);
    // The last slice wakes the caller if it went to sleep; seq_cst pairs with AwaitSlices.
    if (pending_.fetch_sub(1) == 1 && caller_sleeping_.load()) {
      { std::lock_guard<std::mutex> lock(mu_); }
      done_cv_.notify_one();
    }
  }
}

}  // namespace ps::cpu
