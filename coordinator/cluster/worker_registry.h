// The coordinator's map of its workers: who registered (name, address, device, measured speed),
// their latest heartbeat (memory, tokens, frames in flight, epoch, hop health, last error) and
// their health. A worker may register at any time; the controller decides which ones hold stages
// and which are standbys.
// A worker is healthy while its heartbeats are fresh and it is not marked failed. A worker marked
// failed (its stage was given up) becomes healthy again with its next heartbeat: a worker that
// froze and woke up is a standby from then on (its old shard is fenced by the epoch).
// Worker ids are unique within this coordinator process, whose id (coordinator_id) every
// heartbeat must carry: a restarted coordinator answers the old process's workers "reregister".
// A worker registering from an address already known replaces that record (the process there
// restarted): the old id is gone, so a stage that used it counts as failed.
// Records without a heartbeat for kForgetAfterSeconds are dropped.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "common/util/elapsed.h"
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
  uint64_t bytes_sent = 0;  // to its next hop, over the worker's life (as last reported)
  int32_t microbatches_in_flight = 0;
  double tokens_per_second = 0;  // over the last heartbeat interval
  std::string reported_error;    // the worker's last error (frame or link); informative only
  uint64_t epoch = 0;            // the epoch of the shard it holds, as last reported
  std::string hop_error;         // its link to the next stage broke at `epoch`
  std::string prev_hop_error;    // a stream from the previous stage broke at `epoch`
  uint64_t last_microbatch = 0;  // the highest micro-batch id it sent on at `epoch`
  std::string failed;            // why its stage was given up; cleared by its next heartbeat
  std::string load_failed;       // its last LoadShard failed: left out of plans until load_retry_at
  std::chrono::steady_clock::time_point load_retry_at;
};

class WorkerRegistry {
 public:
  static constexpr double kForgetAfterSeconds = 60.0;

  // A worker whose last heartbeat is older than `stale_after_seconds` is unhealthy.
  WorkerRegistry(double heartbeat_interval_seconds, double stale_after_seconds);

  // Which earlier record a registration replaces (its process restarted): the one at the same
  // address (plain links), or the one of the same name (TLS: the name is a proven identity, and an
  // address alone proves nothing).
  enum class Match { kAddress, kName };
  // Returns the worker id.
  std::string Register(const pipeshard::v1::RegisterRequest& request, Match match = Match::kAddress);
  // False when the worker must register again (unknown id, or another coordinator's).
  bool Heartbeat(const pipeshard::v1::HeartbeatRequest& request);

  // Registration order; records not heard from for kForgetAfterSeconds are dropped first.
  std::vector<WorkerRecord> Snapshot();
  // Bumped at every registration, failure mark and change of health; WaitForChange returns when
  // it differs from `seen` or at `deadline`.
  uint64_t version() const;
  void WaitForChange(uint64_t seen, std::chrono::steady_clock::time_point deadline);

  // Its stage was given up; it is unhealthy until its next heartbeat.
  void MarkFailed(const std::string& id, const std::string& why);
  // Its LoadShard failed: plans leave it out for `seconds` (a new registration clears this), so
  // one worker that cannot load (a missing model file) does not stall every plan.
  void MarkLoadFailed(const std::string& id, const std::string& why, double seconds);
  // False while a LoadShard failure keeps it out of plans.
  static bool Plannable(const WorkerRecord& record);
  // Memory the worker reported after loading its shard, shown until its next heartbeat.
  void SetMemoryUsed(const std::string& id, uint64_t bytes);
  // OK, or Unavailable saying why (stale heartbeat, marked failed, unknown id).
  Status Health(const std::string& id) const;
  // The worker's record, if it is registered.
  bool Find(const std::string& id, WorkerRecord* out) const;
  double heartbeat_interval_seconds() const { return interval_; }
  const std::string& coordinator_id() const { return coordinator_id_; }
  // The largest epoch any worker reported at registration: a restarted coordinator starts above.
  uint64_t max_reported_epoch() const;

 private:
  Status HealthLocked(const WorkerRecord& record) const;

  const double interval_;
  const double stale_after_;
  const std::string coordinator_id_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<WorkerRecord> workers_;
  uint64_t next_id_ = 1;
  uint64_t version_ = 0;
  uint64_t max_epoch_ = 0;
};

}  // namespace ps::coord
