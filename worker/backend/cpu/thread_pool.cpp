#include "worker/backend/cpu/thread_pool.h"

#include <algorithm>

namespace ps::cpu {

ThreadPool::ThreadPool(int threads) : threads_(std::max(threads, 1)) {
  workers_.reserve(threads_ - 1);
  for (int t = 1; t < threads_; ++t) workers_.emplace_back([this, t] { WorkerLoop(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
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
  if (threads_ == 1) {
    RunSlice(0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ = threads_ - 1;
    ++generation_;
  }
  work_cv_.notify_all();
  RunSlice(0);
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [this] { return pending_ == 0; });
}

void ThreadPool::WorkerLoop(int thread) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
    }
    RunSlice(thread);
    bool last = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      last = --pending_ == 0;
    }
    if (last) done_cv_.notify_one();
  }
}

}  // namespace ps::cpu
