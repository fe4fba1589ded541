#include "cli/local_generation.h"

#include <algorithm>
#include <chrono>

namespace ps::cli {

namespace {
constexpr int32_t kSeq = 0;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Runs tokens [begin, end) of `tokens` at positions starting at `pos`; logits for the last row only.
Status RunChunk(Backend& backend, const std::vector<int32_t>& tokens, size_t begin, size_t end, int32_t pos,
                bool want_logits, BatchOutput* out) {
  Batch batch;
  const size_t n = end - begin;
  batch.tokens.assign(tokens.begin() + static_cast<std::ptrdiff_t>(begin),
                      tokens.begin() + static_cast<std::ptrdiff_t>(end));
  batch.positions.resize(n);
  for (size_t i = 0; i < n; ++i) batch.positions[i] = pos + static_cast<int32_t>(i);
  batch.seq_ids.assign(n, kSeq);
  batch.logits.assign(n, 0);
  if (want_logits) batch.logits[n - 1] = 1;
  return backend.Forward(batch, out);
}
}  // namespace

Result<GenerationResult> GenerateLocally(Backend& backend, const Tokenizer& tokenizer,
                                         const GenerationRequest& request,
                                         const std::function<void(int32_t)>& on_token) {
  const auto& prompt = request.prompt;
  if (prompt.empty()) return Status::InvalidArgument("the prompt is empty (no text and no BOS token)");
  if (static_cast<int64_t>(prompt.size()) > request.n_ctx) {
    return Status::OutOfRange("the prompt has " + std::to_string(prompt.size()) +
                              " tokens but the context holds " + std::to_string(request.n_ctx) +
                              " (raise --ctx or shorten the prompt)");
  }
  if (request.ubatch <= 0) return Status::InvalidArgument("ubatch must be positive");

  GenerationResult result;
  result.prompt_tokens = static_cast<int32_t>(prompt.size());
  backend.FreeSequence(kSeq);

  Sampler sampler(request.sampling);
  for (int32_t t : prompt) sampler.Accept(t);

  // Prefill: the prompt in ubatch-sized chunks; only the last chunk's last row needs logits.
  BatchOutput out;
  const auto prefill_start = std::chrono::steady_clock::now();
  for (size_t begin = 0; begin < prompt.size(); begin += static_cast<size_t>(request.ubatch)) {
    const size_t end = std::min(prompt.size(), begin + static_cast<size_t>(request.ubatch));
    PS_RETURN_IF_ERROR(RunChunk(backend, prompt, begin, end, static_cast<int32_t>(begin), end == prompt.size(), &out));
  }
  result.prefill_seconds = SecondsSince(prefill_start);

  int32_t pos = static_cast<int32_t>(prompt.size());
  std::vector<int32_t> next(1);
  const auto decode_start = std::chrono::steady_clock::now();
  result.stop_reason = "length";
  while (request.n_predict < 0 || static_cast<int32_t>(result.tokens.size()) < request.n_predict) {
    const int32_t token = sampler.Sample(out.logits.data(), request.n_vocab);
    if (!request.ignore_eos && tokenizer.IsEndOfGeneration(token)) {
      result.stop_reason = "eos";
      break;
    }
    sampler.Accept(token);
    result.tokens.push_back(token);
    on_token(token);
    if (request.n_predict >= 0 && static_cast<int32_t>(result.tokens.size()) >= request.n_predict) break;
    if (pos >= request.n_ctx) {
      result.stop_reason = "context";
      break;
    }
    next[0] = token;
    PS_RETURN_IF_ERROR(RunChunk(backend, next, 0, 1, pos, true, &out));
    ++pos;
    ++result.decode_steps;
  }
  result.decode_seconds = SecondsSince(decode_start);
  backend.FreeSequence(kSeq);
  return result;
}

}  // namespace ps::cli
