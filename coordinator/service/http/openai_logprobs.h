// OpenAI's two shapes of log-probabilities, from the engine's TokenLogprob entries:
// chat completions' `logprobs.content` (token, logprob, bytes, top_logprobs) and the legacy
// completions' `logprobs` (tokens, token_logprobs, top_logprobs, text_offset). A token's text is
// the tokenizer's piece for it alone; when that piece is part of a UTF-8 character, `token`
// shows U+FFFD and `bytes` has the exact bytes (as OpenAI does).
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <vector>

#include "coordinator/engine/engine_loop.h"

namespace ps::coord::http {

nlohmann::json ChatLogprobs(const std::vector<TokenLogprob>& entries);

// `text_offset` is where the first entry's text starts in the whole answer (in bytes); it is
// advanced past the entries' text.
nlohmann::json CompletionLogprobs(const std::vector<TokenLogprob>& entries, size_t* text_offset);

}  // namespace ps::coord::http
