#include "coordinator/engine/request_progress.h"

#include "common/util/elapsed.h"

namespace ps::coord {

RequestProgress::RequestProgress(const Tokenizer& tokenizer, int32_t prompt_tokens, int32_t n_predict,
                                 bool ignore_eos, int32_t n_ctx, uint32_t seed)
    : tokenizer_(tokenizer),
      decoder_(tokenizer),
      prompt_tokens_(prompt_tokens),
      n_predict_(n_predict),
      ignore_eos_(ignore_eos),
      n_ctx_(n_ctx),
      seed_(seed),
      start_(std::chrono::steady_clock::now()) {}

RequestProgress::Step RequestProgress::OnSampled(int32_t token) {
  if (!sampled_any_) {  // the first sampled token ends the prefill
    sampled_any_ = true;
    prefill_seconds_ = SecondsSince(start_);
    decode_start_ = std::chrono::steady_clock::now();
  }
  // n_predict == 0: `pipeshard run` prefills and samples nothing.
  if (n_predict_ == 0) return Finish("length", "");
  if (!ignore_eos_ && tokenizer_.IsEndOfGeneration(token)) return Finish("eos", "");
  tokens_.push_back(token);
  std::string text = decoder_.Push(token);
  if (n_predict_ >= 0 && generated() >= n_predict_) return Finish("length", std::move(text));
  // The token would sit at position prompt + generated - 1.
  if (prompt_tokens_ + generated() - 1 >= n_ctx_) return Finish("context", std::move(text));
  ++decode_steps_;
  Step step;
  step.text = std::move(text);
  step.go_on = true;
  return step;
}

RequestProgress::Step RequestProgress::Finish(std::string reason, std::string text) {
  stop_reason_ = std::move(reason);
  decode_seconds_ = SecondsSince(decode_start_);
  Step step;
  step.text = std::move(text) + decoder_.Flush();
  step.finished = true;
  return step;
}

pipeshard::v1::GenerateSummary RequestProgress::Summary() const {
  pipeshard::v1::GenerateSummary s;
  for (int32_t t : tokens_) s.add_tokens(t);
  s.set_prompt_tokens(prompt_tokens_);
  s.set_prefill_seconds(prefill_seconds_);
  s.set_decode_steps(decode_steps_);
  s.set_decode_seconds(decode_seconds_);
  s.set_stop_reason(stop_reason_);
  s.set_seed(seed_);
  return s;
}

}  // namespace ps::coord
