// A fixed set of worker threads that split index ranges: ParallelFor(n, fn) cuts [0, n) into one
// contiguous slice per thread and returns when every slice is done. The caller's thread runs
// slice 0, so `threads` is exactly the number of threads computing. No thread is created and
// nothing is allocated per call.
//
// Decoding one token makes a few hundred ParallelFor calls, each a few tens of microseconds of
// work, so a condition-variable wake-up per call (tens of microseconds) would cost as much as the
// work. Instead a worker that finished a job spins on the job counter for kSpinMicros before it
// goes to sleep on the condition variable, and the caller spins for the slices to finish: hot
// round trips cost about a microsecond, while an idle pool (a server with no requests) sleeps.
// The spins pause the core and, after a while, yield to the OS.
//
// Spinning only pays while every pool thread has a core of its own. On an oversubscribed machine
// (more runnable threads than cores) a spinning worker is runnable but waits for a time slice, so
// a job posted to it starts hundreds of microseconds late, while a sleeping one, woken through
// the condition variable, gets the scheduler's wake-up preference. So each worker times the
// hand-over of the jobs it picks up while spinning; when too many are slow it sleeps right after
// each job (as does the caller) for the next kQuietJobs jobs, then tries spinning again.
// Thread-safety: one caller at a time (the backend's Forward); fn runs concurrently on slices.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace ps::cpu {

class ThreadPool {
 public:
  // How long a thread spins for the next job (worker) or for the slices to end (caller) before
  // it sleeps on a condition variable. Long enough to bridge the gaps between the calls of one
  // forward pass and between decode steps, short enough that an idle server sleeps at once.
  static constexpr int64_t kSpinMicros = 1000;
  // A hand-over slower than this means the spinning worker was not running.
  static constexpr int64_t kSlowHandoffMicros = 50;
  // Jobs a worker sleeps through without spinning once it found the machine oversubscribed.
  static constexpr int kQuietJobs = 2000;

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
  // Waits until generation_ != seen or stopping_: spins for spin_us, then sleeps on work_cv_.
  // True when the job arrived while spinning.
  bool AwaitJob(uint64_t seen, int64_t spin_us);
  // Spins until pending_ == 0; then sleeps on done_cv_ for the same.
  void AwaitSlices();

  const int threads_;
  std::vector<std::thread> workers_;

  // Job hand-over. The caller writes the job, then bumps generation_ (release); a worker that
  // sees the new generation (acquire) reads the job. Each worker decrements pending_ (release)
  // when its slice is done; the caller's acquire read of 0 ends the call.
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stopping_{false};
  int64_t n_ = 0;
  void* ctx_ = nullptr;
  Trampoline call_ = nullptr;
  std::atomic<int64_t> posted_ns_{0};  // steady_clock time the current job was posted
  std::atomic<int> quiet_workers_{0};  // workers not spinning (oversubscribed); the caller then sleeps too

  // Sleeping. A sleeper announces itself (sleeping_workers_ / caller_sleeping_) under mu_ and
  // re-checks its condition before waiting; the other side changes the condition first and then
  // reads the announcement. Both sides use sequentially consistent operations, so at least one
  // of them sees the other: the sleeper does not sleep, or the waker takes mu_ and notifies.
  std::mutex mu_;
  std::condition_variable work_cv_;  // workers wait here for a new generation
  std::condition_variable done_cv_;  // the caller waits here for pending_ == 0
  std::atomic<int> sleeping_workers_{0};
  std::atomic<bool> caller_sleeping_{false};
};

}  // namespace ps::cpu
