// The coordinator's scheduler: a pure object (no gRPC, no threads, no clock) that decides which
// tokens of which requests go down the pipeline next. It owns the request queue and the KV slots:
//  - a request waits in a bounded queue until a slot (sequence id in [0, max_seqs)) is free;
//  - its prompt is cut into chunks at multiples of its chunk size: `ubatch` when set (the cuts
//    `pipeshard run --ubatch` makes), else ChoosePromptChunk's choice for the prompt's length and
//    the stage count, fixed at admission; chunks of one sequence may follow each other back to
//    back; only the last prompt row needs logits;
//  - in generation a sequence has at most one row in flight; ready sequences are grouped so that
//    about one micro-batch per stage is in flight, and new prompts' chunks join between steps
//    (continuous batching); at most `stages` micro-batches with generated rows and `stages` + 1 in
//    all are in flight: the extra one waits at stage 0 so that it never idles for a round trip
//    between prompt chunks;
//  - a slot is handed back only after the caller freed it on every stage (TakeSlotsToFree ->
//    FreeSequence everywhere -> SlotFreed), and only once none of its rows is in flight;
//  - after a stage failed, Rewind starts every live request over on the new plan: its prompt and
//    the tokens generated so far are prefilled again with the cuts they first had (the prompt's
//    at multiples of ubatch, then one row per generated token), so the caches come out the same.
// The caller decides when a request stops (EOS, length, context, cancel, failure): it answers each
// sampled token with Continue or End.
// Thread-safety: none; one owner.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/util/status.h"

namespace ps::coord {

using RequestId = uint64_t;

struct SchedulerOptions {
  int32_t max_seqs = 8;
  int32_t ubatch = 0;        // prompt chunk size; 0: ChoosePromptChunk per prompt
  int32_t max_ubatch = 512;  // rows of prompt per micro-batch, and the largest chosen chunk
  int32_t stages = 1;
  int32_t queue_limit = 64;  // requests waiting for a slot
};

// The chunk to cut a prompt of `prompt_len` tokens into for `stages` stages. One stage: the
// largest (max_ubatch), as `pipeshard run` cuts by default. More: at least kChunksPerStage chunks
// per stage, so that the pipeline fills (a prompt in c chunks of the same cost runs at best
// c*S/(c+S-1) times one stage), rounded up to a multiple of 16, never under kMinPromptChunk rows
// (below it the CPU kernels lose their batching) and never over kMaxPipelinedChunk, where they
// already run at full speed: a smaller first chunk fills the pipe sooner (docs/benchmarks.md,
// "Pipeline scaling").
inline constexpr int32_t kChunksPerStage = 4;
inline constexpr int32_t kMaxPipelinedChunk = 128;
inline constexpr int32_t kDefaultMaxUbatch = 512;
inline constexpr int32_t kMinPromptChunk = 64;
int32_t ChoosePromptChunk(int64_t prompt_len, int32_t stages, int32_t max_ubatch);

struct PlannedRow {
  int32_t seq = 0;
  int32_t pos = 0;
  int32_t token = 0;
  bool need_logits = false;
  bool generated = false;  // a sampled token going on (decode), not a prompt row
};

// A sequence whose first prompt chunk is in this micro-batch: its sampler starts here.
struct PlannedStart {
  int32_t seq = 0;
  RequestId request = 0;
};

struct MicroBatchPlan {
  uint64_t id = 0;
  std::vector<PlannedRow> rows;
  std::vector<PlannedStart> starts;
};

struct SampledToken {
  RequestId request = 0;
  int32_t token = 0;
  int32_t index = 0;  // in the frame's `sampled` list (and its `logprobs`)
};

struct MicroBatchOutcome {
  std::vector<SampledToken> sampled;  // live requests only, in row order
  std::vector<RequestId> failed;      // live requests of a failed micro-batch
  std::string failure;                // why, when the result itself was malformed
};

class Scheduler {
 public:
  explicit Scheduler(const SchedulerOptions& options);

  // Queues a request. InvalidArgument for an empty prompt, ResourceExhausted when the queue is full.
  Result<RequestId> Add(std::vector<int32_t> prompt);

  // Admits queued requests into free slots and returns the micro-batches to send now.
  std::vector<MicroBatchPlan> Schedule();

  // A micro-batch came back: one sampled token per row that needed logits, in row order, or
  // `failed` (an error frame). A wrong number of tokens fails the micro-batch's requests too.
  // NotFound for an id that is not in flight.
  Result<MicroBatchOutcome> Complete(uint64_t microbatch_id, const std::vector<int32_t>& sampled, bool failed);

  // The request goes on: `token` (just sampled) is its next row. InvalidArgument when the
  // request is not waiting for a token (unknown, ended, still in prefill or in flight).
  Status Continue(RequestId request, int32_t token);

  // The request is over (finished, cancelled or failed): dropped from the queue, or its slot is
  // released once none of its rows is in flight. Unknown ids are ignored.
  void End(RequestId request);

  // Every micro-batch in flight is lost (a hop broke). Returns the live requests that had rows in
  // flight; the caller ends them.
  std::vector<RequestId> AbandonInFlight();

  // A new plan: every micro-batch in flight is lost and every stage's caches are new. Ended
  // requests are released and their slots (and those waiting to be freed) are free again without
  // a FreeSequence; each live request keeps its slot and is prefilled again from its prompt
  // followed by `generated(id)` (the tokens sampled for it so far), only the last row needing
  // logits. Returns the live requests, in admission order.
  std::vector<RequestId> Rewind(const std::function<std::vector<int32_t>(RequestId)>& generated);
  // Micro-batches kept in flight at once from now on (the new plan's stage count).
  void SetStages(int32_t stages);

  // Slots of ended requests with nothing in flight, to free on every stage; then SlotFreed.
  std::vector<int32_t> TakeSlotsToFree();
  void SlotFreed(int32_t seq);

  int32_t queued() const { return static_cast<int32_t>(queue_.size()); }
  int32_t running() const;  // admitted, not ended
  int32_t microbatches_in_flight() const { return static_cast<int32_t>(in_flight_.size()); }
  int32_t free_slots() const { return static_cast<int32_t>(free_slots_.size()); }
  // The slot of an admitted request, -1 when queued or unknown.
  int32_t SlotOf(RequestId request) const;
  // The prompt chunk of an admitted request (`pipeshard run --ubatch` with it cuts the same), 0
  // when queued or unknown.
  int32_t ChunkOf(RequestId request) const;

 private:
  struct Request {
    std::vector<int32_t> prompt;  // to prefill: the prompt, then on a replay the tokens generated
    size_t prompt_len = 0;        // the request's own prompt: cut at multiples of chunk, then 1 row a chunk
    size_t chunk = 1;             // kept over replays: the same cuts give the same caches
    int32_t seq = -1;
    size_t prompt_sent = 0;
    int32_t next_pos = 0;
    bool has_token = false;  // a sampled token waits to be sent
    int32_t token = 0;
    int in_flight = 0;       // micro-batches holding rows of this request
    bool ended = false;
    bool decoding() const { return prompt_sent == prompt.size(); }
  };
  struct InFlight {
    std::vector<RequestId> requests;  // one entry per row
    std::vector<bool> need_logits;
    bool decode = false;  // holds generated rows
  };

  void Admit();
  void Release(RequestId id, Request& r);
  bool BuildMicroBatch(MicroBatchPlan* plan, bool decode);

  SchedulerOptions options_;
  RequestId next_request_ = 1;
  uint64_t next_microbatch_ = 1;
  std::deque<std::pair<RequestId, std::vector<int32_t>>> queue_;
  std::map<RequestId, Request> running_;  // admission order = id order
  std::map<uint64_t, InFlight> in_flight_;
  std::vector<int32_t> free_slots_;       // kept sorted, lowest first
  std::vector<int32_t> to_free_;
};

}  // namespace ps::coord
