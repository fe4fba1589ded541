#include "coordinator/service/http/openai_logprobs.h"

#include <cmath>
#include <string>

namespace ps::coord::http {

namespace {

using nlohmann::json;

// -inf (a token the model gives no chance) is not JSON: OpenAI clients read -9999 for it.
json Number(float logprob) { return std::isfinite(logprob) ? json(logprob) : json(-9999.0); }

// The piece as a JSON string (invalid UTF-8 becomes U+FFFD when dumped) and its exact bytes.
json Bytes(const std::string& piece) {
  json bytes = json::array();
  for (unsigned char c : piece) bytes.push_back(static_cast<int>(c));
  return bytes;
}

}  // namespace

json ChatLogprobs(const std::vector<TokenLogprob>& entries) {
  json content = json::array();
  for (const TokenLogprob& e : entries) {
    json top = json::array();
    for (const TokenLogprob::Alternative& a : e.top) {
      top.push_back({{"token", a.piece}, {"logprob", Number(a.logprob)}, {"bytes", Bytes(a.piece)}});
    }
    content.push_back(
        {{"token", e.piece}, {"logprob", Number(e.logprob)}, {"bytes", Bytes(e.piece)}, {"top_logprobs", top}});
  }
  return {{"content", content}, {"refusal", nullptr}};
}

json CompletionLogprobs(const std::vector<TokenLogprob>& entries, size_t* text_offset) {
  json tokens = json::array(), token_logprobs = json::array(), top_logprobs = json::array(),
       offsets = json::array();
  for (const TokenLogprob& e : entries) {
    tokens.push_back(e.piece);
    token_logprobs.push_back(Number(e.logprob));
    json top = json::object();
    // Two alternatives with the same text (different ids) keep the likelier: a JSON object has
    // one value per key, as OpenAI's own answers do.
    for (const TokenLogprob::Alternative& a : e.top) {
      if (!top.contains(a.piece)) top[a.piece] = Number(a.logprob);
    }
    top_logprobs.push_back(top);
    offsets.push_back(*text_offset);
    *text_offset += e.piece.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top_logprobs}, {"text_offset", offsets}};
}

}  // namespace ps::coord::http
