#include "coordinator/pipeline/trace_log.h"

namespace ps::coord {

void TraceLog::SetStageNames(std::vector<std::string> names) {
  std::lock_guard<std::mutex> lock(mu_);
  stage_names_ = std::move(names);
}

void TraceLog::Sent(const pipeshard::v1::Frame& frame, int64_t now_us) {
  pipeshard::v1::MicroBatchTrace t;
  t.set_id(frame.microbatch_id());
  t.set_epoch(frame.epoch());
  t.set_decode_rows(frame.decode_rows());
  t.set_prompt_rows(frame.rows() - frame.decode_rows());
  t.set_sent_us(now_us);
  std::lock_guard<std::mutex> lock(mu_);
  pending_[frame.microbatch_id()] = std::move(t);
}

void TraceLog::Returned(const pipeshard::v1::Frame& frame, int64_t now_us) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pending_.find(frame.microbatch_id());
  if (it == pending_.end()) return;
  pipeshard::v1::MicroBatchTrace t = std::move(it->second);
  pending_.erase(it);
  t.set_returned_us(now_us);
  t.set_error(frame.error());
  *t.mutable_spans() = frame.spans();
  returned_.push_back(std::move(t));
}

void TraceLog::Handled(int64_t now_us) {
  std::lock_guard<std::mutex> lock(mu_);
  for (pipeshard::v1::MicroBatchTrace& t : returned_) {
    t.set_handled_us(now_us);
    done_.push_back(std::move(t));
  }
  returned_.clear();
  while (done_.size() > capacity_) {
    done_.pop_front();
    ++dropped_;
  }
}

void TraceLog::DropPending() {
  std::lock_guard<std::mutex> lock(mu_);
  pending_.clear();
}

pipeshard::v1::TraceResponse TraceLog::Since(int64_t since_us) const {
  pipeshard::v1::TraceResponse response;
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& name : stage_names_) response.add_stage_names(name);
  for (const pipeshard::v1::MicroBatchTrace& t : done_) {
    if (t.sent_us() >= since_us) *response.add_microbatches() = t;
  }
  response.set_dropped(dropped_);
  return response;
}

}  // namespace ps::coord
