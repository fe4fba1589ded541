#include "worker/stage/stage_executor.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "common/log/log.h"
#include "common/util/elapsed.h"
#include "transport/grpc_status.h"

namespace ps {

using pipeshard::v1::Frame;

static_assert(std::endian::native == std::endian::little, "frame payloads are little-endian F32");

StageExecutor::StageExecutor(std::unique_ptr<Backend> backend, StageConfig config, SenderFactory connect_next)
    : backend_(std::move(backend)),
      config_(std::move(config)),
      connect_next_(std::move(connect_next)),
      requests_(config_.stage_index, config_.limits.max_seqs) {
  thread_ = std::thread([this] { Loop(); });
}

StageExecutor::~StageExecutor() { Shutdown(); }

std::unique_ptr<Backend> StageExecutor::Retire(std::unique_ptr<StageExecutor> executor) {
  if (executor == nullptr) return nullptr;
  executor->Shutdown();
  return std::move(executor->backend_);
}

void StageExecutor::Shutdown() {
  std::deque<Item> dropped;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_one();
  }
  if (!thread_.joinable()) return;
  thread_.join();
  {
    std::lock_guard lock(mu_);
    dropped.swap(queue_);
  }
  for (Item& item : dropped) {
    if (auto* free = std::get_if<FreeRequest>(&item); free != nullptr && free->done) free->done();
  }
  if (next_ != nullptr) (void)next_->Close();
  next_.reset();
}

void StageExecutor::Enqueue(Frame frame) {
  if (frame.spans_size() < kMaxSpans) {
    pipeshard::v1::StageSpan* span = frame.add_spans();
    span->set_stage(config_.stage_index);
    span->set_received_us(NowMicros());
  }
  std::lock_guard lock(mu_);
  queue_.emplace_back(std::move(frame));
  cv_.notify_one();
}

void StageExecutor::FreeSequences(std::vector<int32_t> seq_ids, std::function<void()> done) {
  std::lock_guard lock(mu_);
  if (stopping_) {
    if (done) done();
    return;
  }
  queue_.emplace_back(FreeRequest{std::move(seq_ids), std::move(done)});
  cv_.notify_one();
}

StageStats StageExecutor::stats() const {
  std::lock_guard lock(mu_);
  StageStats s;
  s.tokens_processed = tokens_processed_;
  s.bytes_sent = bytes_sent_;
  s.in_flight = static_cast<int32_t>(queue_.size()) + (running_item_ ? 1 : 0);
  s.last_error = last_error_;
  s.hop_error = hop_error_;
  s.last_microbatch = last_microbatch_;
  s.transport = transport_;
  return s;
}

void StageExecutor::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Item item = std::move(queue_.front());
    queue_.pop_front();
    running_item_ = true;
    lock.unlock();
    std::function<void()> done;  // told only once the item no longer counts as in flight
    if (auto* frame = std::get_if<Frame>(&item)) {
      Process(*frame);
    } else {
      FreeRequest& free = std::get<FreeRequest>(item);
      for (int32_t seq_id : free.seq_ids) {
        // Out-of-range ids are ignored: freeing what does not exist leaves nothing to do.
        if (seq_id >= 0 && seq_id < config_.limits.max_seqs) backend_->FreeSequence(seq_id);
        samplers_.Drop(seq_id);
        requests_.Free(seq_id);
      }
      done = std::move(free.done);
    }
    lock.lock();
    running_item_ = false;
    if (done) {
      lock.unlock();
      done();
      lock.lock();
    }
  }
}

void StageExecutor::Process(Frame& frame) {
  // Our span is the last one, added at Enqueue (none when a stranger's frame came with too many).
  pipeshard::v1::StageSpan* span = frame.spans_size() > 0 ? frame.mutable_spans(frame.spans_size() - 1) : nullptr;
  if (span != nullptr && span->stage() != config_.stage_index) span = nullptr;
  if (span != nullptr) span->set_started_us(NowMicros());
  if (frame.error().empty()) {
    const Status status = Run(frame);
    if (!status.ok()) MarkError(frame, status);
  }
  if (span != nullptr) {
    const int64_t now = NowMicros();
    span->set_finished_us(now);
    span->set_sent_us(now);  // handed to the link next: the sender queues it and returns
  }
  SendNext(std::move(frame));
}

// Checks and runs the frame, replacing its input by this stage's output.
Status StageExecutor::Run(Frame& frame) {
  PS_RETURN_IF_ERROR(CheckFrame(frame, config_.limits));
  requests_.Start(frame);
  if (config_.last_stage) {
    samplers_.Start(frame);
    PS_RETURN_IF_ERROR(samplers_.CheckCanSample(frame));
  }
  const auto rows = static_cast<size_t>(frame.rows());
  batch_.tokens.assign(frame.tokens().begin(), frame.tokens().end());
  batch_.positions.assign(frame.positions().begin(), frame.positions().end());
  batch_.seq_ids.assign(frame.seq_ids().begin(), frame.seq_ids().end());
  batch_.logits.assign(frame.need_logits().begin(), frame.need_logits().end());
  if (config_.limits.first_stage) {
    batch_.embeddings.clear();
  } else {
    batch_.embeddings.resize(rows * static_cast<size_t>(config_.limits.n_embd));
    std::memcpy(batch_.embeddings.data(), frame.payload().data(), frame.payload().size());
  }
  PS_RETURN_IF_ERROR(backend_->Forward(batch_, &output_));
  {
    std::lock_guard lock(mu_);
    tokens_processed_ += rows;
  }

  frame.clear_payload();
  if (config_.last_stage) {
    const std::vector<int32_t> sampled =
        samplers_.Sample(frame, output_.logits, config_.limits.n_vocab, frame.mutable_logprobs());
    frame.mutable_sampled()->Assign(sampled.begin(), sampled.end());
    frame.clear_starts();
    frame.set_cols(0);
    frame.set_dtype(pipeshard::v1::DTYPE_UNSPECIFIED);
  } else {
    const size_t expected = rows * static_cast<size_t>(config_.limits.n_embd);
    if (output_.hidden.size() != expected) {
      return Status::Internal("backend returned " + std::to_string(output_.hidden.size()) +
                              " activations for " + std::to_string(expected));
    }
    frame.set_payload(output_.hidden.data(), expected * sizeof(float));
    frame.set_cols(static_cast<int32_t>(config_.limits.n_embd));
    frame.set_dtype(pipeshard::v1::DTYPE_F32);
  }
  return Status::Ok();
}

void StageExecutor::MarkError(Frame& frame, const Status& status) {
  std::string error = "stage " + std::to_string(config_.stage_index);
  if (!config_.name.empty()) error += " (" + config_.name + ")";
  error += ": " + status.ToString();
  frame.clear_payload();
  frame.clear_sampled();
  frame.clear_logprobs();
  frame.set_cols(0);
  frame.set_dtype(pipeshard::v1::DTYPE_UNSPECIFIED);
  frame.set_error(error);
  frame.set_error_stage(config_.stage_index);
  frame.set_error_code(ToGrpcCode(status));
  RecordError(error);
  log::Warn(error, {{"request_id", requests_.RequestsOf(frame)},
                    {"stage", std::to_string(config_.stage_index)},
                    {"microbatch", std::to_string(frame.microbatch_id())}});
}

void StageExecutor::SendNext(Frame&& frame) {
  if (next_ == nullptr) {
    Result<std::unique_ptr<FrameSender>> connected = connect_next_();
    if (!connected.ok()) {
      RecordHopError("stage " + std::to_string(config_.stage_index) + ": " + connected.status().ToString());
      return;
    }
    next_ = std::move(connected).value();
    std::lock_guard lock(mu_);
    transport_ = next_->Describe();
  }
  const uint64_t id = frame.microbatch_id();
  // What goes on the wire: the frame, plus activations moved beside it on a GPU hop.
  const uint64_t bytes = frame.ByteSizeLong() + frame.device_payload().bytes();
  const Status sent = next_->Send(std::move(frame));
  if (!sent.ok()) {
    // The frame is lost: the coordinator hears of the broken hop from the heartbeat (hop_error)
    // and re-plans; the next frame opens a fresh link in case the next stage came back.
    RecordHopError("stage " + std::to_string(config_.stage_index) + ": " + sent.ToString());
    next_.reset();
    return;
  }
  std::lock_guard lock(mu_);
  last_microbatch_ = std::max(last_microbatch_, id);
  bytes_sent_ += bytes;
}

void StageExecutor::RecordHopError(const std::string& error) {
  std::lock_guard lock(mu_);
  last_error_ = error;
  if (hop_error_.empty()) hop_error_ = error;
}

void StageExecutor::RecordError(const std::string& error) {
  std::lock_guard lock(mu_);
  last_error_ = error;
}

}  // namespace ps
