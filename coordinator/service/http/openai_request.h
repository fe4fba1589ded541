// The OpenAI request bodies the HTTP edge takes (POST /v1/completions and /v1/chat/completions),
// parsed and checked field by field as llama-server reads them: defaults are llama.cpp's
// sampler defaults, `max_tokens` absent or -1 means until the end of generation or the context,
// `stop` is a string or a list of strings, `n` must be 1; `logprobs` is a boolean (with
// `top_logprobs`) in chat and a count in legacy completions, as OpenAI's API has them.
// Unknown fields are ignored, as OpenAI's own server does for fields it does not know.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/status.h"
#include "proto/inference.pb.h"

namespace ps::coord::http {

struct ChatMessage {
  std::string role;
  std::string content;
};

struct OpenAiRequest {
  bool chat = false;
  std::string model;                  // echoed back; any value is taken (one model is served)
  std::string prompt;                 // completions
  std::vector<ChatMessage> messages;  // chat completions
  int32_t max_tokens = -1;            // -1: until end of generation or a full context
  pipeshard::v1::SamplingParams sampling;
  bool ignore_eos = false;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with the usage
};

// The most stop strings, and bytes each, a request may give.
inline constexpr size_t kMaxStopStrings = 16;
inline constexpr size_t kMaxStopBytes = 256;

// InvalidArgument naming the field (`param` is set to it) for bad JSON, a wrong type or a value
// out of range; Unsupported for a field that asks for something pipeshard does not do yet.
Result<OpenAiRequest> ParseOpenAiRequest(std::string_view body, bool chat, std::string* param);

}  // namespace ps::coord::http
