#include "coordinator/cluster/worker_registry.h"

#include <cstdio>

namespace ps::coord {

WorkerRegistry::WorkerRegistry(double heartbeat_interval_seconds, double stale_after_seconds)
    : interval_(heartbeat_interval_seconds), stale_after_(stale_after_seconds) {}

std::string WorkerRegistry::Register(const pipeshard::v1::RegisterRequest& request) {
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
  record.last_heartbeat = std::chrono::steady_clock::now();
  const std::string id = record.id;
  bool replaced = false;
  for (WorkerRecord& w : workers_) {
    if (w.address == record.address) {
      w = std::move(record);
      replaced = true;
      break;
    }
  }
  if (!replaced) workers_.push_back(std::move(record));
  changed_.notify_all();
  return id;
}

bool WorkerRegistry::Heartbeat(const pipeshard::v1::HeartbeatRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  for (WorkerRecord& w : workers_) {
    if (w.id != request.worker_id()) continue;
    const auto now = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>(now - w.last_heartbeat).count();
    if (dt > 0 && request.tokens_processed() >= w.tokens_processed) {
      w.tokens_per_second = static_cast<double>(request.tokens_processed() - w.tokens_processed) / dt;
    }
    w.last_heartbeat = now;
    w.memory_used_bytes = request.memory_used_bytes();
    w.memory_free_bytes = request.memory_free_bytes();
    w.tokens_processed = request.tokens_processed();
    w.microbatches_in_flight = request.microbatches_in_flight();
    w.reported_error = request.error();
    return true;
  }
  return false;
}

bool WorkerRegistry::WaitForWorkers(size_t count, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return changed_.wait_until(lock, deadline, [&] { return workers_.size() >= count; });
}

std::vector<WorkerRecord> WorkerRegistry::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return workers_;
}

void WorkerRegistry::MarkLinkError(const std::string& id, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  for (WorkerRecord& w : workers_) {
    if (w.id == id && w.link_error.empty()) w.link_error = error;
  }
}

void WorkerRegistry::SetMemoryUsed(const std::string& id, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  for (WorkerRecord& w : workers_) {
    if (w.id == id) w.memory_used_bytes = bytes;
  }
}

double WorkerRegistry::SecondsSinceHeartbeat(const WorkerRecord& record) const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - record.last_heartbeat).count();
}

Status WorkerRegistry::HealthLocked(const WorkerRecord& record) const {
  if (!record.link_error.empty()) return Status::Unavailable(record.link_error);
  const double age = SecondsSinceHeartbeat(record);
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
  return Status::Unavailable("worker " + id + " is not registered");
}

}  // namespace ps::coord
