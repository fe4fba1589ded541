// Request ids: what the edges (gRPC Generate, the HTTP API) name a request by, in the answer and in
// every log line about it, from the edge through each stage ("chatcmpl-3f2a...", "gen-9b1c...").
// Thread-safety: NewRequestId may be called from any thread.
#pragma once

#include <string>
#include <string_view>

namespace ps::coord {

// `prefix` followed by "-" and 16 random hex digits.
std::string NewRequestId(std::string_view prefix);

}  // namespace ps::coord
