// The coordinator's HTTP edge (--http-listen): the OpenAI API on Boost.Beast, beside the gRPC
// API and driving the same pipeline. GET /health (200 only while serving), GET /v1/models,
// POST /v1/completions and /v1/chat/completions, whole or streamed as server-sent events ending
// with `data: [DONE]`. Keys, admission and validation are the gRPC edge's (InferenceService);
// errors are OpenAI error objects (http_errors.h). A client that disconnects cancels its request,
// which frees its sequence on every stage. Every read has a deadline; a body over the limit is
// refused with 413 before it is read.
// Thread-safety: Start, then the destructor, from one thread; connections run on the front's
// own threads, and the pipeline's callbacks only post to them.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/util/status.h"
#include "coordinator/service/http/openai_request.h"
#include "coordinator/metrics/request_metrics.h"
#include "coordinator/service/inference_service.h"

namespace ps::coord::http {

struct HttpFrontOptions {
  std::string listen;              // HOST:PORT; port 0 picks a free one
  int threads = 2;                 // connection threads (they only parse and write)
  double read_timeout_seconds = 30;  // a request must arrive whole within this long
  // Renders a chat into the prompt text (the model's chat template); null: chat completions are
  // refused, naming --chat-template.
  std::function<Result<std::string>(const std::vector<ChatMessage>&)> render_chat;
  std::string chat_refusal;  // why chat is refused when render_chat is null
  // Served as GET /metrics (no key needed, as Prometheus scrapes); null: 404.
  const RequestMetrics* metrics = nullptr;
};

class HttpFront {
 public:
  // Binds and starts serving; Unavailable naming the address when it cannot bind.
  static Result<std::unique_ptr<HttpFront>> Start(const HttpFrontOptions& options, InferenceService& inference);
  ~HttpFront();  // stops accepting, closes connections (cancelling their requests), joins
  HttpFront(const HttpFront&) = delete;
  HttpFront& operator=(const HttpFront&) = delete;

  // HOST:PORT actually bound.
  const std::string& address() const { return address_; }

 private:
  class Impl;
  explicit HttpFront(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string address_;
};

}  // namespace ps::coord::http
