// A fixed set of worker threads that split index ranges: ParallelFor(n, fn) cuts [0, n) into one
// contiguous slice per thread and returns when every slice is done. The caller's thread runs
// slice 0, so `threads` is exactly the number of threads computing. No thread is created and
// nothing is allocated per call.
// Thread-safety: one caller at a time (the backend's Forward); fn runs concurrently on slices.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace ps::cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // threads >= 1
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_; }

  // Calls fn(thread, begin, end) once per non-empty slice; `thread` in [0, threads()) names the
  // slice's thread, so fn may use per-thread scratch. Slices depend only on n and threads().
  template <typename Fn>
  void ParallelFor(int64_t n, Fn&& fn) {
    Run(n, &fn, [](void* ctx, int thread, int64_t begin, int64_t end) {
      (*static_cast<Fn*>(ctx))(thread, begin, end);
    });
  }

 private:
  using Trampoline = void (*)(void* ctx, int thread, int64_t begin, int64_t end);
  void Run(int64_t n, void* ctx, Trampoline call);
  void RunSlice(int thread);
  void WorkerLoop(int thread);

  const int threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable work_cv_;  // workers wait here for a new generation
  std::condition_variable done_cv_;  // the caller waits here for pending_ == 0
  uint64_t generation_ = 0;          // bumped once per ParallelFor
  int pending_ = 0;                  // worker slices not finished in this generation
  bool stopping_ = false;
  // The current job, valid while pending_ > 0.
  int64_t n_ = 0;
  void* ctx_ = nullptr;
  Trampoline call_ = nullptr;
};

}  // namespace ps::cpu
