#include "worker/backend/cuda/cuda_status.h"

#include <string>

namespace ps::cuda {

namespace {
std::string_view ShortPath(std::string_view file) {
  const size_t at = file.rfind("worker/");
  return at == std::string_view::npos ? file : file.substr(at);
}
}  // namespace

Status CallFailure(std::string_view library, std::string_view call, std::string_view error_name,
                   std::string_view error_text, FailureKind kind, std::string_view file, int line) {
  std::string message = std::string(library) + " call " + std::string(call) + " failed at " +
                        std::string(ShortPath(file)) + ":" + std::to_string(line) + ": " + std::string(error_name);
  if (!error_text.empty()) message += " (" + std::string(error_text) + ")";
  switch (kind) {
    case FailureKind::kOutOfMemory: return Status::ResourceExhausted(std::move(message));
    case FailureKind::kNoDevice: return Status::Unavailable(std::move(message));
    case FailureKind::kOther: break;
  }
  return Status::Internal(std::move(message));
}

}  // namespace ps::cuda
