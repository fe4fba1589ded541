// Which request each sequence slot of a stage serves, learnt from the SequenceStarts that travel
// with a sequence's first micro-batch: the stage's log lines about a sequence (started, freed, a
// failed micro-batch) carry the request id the coordinator's edge gave it.
// Thread-safety: none; the stage executor's thread only.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "proto/stage.pb.h"

namespace ps {

class SequenceRequests {
 public:
  // Ids are kept for slots [0, max_seqs) only, cut to kMaxIdBytes: a stranger's frames cannot grow it.
  static constexpr size_t kMaxIdBytes = 64;
  SequenceRequests(int32_t stage_index, int32_t max_seqs) : stage_index_(stage_index), max_seqs_(max_seqs) {}

  // Records and logs the frame's starts.
  void Start(const pipeshard::v1::Frame& frame);
  // Logs and forgets the slot's request.
  void Free(int32_t seq);
  // The distinct request ids of the frame's rows, comma-separated ("" when none is known).
  std::string RequestsOf(const pipeshard::v1::Frame& frame) const;

 private:
  const int32_t stage_index_;
  const int32_t max_seqs_;
  std::map<int32_t, std::string> by_seq_;
};

}  // namespace ps
