#include "worker/stage/sequence_requests.h"

#include <set>

#include "common/log/log.h"

namespace ps {

void SequenceRequests::Start(const pipeshard::v1::Frame& frame) {
  for (const auto& start : frame.starts()) {
    if (start.seq_id() < 0 || start.seq_id() >= max_seqs_) continue;
    std::string id = start.request_id().substr(0, kMaxIdBytes);
    log::Info("sequence started", {{"request_id", id},
                                   {"stage", std::to_string(stage_index_)},
                                   {"seq", std::to_string(start.seq_id())},
                                   {"microbatch", std::to_string(frame.microbatch_id())},
                                   {"replayed_samples", std::to_string(start.samples_drawn())}});
    by_seq_[start.seq_id()] = std::move(id);
  }
}

void SequenceRequests::Free(int32_t seq) {
  auto it = by_seq_.find(seq);
  if (it == by_seq_.end()) return;
  log::Debug("sequence freed",
             {{"request_id", it->second}, {"stage", std::to_string(stage_index_)}, {"seq", std::to_string(seq)}});
  by_seq_.erase(it);
}

std::string SequenceRequests::RequestsOf(const pipeshard::v1::Frame& frame) const {
  std::set<std::string> ids;
  for (int32_t seq : frame.seq_ids()) {
    if (auto it = by_seq_.find(seq); it != by_seq_.end() && !it->second.empty()) ids.insert(it->second);
  }
  std::string out;
  for (const std::string& id : ids) {
    if (!out.empty()) out += ',';
    out += id;
  }
  return out;
}

}  // namespace ps
