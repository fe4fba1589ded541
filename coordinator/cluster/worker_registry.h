// The coordinator's map of its workers: who registered (name, address, device, measured speed),
// their latest heartbeat (memory, tokens, frames in flight, last error) and their health.
// A worker is healthy while its heartbeats are fresh and no link to or from it has broken.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "common/util/status.h"
#include "proto/worker.pb.h"

namespace ps::coord {

struct WorkerRecord {
  std::string id;
  std::string name;
  std::string address;
  pipeshard::v1::DeviceInfo device;
  std::chrono::steady_clock::time_point last_heartbeat;
  uint64_t memory_used_bytes = 0;
  uint64_t memory_free_bytes = 0;
  uint64_t tokens_processed = 0;
  int32_t microbatches_in_flight = 0;
  double tokens_per_second = 0;  // over the last heartbeat interval
  std::string reported_error;  // the worker's last error (frame or link); informative only
  std::string link_error;      // a hop to or from it broke: unhealthy for good
};

class WorkerRegistry {
 public:
  // A worker whose last heartbeat is older than `stale_after_seconds` is unhealthy.
  WorkerRegistry(double heartbeat_interval_seconds, double stale_after_seconds);

  // Returns the worker id. A worker registering again from the same address (it restarted)
  // replaces its old record and keeps its place in the order.
  std::string Register(const pipeshard::v1::RegisterRequest& request);
  // False when the id is unknown (the worker must register again).
  bool Heartbeat(const pipeshard::v1::HeartbeatRequest& request);

  // Waits until at least `count` workers registered; false when `deadline` passed first.
  bool WaitForWorkers(size_t count, std::chrono::steady_clock::time_point deadline);
  // Registration order.
  std::vector<WorkerRecord> Snapshot() const;

  void MarkLinkError(const std::string& id, const std::string& error);
  // Memory the worker reported after loading its shard, shown until its next heartbeat.
  void SetMemoryUsed(const std::string& id, uint64_t bytes);
  // OK, or Unavailable saying why (stale heartbeat, broken link, unknown id).
  Status Health(const std::string& id) const;
  double heartbeat_interval_seconds() const { return interval_; }
  double SecondsSinceHeartbeat(const WorkerRecord& record) const;

 private:
  Status HealthLocked(const WorkerRecord& record) const;

  const double interval_;
  const double stale_after_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<WorkerRecord> workers_;
  uint64_t next_id_ = 1;
};

}  // namespace ps::coord
