// What the HTTP edge (http_front.cpp) lets a client send before it refuses the request: the
// request line and headers together, and the body, whose bound follows from the longest prompt the
// served model can take. A header of their own, so that the request fuzzer
// (fuzz/openai_request_fuzzer.cpp) parses raw requests with the very limits the server sets.
// Thread-safety: constants and a pure function.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ps::coord::http {

// The request line and headers together; more is refused with 431.
inline constexpr size_t kMaxHeaderBytes = 16 * 1024;

// Room in a body for what is not the prompt: the other fields, the messages' roles, JSON's syntax.
inline constexpr size_t kBodyOverheadBytes = 64 * 1024;

// The largest request body, refused with 413 before it is read (Content-Length or chunk sizes):
// twice the longest prompt the model's context holds (InferenceService::max_prompt_bytes), room
// for JSON's escapes, plus the overhead.
constexpr size_t MaxBodyBytes(uint64_t max_prompt_bytes) {
  return static_cast<size_t>(max_prompt_bytes) * 2 + kBodyOverheadBytes;
}

}  // namespace ps::coord::http
