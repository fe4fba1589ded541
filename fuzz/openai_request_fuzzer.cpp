// Hostile requests to the coordinator's OpenAI API (coordinator/service/http): any bytes are taken
// as a request body by ParseOpenAiRequest, for /v1/completions and /v1/chat/completions, and as
// the raw bytes of a connection, read as HttpFront's session reads them (Boost.Beast's
// request_parser with the server's header and body limits, http_limits.h, request after request
// while the client keeps the connection alive), each request's body then going to the parser
// its route names. Never a crash or an exception; a request that parses holds only values inside
// the limits the parser promises; a refusal is one printable line that starts by naming the field
// it reports (as `param`), and its OpenAI error body is JSON that carries both back; the bytes
// arriving whole or a few at a time read as the same requests, or fail at the same one (up to a
// header over the limit: SameRequests).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "coordinator/service/http/http_errors.h"
#include "coordinator/service/http/http_limits.h"
#include "coordinator/service/http/openai_request.h"
#include "fuzz/support/fuzz_check.h"
#include "common/tokenizer/unicode.h"

namespace {

using namespace ps;
using namespace ps::coord::http;
using fuzz::Check;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

// The body limit of a coordinator serving the seeds' tiny models (a 32-token context, no piece
// longer than 32 bytes: InferenceService's max_prompt_bytes); only a declared Content-Length or
// chunk size reaches it, since inputs stay far below it.
constexpr size_t kBodyLimit = MaxBodyBytes(32 * 32);
// A connection's requests read per input (each takes bytes, so the input bounds them anyway).
constexpr int kMaxRequests = 16;

bool IsPrintableLine(std::string_view s) {
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7F) return false;
  }
  return unicode::IsValidUtf8(s);
}

bool InRange(float v, double low, double high) { return std::isfinite(v) && v >= low && v <= high; }

// ParseOpenAiRequest's promises (openai_request.h) about one body.
void CheckBody(std::string_view body, bool chat) {
  std::string param = "left over from an earlier request";
  const Result<OpenAiRequest> parsed = ParseOpenAiRequest(body, chat, &param);
  if (parsed.ok()) {
    const OpenAiRequest& r = *parsed;
    Check(param.empty(), "a request that parses reports no field");
    Check(r.chat == chat, "the request keeps its route");
    if (chat) {
      Check(!r.messages.empty() && r.prompt.empty(), "a chat request has messages and no prompt");
    } else {
      Check(r.messages.empty(), "a completion request has no messages");
    }
    Check(r.max_tokens >= -1, "max_tokens is -1 (no limit) or a count");
    const pipeshard::v1::SamplingParams& s = r.sampling;
    Check(InRange(s.temperature(), 0, 1e6), "temperature is finite, in [0, 1e6]");
    Check(InRange(s.top_p(), 0, 1) && InRange(s.min_p(), 0, 1), "top_p and min_p are in [0, 1]");
    Check(InRange(s.repeat_penalty(), 0, 1e6), "repeat_penalty is finite, in [0, 1e6]");
    Check(s.top_k() >= 0 && s.penalty_last_n() >= -1, "top_k >= 0 and repeat_last_n >= -1");
    Check(r.stop.size() <= kMaxStopStrings, "at most kMaxStopStrings stop strings");
    // Every text handed on (to the tokenizer, the chat template, the stop matcher) came from a
    // JSON string: valid UTF-8.
    Check(unicode::IsValidUtf8(r.prompt) && unicode::IsValidUtf8(r.model), "prompt and model are valid UTF-8");
    for (const std::string& stop : r.stop) {
      Check(stop.size() <= kMaxStopBytes, "a stop string is at most kMaxStopBytes long");
      Check(unicode::IsValidUtf8(stop), "a stop string is valid UTF-8");
    }
    for (const ChatMessage& m : r.messages) {
      Check(unicode::IsValidUtf8(m.role) && unicode::IsValidUtf8(m.content), "messages are valid UTF-8");
    }
    return;
  }
  const Status& status = parsed.status();
  Check(status.code() == StatusCode::kInvalidArgument || status.code() == StatusCode::kUnsupported,
        "a refused request is InvalidArgument or Unsupported");
  const std::string& message = status.message();
  Check(!message.empty() && IsPrintableLine(message), "a refusal is one printable line of UTF-8");
  Check(IsPrintableLine(param), "the field a refusal names is printable");
  if (param.empty()) {
    Check(status.code() == StatusCode::kInvalidArgument && message.starts_with("the request body "),
          "only a refusal of the whole body names no field");
  } else {
    Check(message.starts_with("'" + param + "'"), "a refusal starts with the field it reports");
  }
  // What the client reads: an OpenAI error object carrying the message and the field.
  const int code = HttpStatusOf(status);
  Check(code == 400, "a refused request is a 400");
  nlohmann::json error = nlohmann::json::parse(ErrorBody(status, code, param), nullptr, false);
  Check(!error.is_discarded(), "the error body is JSON");
  Check(error["error"]["message"] == message, "the error body carries the message unchanged");
  Check(param.empty() ? error["error"]["param"].is_null() : error["error"]["param"] == param,
        "the error body carries the field");
}

// A connection whose bytes arrive `chunk` at a time, then end (a SyncReadStream for Beast).
class Connection {
 public:
  Connection(std::string_view bytes, size_t chunk) : bytes_(bytes), chunk_(chunk) {}

  template <typename MutableBuffers>
  size_t read_some(const MutableBuffers& buffers, beast::error_code& ec) {
    ec = {};
    if (bytes_.empty()) {
      ec = boost::asio::error::eof;
      return 0;
    }
    const size_t n = boost::asio::buffer_copy(
        buffers, boost::asio::buffer(bytes_.data(), std::min(chunk_, bytes_.size())));
    bytes_.remove_prefix(n);
    return n;
  }
  template <typename MutableBuffers>
  size_t read_some(const MutableBuffers& buffers) {
    beast::error_code ec;
    const size_t n = read_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

 private:
  std::string_view bytes_;
  size_t chunk_;
};

struct Read {
  beast::error_code ec;
  std::string method, target, body;
  bool keep_alive = false;
  // The same request, or a failure at the same place. Which error Beast reports for bytes that
  // are no request may depend on how much it has seen: a bad method when it holds the whole line,
  // a partial message when the connection ends first.
  bool operator==(const Read& o) const {
    return !ec == !o.ec && method == o.method && target == o.target && body == o.body && keep_alive == o.keep_alive;
  }
};

// The requests one connection carries, read as http_front.cpp's Session reads them: one buffer
// for the connection, a fresh parser with the server's limits per request, the next request only
// while the client keeps the connection alive.
std::vector<Read> ReadConnection(std::string_view bytes, size_t chunk) {
  Connection connection(bytes, chunk);
  beast::flat_buffer buffer;
  std::vector<Read> reads;
  for (int i = 0; i < kMaxRequests; ++i) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(kBodyLimit);
    Read read;
    bhttp::read(connection, buffer, parser, read.ec);
    if (!read.ec) {
      const boost::optional<uint64_t> declared = parser.content_length();
      bhttp::request<bhttp::string_body> request = parser.release();
      read.method = std::string(request.method_string());
      read.target = std::string(request.target());
      read.body = std::move(request.body());
      read.keep_alive = request.keep_alive();
      // The request line and the fields, each within kMaxHeaderBytes (see SameRequests).
      size_t header = read.method.size() + read.target.size();
      for (const auto& field : request) header += field.name_string().size() + field.value().size();
      Check(header <= 2 * kMaxHeaderBytes, "a request read has a header within twice kMaxHeaderBytes");
      Check(read.body.size() <= kBodyLimit, "a request read has a body within the body limit");
      if (declared) Check(read.body.size() == *declared, "a body has the length its Content-Length declares");
    } else {
      // The refusal the server sends (400, 413 or 431) for what it could not read.
      const Status refusal = Status::InvalidArgument("not an HTTP/1.1 request: " + read.ec.message());
      Check(!nlohmann::json::parse(ErrorBody(refusal, 400), nullptr, false).is_discarded(),
            "the refusal of an unreadable request is JSON");
    }
    reads.push_back(std::move(read));
    if (reads.back().ec || !reads.back().keep_alive) break;
  }
  return reads;
}

// Whether two readings of a connection read the same requests. Up to a header over the limit:
// Boost 1.74's parser bounds the request line and then the fields by header_limit each when the
// header is in its buffer whole, but the whole unparsed header when it comes in pieces, so a
// header between kMaxHeaderBytes and twice that is read or refused (431) depending on how the
// bytes arrive.
bool SameRequests(const std::vector<Read>& a, const std::vector<Read>& b) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (a[i].ec == bhttp::error::header_limit || b[i].ec == bhttp::error::header_limit) return true;
    if (!(a[i] == b[i])) return false;
  }
  return a.size() == b.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  CheckBody(bytes, /*chat=*/false);
  CheckBody(bytes, /*chat=*/true);

  const std::vector<Read> whole = ReadConnection(bytes, bytes.size() + 1);
  Check(SameRequests(ReadConnection(bytes, 7), whole),
        "a connection reads the same whether its bytes come whole or 7 at a time");
  for (const Read& read : whole) {
    if (read.ec || read.method != "POST") continue;
    const std::string route = read.target.substr(0, read.target.find('?'));  // as HttpFront routes
    if (route == "/v1/completions" || route == "/v1/chat/completions") {
      CheckBody(read.body, route == "/v1/chat/completions");
    }
  }
  return 0;
}
