#include "coordinator/service/http/http_errors.h"

#include <nlohmann/json.hpp>

namespace ps::coord::http {

int HttpStatusOf(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
    case StatusCode::kCorruption:
    case StatusCode::kUnsupported: return 400;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kResourceExhausted: return 429;
    case StatusCode::kCancelled: return 499;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kIOError:
    case StatusCode::kInternal: break;
  }
  return 500;
}

std::string ErrorBody(const Status& status, int http_status, const std::string& param) {
  // OpenAI's error types, by status.
  const char* type = http_status >= 400 && http_status < 500 ? "invalid_request_error" : "server_error";
  if (http_status == 401) type = "authentication_error";
  if (http_status == 403) type = "permission_error";
  if (http_status == 429) type = "rate_limit_error";
  if (http_status == 503) type = "unavailable_error";
  nlohmann::json error = {{"message", status.message()}, {"type", type}, {"code", http_status}};
  error["param"] = param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param);
  return nlohmann::json{{"error", error}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ps::coord::http
