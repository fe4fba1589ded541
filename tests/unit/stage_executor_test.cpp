// The stage executor on make-model's tiny model: a two-stage chain over in-process gRPC produces
// the tokens of the whole model run in one backend (same sampler, same history rule), bad frames
// become error frames that pass later stages untouched while the stage keeps serving, and frees
// are ordered with the frames queued before them.
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>

#include <gtest/gtest.h>

#include "common/gguf/gguf_file.h"
#include "common/model/llama_config.h"
#include "tests/support/stage_server.h"
#include "tests/support/subprocess.h"
#include "tools/make_model/make_model.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/stage/sequence_samplers.h"
#include "worker/stage/stage_executor.h"
#include "transport/grpc_stage_service.h"

namespace ps {
namespace {

using pipeshard::v1::Frame;

constexpr int32_t kCtx = 64;
constexpr int32_t kSeqs = 4;

// Receives frames on a Stage server and hands them to a callback.
struct StageServer {
  explicit StageServer(FrameHandler handler) : service(std::move(handler)) {
    server = test::StartStageServer(service, &address);
  }
  ~StageServer() { server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1)); }
  GrpcStageService service;
  std::unique_ptr<grpc::Server> server;
  std::string address;
};

// The coordinator's end of the ring: frames coming back from the last stage.
class Results {
 public:
  void Add(Frame&& f) {
    std::lock_guard lock(mu_);
    frames_.push_back(std::move(f));
    cv_.notify_all();
  }
  // The next frame back (in order), or an empty frame with error "timeout".
  Frame Next() {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(60), [&] { return next_ < frames_.size(); })) {
      Frame f;
      f.set_error("timeout");
      return f;
    }
    return frames_[next_++];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Frame> frames_;
  size_t next_ = 0;
};

pipeshard::v1::SamplingParams Sampling(uint32_t seed) {
  pipeshard::v1::SamplingParams p;
  p.set_temperature(0.9f);
  p.set_top_k(40);
  p.set_top_p(0.95f);
  p.set_min_p(0.05f);
  p.set_repeat_penalty(1.3f);
  p.set_penalty_last_n(16);
  p.set_seed(seed);
  return p;
}

// One row per token of `tokens` for sequence `seq` from position `pos`; the last row wants logits.
Frame Rows(int32_t seq, const std::vector<int32_t>& tokens, int32_t pos, bool want_logits) {
  Frame f;
  f.set_rows(static_cast<int32_t>(tokens.size()));
  for (size_t i = 0; i < tokens.size(); ++i) {
    f.add_seq_ids(seq);
    f.add_positions(pos + static_cast<int32_t>(i));
    f.add_tokens(tokens[i]);
  }
  std::string flags(tokens.size(), '\0');
  if (want_logits) flags.back() = 1;
  f.set_need_logits(flags);
  return f;
}

void Append(Frame* dst, const Frame& src) {
  dst->set_rows(dst->rows() + src.rows());
  dst->mutable_seq_ids()->MergeFrom(src.seq_ids());
  dst->mutable_positions()->MergeFrom(src.positions());
  dst->mutable_tokens()->MergeFrom(src.tokens());
  dst->mutable_need_logits()->append(src.need_logits());
  dst->mutable_starts()->MergeFrom(src.starts());
}

class StageExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeModelOptions o;
    o.dim = 64;
    o.layers = 4;
    o.heads = 4;
    o.kv_heads = 2;
    o.ff = 128;
    o.ctx = kCtx;
    o.type = GgmlType::Q8_0;
    path_ = dir_.file("tiny.gguf");
    ASSERT_TRUE(MakeModel(path_, o).ok());
    auto file = gguf::GgufFile::Open(path_);
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    file_ = std::move(file).value();
    auto config = ReadLlamaConfig(*file_);
    ASSERT_TRUE(config.ok());
    config_ = *config;
  }

  std::unique_ptr<Backend> MakeBackend(int64_t first, int64_t last) {
    CpuBackendOptions opt;
    opt.threads = 2;
    opt.n_ctx = kCtx;
    opt.max_seqs = kSeqs;
    auto b = CpuBackend::Create(*file_, config_, LayerRange{first, last}, opt);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return b.ok() ? std::unique_ptr<Backend>(std::move(b).value()) : nullptr;
  }

  StageConfig Stage(int32_t index, bool first, bool last) {
    StageConfig c;
    c.stage_index = index;
    c.name = std::string("w").append(std::to_string(index));
    c.last_stage = last;
    c.limits.first_stage = first;
    c.limits.n_vocab = config_.n_vocab;
    c.limits.n_embd = config_.n_embd;
    c.limits.n_ctx = kCtx;
    c.limits.max_seqs = kSeqs;
    c.limits.max_rows = MaxFrameRows(kCtx, kSeqs);
    return c;
  }

  // Builds coordinator <- stage 1 [2,4) <- stage 0 [0,2), wired with gRPC.
  void BuildChain() {
    sink_ = std::make_unique<StageServer>([this](Frame&& f) { results_.Add(std::move(f)); });
    const std::string sink_address = sink_->address;
    stage1_ = std::make_unique<StageExecutor>(MakeBackend(2, 4), Stage(1, false, true),
                                              [sink_address] { return ConnectGrpcFrameSender(sink_address); });
    server1_ = std::make_unique<StageServer>([this](Frame&& f) { stage1_->Enqueue(std::move(f)); });
    const std::string address1 = server1_->address;
    stage0_ = std::make_unique<StageExecutor>(MakeBackend(0, 2), Stage(0, true, false),
                                              [address1] { return ConnectGrpcFrameSender(address1); });
  }

  void TearDown() override {
    stage0_.reset();
    server1_.reset();
    stage1_.reset();
    sink_.reset();
  }

  // What `pipeshard run` does for one sequence on the whole model.
  std::vector<int32_t> Reference(const std::vector<int32_t>& prompt, const pipeshard::v1::SamplingParams& p,
                                 int n_predict, size_t ubatch) {
    auto whole = MakeBackend(0, config_.n_layer);
    Sampler sampler(SamplingParamsFromProto(p));
    for (int32_t t : prompt) sampler.Accept(t);
    BatchOutput out;
    for (size_t begin = 0; begin < prompt.size(); begin += ubatch) {
      const size_t end = std::min(prompt.size(), begin + ubatch);
      Batch b;
      for (size_t i = begin; i < end; ++i) {
        b.tokens.push_back(prompt[i]);
        b.positions.push_back(static_cast<int32_t>(i));
        b.seq_ids.push_back(0);
        b.logits.push_back(i + 1 == prompt.size());
      }
      EXPECT_TRUE(whole->Forward(b, &out).ok());
    }
    std::vector<int32_t> generated;
    auto pos = static_cast<int32_t>(prompt.size());
    while (true) {
      const int32_t t = sampler.Sample(out.logits.data(), static_cast<int32_t>(config_.n_vocab));
      sampler.Accept(t);
      generated.push_back(t);
      if (static_cast<int>(generated.size()) == n_predict) break;
      Batch b;
      b.tokens = {t};
      b.positions = {pos++};
      b.seq_ids = {0};
      b.logits = {1};
      EXPECT_TRUE(whole->Forward(b, &out).ok());
    }
    return generated;
  }

  test::TempDir dir_;
  std::string path_;
  std::unique_ptr<gguf::GgufFile> file_;
  LlamaConfig config_;
  Results results_;
  std::unique_ptr<StageServer> sink_;
  std::unique_ptr<StageExecutor> stage1_;
  std::unique_ptr<StageServer> server1_;
  std::unique_ptr<StageExecutor> stage0_;
};

TEST_F(StageExecutorTest, TwoStageChainEqualsWholeModel) {
  BuildChain();
  const std::vector<std::vector<int32_t>> prompts = {{1, 15, 27, 27, 300, 41, 7, 99, 12}, {1, 200, 3}};
  const std::vector<pipeshard::v1::SamplingParams> params = {Sampling(7), Sampling(1234)};
  constexpr int kPredict = 12;
  constexpr size_t kUbatch = 4;

  // Sequence 0's prompt in chunks of 4 back to back; sequence 1's prompt joins the last chunk.
  std::vector<Frame> prefill;
  for (size_t begin = 0; begin < prompts[0].size(); begin += kUbatch) {
    const size_t end = std::min(prompts[0].size(), begin + kUbatch);
    prefill.push_back(Rows(0, {prompts[0].begin() + static_cast<std::ptrdiff_t>(begin),
                               prompts[0].begin() + static_cast<std::ptrdiff_t>(end)},
                           static_cast<int32_t>(begin), end == prompts[0].size()));
  }
  auto* start0 = prefill.front().add_starts();
  start0->set_seq_id(0);
  *start0->mutable_sampling() = params[0];
  Frame second = Rows(1, prompts[1], 0, true);
  auto* start1 = second.add_starts();
  start1->set_seq_id(1);
  *start1->mutable_sampling() = params[1];
  Append(&prefill.back(), second);
  for (size_t i = 0; i < prefill.size(); ++i) {
    prefill[i].set_microbatch_id(i);
    stage0_->Enqueue(prefill[i]);
  }
  Frame back;
  for (size_t i = 0; i < prefill.size(); ++i) {
    back = results_.Next();
    ASSERT_EQ(back.error(), "");
    ASSERT_EQ(back.microbatch_id(), i);
    EXPECT_TRUE(back.payload().empty());
  }
  ASSERT_EQ(back.sampled_size(), 2);
  std::vector<std::vector<int32_t>> generated = {{back.sampled(0)}, {back.sampled(1)}};

  // Decode: both sequences in one frame per step, each row the token sampled last.
  for (int step = 1; step < kPredict; ++step) {
    Frame f = Rows(0, {generated[0].back()}, static_cast<int32_t>(prompts[0].size() + generated[0].size() - 1), true);
    Append(&f, Rows(1, {generated[1].back()}, static_cast<int32_t>(prompts[1].size() + generated[1].size() - 1), true));
    f.set_microbatch_id(100 + static_cast<uint64_t>(step));
    stage0_->Enqueue(std::move(f));
    back = results_.Next();
    ASSERT_EQ(back.error(), "");
    ASSERT_EQ(back.sampled_size(), 2);
    generated[0].push_back(back.sampled(0));
    generated[1].push_back(back.sampled(1));
  }
  EXPECT_EQ(generated[0], Reference(prompts[0], params[0], kPredict, kUbatch));
  EXPECT_EQ(generated[1], Reference(prompts[1], params[1], kPredict, kUbatch));
  EXPECT_EQ(stage0_->stats().tokens_processed, 12u + 2u * (kPredict - 1));
  EXPECT_EQ(stage0_->stats().transport, "grpc " + server1_->address);
  EXPECT_EQ(stage1_->stats().last_error, "");
}

TEST_F(StageExecutorTest, EveryStageAddsItsTimelineSpanInOrder) {
  BuildChain();
  Frame f = Rows(0, {1, 15, 27}, 0, true);
  f.set_microbatch_id(1);
  auto* start = f.add_starts();
  start->set_seq_id(0);
  *start->mutable_sampling() = Sampling(1);
  stage0_->Enqueue(f);
  Frame back = results_.Next();
  ASSERT_EQ(back.error(), "");
  ASSERT_EQ(back.spans_size(), 2);
  int64_t previous = 0;
  for (int i = 0; i < 2; ++i) {
    const pipeshard::v1::StageSpan& s = back.spans(i);
    EXPECT_EQ(s.stage(), i);
    EXPECT_GE(s.received_us(), previous);  // stage 1 received after stage 0 sent
    EXPECT_LE(s.received_us(), s.started_us());
    EXPECT_LE(s.started_us(), s.finished_us());
    EXPECT_LE(s.finished_us(), s.sent_us());
    previous = s.sent_us();
  }
  EXPECT_GT(back.spans(0).received_us(), 1'600'000'000'000'000);  // Unix microseconds

  // A frame that arrives with too many spans (a stranger's) gets no more, and still runs.
  Frame stuffed = f;
  stuffed.set_microbatch_id(2);
  for (int i = 0; i < StageExecutor::kMaxSpans; ++i) stuffed.add_spans()->set_stage(99);
  stage0_->FreeSequences({0}, nullptr);
  stage1_->FreeSequences({0}, nullptr);
  stage0_->Enqueue(stuffed);
  back = results_.Next();
  EXPECT_EQ(back.error(), "");
  EXPECT_EQ(back.spans_size(), StageExecutor::kMaxSpans);
}

TEST_F(StageExecutorTest, BadFramesBecomeErrorFramesAndTheStageKeepsServing) {
  BuildChain();
  Frame start = Rows(0, {1, 5}, 0, true);
  start.add_starts()->set_seq_id(0);
  stage0_->Enqueue(start);
  Frame back = results_.Next();
  ASSERT_EQ(back.error(), "");
  ASSERT_EQ(back.sampled_size(), 1);

  // Fails CheckFrame at stage 0: a token outside the vocabulary.
  Frame bad = Rows(0, {static_cast<int32_t>(config_.n_vocab)}, 2, true);
  bad.set_microbatch_id(7);
  stage0_->Enqueue(bad);
  // Passes the check but fails Forward at stage 0: position 5 does not continue the cache (2).
  Frame gap = Rows(0, {3}, 5, true);
  gap.set_microbatch_id(8);
  stage0_->Enqueue(gap);
  // A sequence without a SequenceStart reaches the last stage: its sampler is missing there.
  Frame unknown = Rows(2, {1}, 0, true);
  unknown.set_microbatch_id(9);
  stage0_->Enqueue(unknown);
  // The next good frame still runs.
  Frame good = Rows(0, {back.sampled(0)}, 2, true);
  good.set_microbatch_id(10);
  stage0_->Enqueue(good);

  back = results_.Next();
  EXPECT_EQ(back.microbatch_id(), 7u);
  EXPECT_EQ(back.error_stage(), 0);
  EXPECT_NE(back.error().find("stage 0 (w0)"), std::string::npos) << back.error();
  EXPECT_NE(back.error().find("tokens = " + std::to_string(config_.n_vocab)), std::string::npos) << back.error();
  EXPECT_TRUE(back.payload().empty());
  EXPECT_EQ(back.seq_ids_size(), 1);  // the coordinator learns which sequences failed
  back = results_.Next();
  EXPECT_EQ(back.microbatch_id(), 8u);
  EXPECT_EQ(back.error_stage(), 0);
  EXPECT_FALSE(back.error().empty());
  back = results_.Next();
  EXPECT_EQ(back.microbatch_id(), 9u);
  EXPECT_EQ(back.error_stage(), 1);
  EXPECT_NE(back.error().find("no sampler"), std::string::npos) << back.error();
  back = results_.Next();
  EXPECT_EQ(back.microbatch_id(), 10u);
  EXPECT_EQ(back.error(), "");
  EXPECT_EQ(back.sampled_size(), 1);
  EXPECT_NE(stage0_->stats().last_error, "");
}

// An in-process next hop that keeps what it is sent.
class RecordingSender : public FrameSender {
 public:
  explicit RecordingSender(std::vector<Frame>* sent) : sent_(sent) {}
  Status Send(Frame frame) override {
    sent_->push_back(std::move(frame));
    return Status::Ok();
  }
  Status Close() override { return Status::Ok(); }
  Status health() const override { return Status::Ok(); }
  std::string Describe() const override { return "recording"; }

 private:
  std::vector<Frame>* sent_;  // read by the test once the executor is idle
};

TEST_F(StageExecutorTest, FreeIsOrderedAfterQueuedFrames) {
  std::vector<Frame> sent;
  StageExecutor stage(MakeBackend(0, 2), Stage(0, true, false),
                      [&sent]() -> Result<std::unique_ptr<FrameSender>> {
                        return std::unique_ptr<FrameSender>(new RecordingSender(&sent));
                      });
  // Queued back to back: the free lands between the two frames, so the second one may start the
  // slot again from position 0.
  stage.Enqueue(Rows(0, {1, 2, 3}, 0, false));
  stage.FreeSequences({0, -1, 99}, nullptr);
  stage.Enqueue(Rows(0, {4, 5}, 0, false));
  std::promise<void> done;
  stage.FreeSequences({0}, [&] { done.set_value(); });
  ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].error(), "");
  EXPECT_EQ(sent[1].error(), "");
  EXPECT_EQ(sent[1].payload().size(), 2u * static_cast<size_t>(config_.n_embd) * 4u);
  EXPECT_EQ(stage.stats().tokens_processed, 5u);
  EXPECT_EQ(stage.stats().in_flight, 0);
}

TEST_F(StageExecutorTest, ChainSlotRestartsAfterFreeOnEveryStage) {
  BuildChain();
  Frame first = Rows(0, {1, 2, 3}, 0, true);
  first.add_starts()->set_seq_id(0);
  stage0_->Enqueue(first);
  ASSERT_EQ(results_.Next().error(), "");
  std::promise<void> freed0, freed1;
  stage0_->FreeSequences({0}, [&] { freed0.set_value(); });
  stage1_->FreeSequences({0}, [&] { freed1.set_value(); });
  ASSERT_EQ(freed0.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  ASSERT_EQ(freed1.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  // Without a new SequenceStart the last stage has no sampler for the slot any more.
  stage0_->Enqueue(Rows(0, {1, 2}, 0, true));
  Frame back = results_.Next();
  EXPECT_EQ(back.error_stage(), 1);
  EXPECT_NE(back.error().find("no sampler"), std::string::npos) << back.error();
  // The failed frame did not touch stage 1's cache; stage 0's must be freed again.
  std::promise<void> refreed;
  stage0_->FreeSequences({0}, [&] { refreed.set_value(); });
  ASSERT_EQ(refreed.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  Frame again = Rows(0, {1, 2}, 0, true);
  again.add_starts()->set_seq_id(0);
  stage0_->Enqueue(again);
  back = results_.Next();
  EXPECT_EQ(back.error(), "");
  EXPECT_EQ(back.sampled_size(), 1);
}

TEST_F(StageExecutorTest, DeadNextHopIsRecordedAndTheStageRecovers) {
  auto backend = MakeBackend(0, 2);
  int attempts = 0;
  StageExecutor stage(std::move(backend), Stage(0, true, false), [&attempts]() -> Result<std::unique_ptr<FrameSender>> {
    ++attempts;
    return Status::Unavailable("cannot reach the next stage at 127.0.0.1:1");
  });
  stage.Enqueue(Rows(0, {1}, 0, false));
  stage.Enqueue(Rows(0, {2}, 1, false));
  std::promise<void> done;
  stage.FreeSequences({0}, [&] { done.set_value(); });
  ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(attempts, 2);  // every frame tries to open the link again
  EXPECT_NE(stage.stats().last_error.find("127.0.0.1:1"), std::string::npos);
  EXPECT_EQ(stage.stats().tokens_processed, 2u);
}

// The CLI sends the engine's sampler settings in their wire form; the last stage reads them back.
TEST(SequenceSamplersTest, SamplingParamsSurviveTheWire) {
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_k = 12;
  p.top_p = 0.8f;
  p.min_p = 0.1f;
  p.repeat_penalty = 1.2f;
  p.penalty_last_n = 32;
  p.seed = 99;
  const SamplingParams back = SamplingParamsFromProto(SamplingParamsToProto(p));
  EXPECT_EQ(back.temperature, p.temperature);
  EXPECT_EQ(back.top_k, p.top_k);
  EXPECT_EQ(back.top_p, p.top_p);
  EXPECT_EQ(back.min_p, p.min_p);
  EXPECT_EQ(back.repeat_penalty, p.repeat_penalty);
  EXPECT_EQ(back.penalty_last_n, p.penalty_last_n);
  EXPECT_EQ(back.seed, p.seed);
}

}  // namespace
}  // namespace ps
