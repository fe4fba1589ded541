// The CPU backend's thread pool (thread_pool.h): slices, many rapid calls, the sleeping paths of
// workers and caller, oversubscription, shutdown and reuse.
#include "worker/backend/cpu/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <time.h>
#include <vector>

namespace ps::cpu {
namespace {

// Idle long enough that every spinning thread has gone to sleep.
void LetThePoolFallAsleep() {
  std::this_thread::sleep_for(std::chrono::microseconds(5 * ThreadPool::kSpinMicros));
}

TEST(ThreadPoolTest, SlicesCoverTheRangeOnceInThreadOrder) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.threads(), threads);
    for (int64_t n : {1, 2, 3, 4, 7, 100, 1001}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + " n " + std::to_string(n));
      std::vector<int> owner(n, -1);
      std::vector<int> calls(threads, 0);
      pool.ParallelFor(n, [&](int thread, int64_t begin, int64_t end) {
        ASSERT_GE(thread, 0);
        ASSERT_LT(thread, threads);
        ASSERT_LT(begin, end);
        ++calls[thread];
        for (int64_t i = begin; i < end; ++i) owner[i] = thread;
      });
      // Each thread ran at most one slice; slices are equal up to one and in thread order.
      for (int t = 0; t < threads; ++t) EXPECT_LE(calls[t], 1);
      const int64_t base = n / threads;
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_GE(owner[i], 0) << "index " << i << " not visited";
        if (i > 0) {
          ASSERT_GE(owner[i], owner[i - 1]);
        }
      }
      for (int t = 0; t < threads; ++t) {
        const int64_t size = std::count(owner.begin(), owner.end(), t);
        EXPECT_TRUE(size == base || size == base + 1) << "thread " << t << " got " << size;
      }
    }
  }
}

TEST(ThreadPoolTest, EmptyRangeCallsNothing) {
  ThreadPool pool(3);
  int calls = 0;
  pool.ParallelFor(0, [&](int, int64_t, int64_t) { ++calls; });
  pool.ParallelFor(-5, [&](int, int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

// Every call's writes are visible to the caller and to every thread of the next call: each call
// reads the cells the previous call wrote (mostly on other threads) and writes the other buffer.
TEST(ThreadPoolTest, ManyRapidCallsSeeEachOthersResults) {
  for (int threads : {2, 3, 4}) {
    ThreadPool pool(threads);
    constexpr int64_t kN = 64;
    std::vector<int64_t> a(kN, 0), b(kN, 0);
    constexpr int kCalls = 20000;
    for (int c = 0; c < kCalls; ++c) {
      const std::vector<int64_t>& in = c % 2 == 0 ? a : b;
      std::vector<int64_t>& out = c % 2 == 0 ? b : a;
      pool.ParallelFor(kN, [&](int, int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) out[i] = in[(i + kN / 2) % kN] + 1;
      });
    }
    const std::vector<int64_t>& last = kCalls % 2 == 0 ? a : b;
    for (int64_t i = 0; i < kN; ++i) ASSERT_EQ(last[i], kCalls) << "threads " << threads << " cell " << i;
  }
}

TEST(ThreadPoolTest, WorkersWakeAfterSleeping) {
  ThreadPool pool(3);
  std::atomic<int> slices{0};
  for (int round = 0; round < 4; ++round) {
    LetThePoolFallAsleep();
    pool.ParallelFor(3, [&](int, int64_t, int64_t) { slices.fetch_add(1); });
    EXPECT_EQ(slices.load(), 3 * (round + 1));
  }
}

// A slice longer than the caller's spin sends the caller to sleep; the last worker wakes it.
TEST(ThreadPoolTest, CallerWakesAfterLongSlices) {
  ThreadPool pool(2);
  std::vector<int> done(2, 0);
  for (int round = 0; round < 3; ++round) {
    pool.ParallelFor(2, [&](int thread, int64_t, int64_t) {
      if (thread == 1) std::this_thread::sleep_for(std::chrono::microseconds(3 * ThreadPool::kSpinMicros));
      ++done[thread];
    });
    EXPECT_EQ(done[0], round + 1);
    EXPECT_EQ(done[1], round + 1);
  }
}

// More threads than cores: spinning workers find their jobs late and fall back to sleeping;
// results must not change, and the calls must not hang.
TEST(ThreadPoolTest, OversubscribedPoolStaysCorrect) {
  const int threads = static_cast<int>(std::max(4u, 4 * std::thread::hardware_concurrency()));
  ThreadPool pool(threads);
  std::vector<int64_t> sums(threads, 0);
  constexpr int kCalls = 3000;
  for (int c = 0; c < kCalls; ++c) {
    pool.ParallelFor(threads, [&](int thread, int64_t begin, int64_t end) { sums[thread] += end - begin; });
  }
  for (int t = 0; t < threads; ++t) EXPECT_EQ(sums[t], kCalls) << "thread " << t;
}

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// After the spin budget an idle pool sleeps: a server with no requests must not burn its cores.
TEST(ThreadPoolTest, IdlePoolUsesNoCpu) {
  ThreadPool pool(4);
  std::vector<int64_t> part(4, 0);
  pool.ParallelFor(4, [&](int thread, int64_t begin, int64_t end) { part[thread] = end - begin; });
  const double before = ProcessCpuSeconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double used = ProcessCpuSeconds() - before;
  // Three workers spinning for at most kSpinMicros each: a few milliseconds. Spinning through
  // the whole idle time would be 900 ms.
  EXPECT_LT(used, 0.05) << "CPU seconds used while idle";
}

TEST(ThreadPoolTest, ShutsDownHotIdleOrUnused) {
  for (int i = 0; i < 20; ++i) {
    ThreadPool unused(3);
  }
  for (int i = 0; i < 20; ++i) {
    auto pool = std::make_unique<ThreadPool>(3);
    int64_t total = 0;
    std::vector<int64_t> part(3, 0);
    pool->ParallelFor(30, [&](int thread, int64_t begin, int64_t end) { part[thread] = end - begin; });
    for (int64_t p : part) total += p;
    EXPECT_EQ(total, 30);
    if (i % 2 == 1) LetThePoolFallAsleep();  // odd rounds: workers asleep; even: still spinning
    pool.reset();
  }
}

}  // namespace
}  // namespace ps::cpu
