// The HTTP edge's one mapping from a Status to an HTTP status code and the OpenAI error object
// ({"error": {"message", "type", "param", "code"}}), as OpenAI and llama-server answer.
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "common/util/status.h"

namespace ps::coord::http {

// 400 bad input, 401 no or wrong key, 403 not allowed, 404 not found, 413 too large (set by the
// server), 429 queue full, 499 cancelled, 503 unavailable (cluster down or recovering),
// 500 otherwise.
int HttpStatusOf(const Status& status);

// The error body for `status`; `param` names the request field when known.
std::string ErrorBody(const Status& status, int http_status, const std::string& param = "");

}  // namespace ps::coord::http
