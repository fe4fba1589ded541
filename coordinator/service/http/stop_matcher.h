// Stop strings for a streamed completion, as llama-server applies them: text is released only
// once no stop string can still begin inside it, so a client never sees part of a stop string;
// when one is found, the text before it is the last text and the request ends (finish_reason
// "stop").
// Thread-safety: none; one per request.
#pragma once

#include <string>
#include <vector>

namespace ps::coord::http {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  // Adds generated text; returns the text that is now safe to send. After a stop string was
  // found, returns only the text before it and stopped() is true (later calls return "").
  std::string Push(const std::string& piece);
  // The generation ended without a stop string: whatever was held back.
  std::string Flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;  // text that may be the start of a stop string
  bool stopped_ = false;
};

}  // namespace ps::coord::http
