#include "coordinator/service/http/http_front.h"

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "coordinator/service/http/http_errors.h"
#include "coordinator/service/http/openai_logprobs.h"
#include "coordinator/service/http/http_limits.h"
#include "coordinator/service/http/stop_matcher.h"
#include "coordinator/service/request_id.h"

namespace ps::coord::http {

namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;

// A client that stops reading: each write must be taken within this long, or the connection (and
// its request) ends.
constexpr auto kWriteTimeout = std::chrono::seconds(60);
// Connections beyond this are closed at once, so strangers cannot use up the process's files.
constexpr int kMaxConnections = 1024;
// How long, and how many bytes, a refused request's remaining body is read and dropped.
constexpr auto kLingerTime = std::chrono::seconds(5);
constexpr size_t kMaxLingerBytes = 64 << 20;

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Lets the pipeline's thread reach a connection only while the front runs: closed (under its
// lock) before the io_context goes, so no callback posts to a destroyed executor.
struct Gate {
  std::mutex mu;
  bool open = true;
};

struct Shared {
  HttpFrontOptions options;
  InferenceService& inference;
  std::string model_id;
  size_t max_body_bytes;
  std::shared_ptr<Gate> gate = std::make_shared<Gate>();
  std::atomic<int> connections{0};
};

class Session;

// The pipeline's side of one HTTP request: posts every event to the connection's strand.
class HttpSink : public RequestSink {
 public:
  HttpSink(std::weak_ptr<Session> session, net::any_io_executor executor, std::shared_ptr<Gate> gate)
      : session_(std::move(session)), executor_(std::move(executor)), gate_(std::move(gate)) {}
  void OnLogprob(TokenLogprob entry) override;
  void OnText(std::string piece) override;
  void OnFinished(pipeshard::v1::GenerateSummary summary) override;
  void OnFailed(Status status) override;

 private:
  template <typename F>
  void Post(F&& f) {
    std::lock_guard<std::mutex> lock(gate_->mu);
    if (!gate_->open) return;
    net::post(executor_, [weak = session_, f = std::forward<F>(f)]() mutable {
      if (auto s = weak.lock()) f(*s);
    });
  }
  std::weak_ptr<Session> session_;
  net::any_io_executor executor_;
  std::shared_ptr<Gate> gate_;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Shared& shared) : stream_(std::move(socket)), shared_(shared) { ++shared_.connections; }
  ~Session() {
    if (handle_ != 0 && !ended_) shared_.inference.pipeline().Cancel(handle_);
    --shared_.connections;
  }

  void Run() { net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); }); }

  // From the pipeline, on the strand.
  void OnLogprob(TokenLogprob entry);
  void OnPiece(const std::string& piece);
  void OnFinished(const pipeshard::v1::GenerateSummary& summary);
  void OnFailed(const Status& status);

 private:
  void Read() {
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(shared_.max_body_bytes);
    stream_.expires_after(std::chrono::milliseconds(static_cast<int64_t>(shared_.options.read_timeout_seconds * 1000)));
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset) {
      return Close();
    }
    if (ec == bhttp::error::body_limit) {
      keep_alive_ = false;
      linger_ = true;
      return ReplyError(Status::InvalidArgument("the request body is larger than " +
                                                std::to_string(shared_.max_body_bytes) + " bytes"),
                        413);
    }
    if (ec == bhttp::error::header_limit) {
      keep_alive_ = false;
      linger_ = true;
      return ReplyError(Status::InvalidArgument("the request headers are larger than " +
                                                std::to_string(kMaxHeaderBytes) + " bytes"),
                        431);
    }
    if (ec) {
      keep_alive_ = false;
      linger_ = true;
      return ReplyError(Status::InvalidArgument("not an HTTP/1.1 request: " + ec.message()), 400);
    }
    request_ = parser_->release();
    keep_alive_ = request_.keep_alive();
    Route();
  }

  void Route() {
    std::string target(request_.target());
    target = target.substr(0, target.find('?'));
    const bool get = request_.method() == bhttp::verb::get;
    const bool post = request_.method() == bhttp::verb::post;
    if (target == "/health") {
      if (!get) return MethodNotAllowed("GET");
      const bool serving = shared_.inference.Accepting();
      return Reply(serving ? 200 : 503, serving ? R"({"status":"ok"})" : R"({"status":"unavailable"})");
    }
    if (target == "/metrics" && shared_.options.metrics != nullptr) {
      if (!get) return MethodNotAllowed("GET");
      return Reply(200, shared_.options.metrics->Text(), "text/plain; version=0.0.4");
    }
    if (target == "/v1/models") {
      if (!get) return MethodNotAllowed("GET");
      if (Status key = Key(); !key.ok()) return ReplyError(key);
      json model = {{"id", shared_.model_id}, {"object", "model"}, {"created", UnixSeconds()}, {"owned_by", "pipeshard"}};
      return Reply(200, Dump(json{{"object", "list"}, {"data", json::array({model})}}));
    }
    if (target == "/v1/completions" || target == "/v1/chat/completions") {
      if (!post) return MethodNotAllowed("POST");
      if (Status key = Key(); !key.ok()) return ReplyError(key);
      return Generate(target == "/v1/chat/completions");
    }
    ReplyError(Status::NotFound("no route " + std::string(request_.method_string()) + " " + target), 404);
  }

  Status Key() const {
    const auto it = request_.find(bhttp::field::authorization);
    return shared_.inference.CheckKey(it == request_.end() ? std::string_view() : std::string_view(it->value().data(), it->value().size()));
  }

  void Generate(bool chat) {
    std::string param;
    auto parsed = ParseOpenAiRequest(request_.body(), chat, &param);
    if (!parsed.ok()) return ReplyError(parsed.status(), 0, param);
    openai_ = std::move(parsed).value();
    pipeshard::v1::GenerateRequest request;
    if (chat) {
      if (!shared_.options.render_chat) {
        return ReplyError(Status::Unsupported("chat completions need a chat template: " +
                                              (shared_.options.chat_refusal.empty() ? std::string("none is set")
                                                                                    : shared_.options.chat_refusal)),
                          400, "messages");
      }
      auto prompt = shared_.options.render_chat(openai_.messages);
      if (!prompt.ok()) return ReplyError(prompt.status(), 400, "messages");
      request.set_prompt(*prompt);
    } else {
      request.set_prompt(openai_.prompt);
    }
    request.set_n_predict(openai_.max_tokens);
    *request.mutable_sampling() = openai_.sampling;
    request.set_ignore_eos(openai_.ignore_eos);
    id_ = NewRequestId(chat ? "chatcmpl" : "cmpl");
    auto admitted = shared_.inference.Admit(request, id_);
    if (!admitted.ok()) return ReplyError(admitted.status(), 0, admitted.status().IsBadInput() ? "prompt" : "");
    prompt_tokens_ = static_cast<int32_t>(admitted->prompt.size());
    stop_.emplace(openai_.stop);
    created_ = UnixSeconds();
    whole_.clear();
    pending_logprobs_.clear();
    answered_logprobs_.clear();
    text_offset_ = 0;
    pieces_ = 0;
    ended_ = false;
    first_delta_ = true;
    stream_.expires_never();  // a generation takes as long as it takes; a disconnect cancels it
    admitted->sink = std::make_shared<HttpSink>(weak_from_this(), stream_.get_executor(), shared_.gate);
    handle_ = shared_.inference.pipeline().Submit(std::move(admitted).value());
    // The stream's headers wait for its first event: a refusal that comes back at once (the
    // queue is full) still gets its own status code (429), not a 200 with an error event.
    WatchForDisconnect();
  }

  // The peer closing its side while we generate: cancel at once, so every stage frees the
  // sequence. Data instead of EOF is a pipelined request: served no further (closed after).
  void WatchForDisconnect() {
    const uint64_t watch = ++watch_id_;
    stream_.socket().async_wait(tcp::socket::wait_read, [self = shared_from_this(), watch](beast::error_code ec) {
      // A wait left over from an earlier request on this connection says nothing about this one.
      if (watch != self->watch_id_ || self->ended_ || ec == net::error::operation_aborted) return;
      beast::error_code available_ec;
      const size_t available = self->stream_.socket().available(available_ec);
      if (!ec && !available_ec && available > 0) {
        self->keep_alive_ = false;
        return;
      }
      self->Cancelled();
    });
  }

  void Cancelled() {
    if (ended_) return;
    ended_ = true;
    shared_.inference.pipeline().Cancel(handle_);
    Close();
  }

  void StartStream() {
    header_.emplace(bhttp::status::ok, request_.version());
    header_->set(bhttp::field::server, "pipeshard");
    header_->set(bhttp::field::content_type, "text/event-stream");
    header_->set(bhttp::field::cache_control, "no-cache");
    header_->chunked(true);
    header_->keep_alive(keep_alive_);
    serializer_.emplace(*header_);
    writing_ = true;
    stream_.expires_after(kWriteTimeout);
    bhttp::async_write_header(stream_, *serializer_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec) return self->Cancelled();
      self->Pump();
    });
  }

  bool WantsLogprobs() const { return openai_.sampling.logprobs() || openai_.sampling.top_logprobs() > 0; }
  // The tokens whose text has gone out with this chunk (or, whole, into the answer), in the
  // request's shape; null when it did not ask.
  json TakeLogprobs(std::vector<TokenLogprob>& entries) {
    if (!WantsLogprobs()) return nullptr;
    json j = openai_.chat ? ChatLogprobs(entries) : CompletionLogprobs(entries, &text_offset_);
    entries.clear();
    return j;
  }

  json Chunk(const std::string& text, const char* finish_reason, json logprobs = nullptr) {
    json choice = {{"index", 0}, {"finish_reason", finish_reason ? json(finish_reason) : json(nullptr)}};
    if (openai_.chat) {
      json delta = json::object();
      if (first_delta_) delta["role"] = "assistant";
      if (!text.empty() || finish_reason == nullptr) delta["content"] = text;
      first_delta_ = false;
      choice["delta"] = delta;
      choice["logprobs"] = std::move(logprobs);
    } else {
      choice["text"] = text;
      choice["logprobs"] = std::move(logprobs);
    }
    return {{"id", id_},
            {"object", openai_.chat ? "chat.completion.chunk" : "text_completion"},
            {"created", created_},
            {"model", ModelName()},
            {"choices", json::array({choice})}};
  }

  std::string ModelName() const { return openai_.model.empty() ? shared_.model_id : openai_.model; }

  void Emit(const std::string& text) {
    if (text.empty()) return;
    if (openai_.stream) {
      Event(Dump(Chunk(text, nullptr, TakeLogprobs(pending_logprobs_))));
    } else {
      whole_ += text;
      for (TokenLogprob& e : pending_logprobs_) answered_logprobs_.push_back(std::move(e));
      pending_logprobs_.clear();
    }
  }

  void Event(const std::string& data) {
    if (!header_) StartStream();
    Enqueue("data: " + data + "\n\n");
  }

  void Enqueue(std::string bytes) {
    out_.push_back(std::move(bytes));
    Pump();
  }

  // One chunk write at a time; an empty entry is the last chunk.
  void Pump() {
    if (writing_ || out_.empty() || !serializer_) return;
    writing_ = true;
    auto done = [self = shared_from_this()](beast::error_code ec, size_t) {
      self->writing_ = false;
      const bool last = self->out_.front().empty();
      self->out_.pop_front();
      if (ec) return self->Cancelled();
      if (last) return self->AfterResponse();
      self->Pump();
    };
    stream_.expires_after(kWriteTimeout);
    if (out_.front().empty()) {
      net::async_write(stream_, bhttp::make_chunk_last(), std::move(done));
    } else {
      net::async_write(stream_, bhttp::make_chunk(net::buffer(out_.front())), std::move(done));
    }
  }

  json Usage(int32_t completion_tokens) const {
    return {{"prompt_tokens", prompt_tokens_},
            {"completion_tokens", completion_tokens},
            {"total_tokens", prompt_tokens_ + completion_tokens}};
  }

  void End(const char* finish_reason, int32_t completion_tokens, bool stop_string = false) {
    ended_ = true;
    // The tokens of a matched stop string are not part of the answer, nor their log-probabilities.
    if (stop_string) pending_logprobs_.clear();
    if (openai_.stream) {
      Event(Dump(Chunk("", finish_reason, pending_logprobs_.empty() ? json(nullptr) : TakeLogprobs(pending_logprobs_))));
      if (openai_.include_usage) {
        json usage = Chunk("", nullptr);
        usage["choices"] = json::array();
        usage["usage"] = Usage(completion_tokens);
        Event(Dump(usage));
      }
      Enqueue("data: [DONE]\n\n");
      Enqueue("");
      return;
    }
    for (TokenLogprob& e : pending_logprobs_) answered_logprobs_.push_back(std::move(e));
    pending_logprobs_.clear();
    json choice = {{"index", 0}, {"finish_reason", finish_reason}};
    if (openai_.chat) {
      choice["message"] = {{"role", "assistant"}, {"content", whole_}};
    } else {
      choice["text"] = whole_;
    }
    choice["logprobs"] = TakeLogprobs(answered_logprobs_);
    Reply(200, Dump(json{{"id", id_},
                         {"object", openai_.chat ? "chat.completion" : "text_completion"},
                         {"created", created_},
                         {"model", ModelName()},
                         {"choices", json::array({choice})},
                         {"usage", Usage(completion_tokens)}}));
  }

  void MethodNotAllowed(const char* allowed) {
    allow_ = allowed;
    ReplyError(Status::InvalidArgument(std::string(request_.method_string()) + " is not allowed here; use " + allowed),
               405);
  }

  void ReplyError(const Status& status, int http_status = 0, const std::string& param = "") {
    const int code = http_status != 0 ? http_status : HttpStatusOf(status);
    Reply(code, ErrorBody(status, code, param));
  }

  void Reply(int code, std::string body, const char* content_type = "application/json") {
    auto response = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(code), 11);
    response->set(bhttp::field::server, "pipeshard");
    response->set(bhttp::field::content_type, content_type);
    if (!allow_.empty()) response->set(bhttp::field::allow, allow_);
    allow_.clear();
    response->keep_alive(keep_alive_);
    response->body() = std::move(body);
    response->prepare_payload();
    stream_.expires_after(kWriteTimeout);
    bhttp::async_write(stream_, *response, [self = shared_from_this(), response](beast::error_code ec, size_t) {
      if (ec) return self->Close();
      self->AfterResponse();
    });
  }

  void AfterResponse() {
    ++watch_id_;
    handle_ = 0;
    serializer_.reset();
    header_.reset();
    if (linger_) return Linger();
    if (!keep_alive_) return Close();
    Read();
  }

  // After refusing a request whose body is still coming: stop sending, then read and drop what
  // the client still sends (for a while), so that closing does not reset the connection before
  // the client has read the refusal.
  void Linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTime);
    DrainSome();
  }
  void DrainSome() {
    stream_.async_read_some(net::buffer(drain_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > kMaxLingerBytes) return self->Close();
      self->DrainSome();
    });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  friend class HttpSink;

  beast::tcp_stream stream_;
  Shared& shared_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::request<bhttp::string_body> request_;
  bool keep_alive_ = true;

  // The request being generated (strand only).
  OpenAiRequest openai_;
  uint64_t handle_ = 0;
  bool ended_ = true;
  std::optional<StopMatcher> stop_;
  std::string id_;
  std::vector<TokenLogprob> pending_logprobs_;   // tokens whose text has not gone out yet
  std::vector<TokenLogprob> answered_logprobs_;  // whole answers: every token's, until the end
  size_t text_offset_ = 0;                       // legacy completions' text_offset
  int64_t created_ = 0;
  int32_t prompt_tokens_ = 0;
  int32_t pieces_ = 0;
  std::string whole_;
  bool first_delta_ = true;
  std::optional<bhttp::response<bhttp::empty_body>> header_;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> serializer_;
  std::deque<std::string> out_;
  bool writing_ = false;
  uint64_t watch_id_ = 0;  // the disconnect watch that counts (WatchForDisconnect)
  bool linger_ = false;    // drain the rest of a refused request before closing
  std::array<char, 16384> drain_{};
  size_t drained_ = 0;
  std::string allow_;  // the Allow header of a 405
};

void Session::OnPiece(const std::string& piece) {
  if (ended_) return;
  ++pieces_;
  Emit(stop_->Push(piece));
  if (stop_->stopped()) {
    // A stop string ends the request here: the pipeline stops generating for it.
    shared_.inference.pipeline().Cancel(handle_);
    End("stop", pieces_, /*stop_string=*/true);
  }
}

void Session::OnLogprob(TokenLogprob entry) {
  if (ended_ || !WantsLogprobs()) return;
  pending_logprobs_.push_back(std::move(entry));
}

void Session::OnFinished(const pipeshard::v1::GenerateSummary& summary) {
  if (ended_) return;
  Emit(stop_->Flush());
  End(summary.stop_reason() == "eos" ? "stop" : "length", summary.tokens_size());
}

void Session::OnFailed(const Status& status) {
  if (ended_) return;
  ended_ = true;
  if (!openai_.stream || !header_) return ReplyError(status);
  const int code = HttpStatusOf(status);
  Event(ErrorBody(status, code));
  Enqueue("data: [DONE]\n\n");
  Enqueue("");
}

void HttpSink::OnLogprob(TokenLogprob entry) {
  Post([entry = std::move(entry)](Session& s) mutable { s.OnLogprob(std::move(entry)); });
}
void HttpSink::OnText(std::string piece) {
  Post([piece = std::move(piece)](Session& s) { s.OnPiece(piece); });
}
void HttpSink::OnFinished(pipeshard::v1::GenerateSummary summary) {
  Post([summary = std::move(summary)](Session& s) { s.OnFinished(summary); });
}
void HttpSink::OnFailed(Status status) {
  Post([status = std::move(status)](Session& s) { s.OnFailed(status); });
}

}  // namespace

class HttpFront::Impl {
 public:
  Impl(const HttpFrontOptions& options, InferenceService& inference)
      : shared_{options, inference, std::filesystem::path(inference.model().path).filename().string(),
                MaxBodyBytes(inference.max_prompt_bytes())},
        acceptor_(ioc_) {}

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(shared_.gate->mu);
      shared_.gate->open = false;
    }
    ioc_.stop();
    for (std::thread& t : threads_) t.join();
  }

  Result<std::string> Bind(const std::string& listen) {
    const size_t colon = listen.rfind(':');
    if (colon == std::string::npos) return Status::InvalidArgument("--http-listen '" + listen + "' is not HOST:PORT");
    std::string host = listen.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host == "localhost") host = "127.0.0.1";
    beast::error_code ec;
    const net::ip::address address = net::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
    if (ec) return Status::InvalidArgument("--http-listen '" + listen + "': '" + host + "' is not an IP address");
    int port = 0;
    try {
      port = std::stoi(listen.substr(colon + 1));
    } catch (...) {
      return Status::InvalidArgument("--http-listen '" + listen + "': the port is not a number");
    }
    if (port < 0 || port > 65535) return Status::InvalidArgument("--http-listen '" + listen + "': no such port");
    const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);  // TIME_WAIT only, never a live port
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return Status::Unavailable("cannot listen on --http-listen " + listen + ": " + ec.message());
    const tcp::endpoint bound = acceptor_.local_endpoint();
    std::string text = bound.address().to_string();
    if (bound.address().is_v6()) text = "[" + text + "]";
    return text + ":" + std::to_string(bound.port());
  }

  void Run() {
    Accept();
    const int n = std::max(1, shared_.options.threads);
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }

 private:
  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
      if (!ec && shared_.connections.load() >= kMaxConnections) {
        beast::error_code ignored;
        socket.close(ignored);
      } else if (!ec) {
        std::make_shared<Session>(std::move(socket), shared_)->Run();
      }
      Accept();
    });
  }

  net::io_context ioc_;
  Shared shared_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
};

HttpFront::HttpFront(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpFront::~HttpFront() = default;

Result<std::unique_ptr<HttpFront>> HttpFront::Start(const HttpFrontOptions& options, InferenceService& inference) {
  auto impl = std::make_unique<Impl>(options, inference);
  PS_ASSIGN_OR_RETURN(std::string address, impl->Bind(options.listen));
  impl->Run();
  std::unique_ptr<HttpFront> front(new HttpFront(std::move(impl)));
  front->address_ = std::move(address);
  return front;
}

}  // namespace ps::coord::http
