#include "coordinator/cluster/worker_registry.h"

#include <cstdio>
#include <random>

namespace ps::coord {

namespace {

std::string NewCoordinatorId() {
  std::random_device device;
  const uint64_t value = (static_cast<uint64_t>(device()) << 32) | device();
  char text[32];
  std::snprintf(text, sizeof text, "c%016llx", static_cast<unsigned long long>(value));
  return text;
}

}  // namespace

WorkerRegistry::WorkerRegistry(double heartbeat_interval_seconds, double stale_after_seconds)
    : interval_(heartbeat_interval_seconds), stale_after_(stale_after_seconds), coordinator_id_(NewCoordinatorId()) {}

std::string WorkerRegistry::Register(const pipeshard::v1::RegisterRequest& request, Match match) {
  std::lock_guard<std::mutex> lock(mu_);
  WorkerRecord record;
  // snprintf rather than "w" + to_string: g++ 12 warns falsely (-Wrestrict) on the latter.
  char id_text[32];
  std::snprintf(id_text, sizeof id_text, "w%llu", static_cast<unsigned long long>(next_id_++));
  record.id = id_text;
  record.name = request.name().empty() ? request.address() : request.name();
  record.address = request.address();
  record.device = request.device();
  record.memory_free_bytes = request.device().memory_free_bytes();
  record.epoch = request.epoch();
  record.last_heartbeat = std::chrono::steady_clock::now();
  if (request.epoch() > max_epoch_) max_epoch_ = request.epoch();
  const std::string id = record.id;
  bool replaced = false;
  for (WorkerRecord& w : workers_) {
    if (match == Match::kAddress ? w.address == record.address : w.name == record.name) {
      w = std::move(record);  // that worker's process restarted; the old id is gone
      replaced = true;
      break;
    }
  }
  if (!replaced) workers_.push_back(std::move(record));
  ++version_;
  changed_.notify_all();
  return id;
}

bool WorkerRegistry::Heartbeat(const pipeshard::v1::HeartbeatRequest& request) {
  if (request.coordinator_id() != coordinator_id_) return false;
  std::lock_guard<std::mutex> lock(mu_);
  for (WorkerRecord& w : workers_) {
    if (w.id != request.worker_id()) continue;
    const auto now = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>(now - w.last_heartbeat).count();
    const bool was_healthy = HealthLocked(w).ok();
    if (dt > 0 && request.tokens_processed() >= w.tokens_processed) {
      w.tokens_per_second = static_cast<double>(request.tokens_processed() - w.tokens_processed) / dt;
    }
    w.last_heartbeat = now;
    w.memory_used_bytes = request.memory_used_bytes();
    w.memory_free_bytes = request.memory_free_bytes();
    w.tokens_processed = request.tokens_processed();
    w.bytes_sent = request.bytes_sent();
    w.microbatches_in_flight = request.microbatches_in_flight();
    w.reported_error = request.error();
    w.epoch = request.epoch();
    w.hop_error = request.hop_error();
    w.prev_hop_error = request.prev_hop_error();
    w.last_microbatch = request.last_microbatch();
    w.failed.clear();  // alive again: a standby from now on
    if (!was_healthy || !w.hop_error.empty() || !w.prev_hop_error.empty()) {
      ++version_;
      changed_.notify_all();
    }
    return true;
  }
  return false;
}

std::vector<WorkerRecord> WorkerRegistry::Snapshot() {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(workers_, [](const WorkerRecord& w) { return SecondsSince(w.last_heartbeat) > kForgetAfterSeconds; });
  return workers_;
}

uint64_t WorkerRegistry::version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return version_;
}

void WorkerRegistry::WaitForChange(uint64_t seen, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_until(lock, deadline, [&] { return version_ != seen; });
}

void WorkerRegistry::MarkFailed(const std::string& id, const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  for (WorkerRecord& w : workers_) {
    if (w.id == id && w.failed.empty()) {
      w.failed = why;
      ++version_;
      changed_.notify_all();
    }
  }
}

void WorkerRegistry::MarkLoadFailed(const std::string& id, const std::string& why, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  for (WorkerRecord& w : workers_) {
    if (w.id != id) continue;
    w.load_failed = why;
    w.load_retry_at = std::chrono::steady_clock::now() +
                      std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    ++version_;
    changed_.notify_all();
  }
}

bool WorkerRegistry::Plannable(const WorkerRecord& record) {
  return record.load_failed.empty() || std::chrono::steady_clock::now() >= record.load_retry_at;
}

void WorkerRegistry::SetMemoryUsed(const std::string& id, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  for (WorkerRecord& w : workers_) {
    if (w.id == id) w.memory_used_bytes = bytes;
  }
}

Status WorkerRegistry::HealthLocked(const WorkerRecord& record) const {
  if (!record.failed.empty()) return Status::Unavailable(record.failed);
  const double age = SecondsSince(record.last_heartbeat);
  if (age > stale_after_) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "no heartbeat for %.1f s", age);
    return Status::Unavailable(buf);
  }
  return Status::Ok();
}

Status WorkerRegistry::Health(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const WorkerRecord& w : workers_) {
    if (w.id == id) return HealthLocked(w);
  }
  return Status::Unavailable("worker " + id + " is not registered (it restarted or was forgotten)");
}

bool WorkerRegistry::Find(const std::string& id, WorkerRecord* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const WorkerRecord& w : workers_) {
    if (w.id == id) {
      *out = w;
      return true;
    }
  }
  return false;
}

uint64_t WorkerRegistry::max_reported_epoch() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_epoch_;
}

}  // namespace ps::coord
