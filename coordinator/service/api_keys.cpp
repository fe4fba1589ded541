#include "coordinator/service/api_keys.h"

#include <fstream>

namespace ps::coord {

namespace {

constexpr std::string_view kBearer = "Bearer ";
// A key file is a few lines; anything bigger is not one.
constexpr size_t kMaxFileBytes = 1 << 20;

// The time depends on the presented key's length only, not on where it first differs. `key` is
// never empty (keys have at least kMinLength characters).
bool EqualConstantTime(std::string_view key, std::string_view presented) {
  size_t diff = key.size() ^ presented.size();
  for (size_t i = 0; i < presented.size(); ++i) {
    diff |= static_cast<unsigned char>(presented[i]) ^ static_cast<unsigned char>(key[i % key.size()]);
  }
  return diff == 0;
}

}  // namespace

Result<ApiKeys> ApiKeys::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("--api-key-file " + path + ": cannot be read");
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxFileBytes) {
    return Status::InvalidArgument("--api-key-file " + path + ": larger than " + std::to_string(kMaxFileBytes) +
                                   " bytes; it should hold one key a line");
  }
  return Parse(text, "--api-key-file " + path);
}

Result<ApiKeys> ApiKeys::Parse(std::string_view text, const std::string& origin) {
  ApiKeys keys;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = origin + ", line " + std::to_string(line_no);
    for (const char c : line) {
      if (c < 0x21 || c > 0x7E) return Status::InvalidArgument(where + ": a key must be printable ASCII without spaces");
    }
    if (line.size() < kMinLength || line.size() > kMaxLength) {
      return Status::InvalidArgument(where + ": a key must have " + std::to_string(kMinLength) + " to " +
                                     std::to_string(kMaxLength) + " characters (this one has " +
                                     std::to_string(line.size()) + ")");
    }
    keys.keys_.emplace_back(line);
  }
  if (keys.keys_.empty()) return Status::InvalidArgument(origin + ": holds no key");
  return keys;
}

Status ApiKeys::Check(std::string_view authorization) const {
  if (authorization.empty()) {
    return Status::Unauthenticated("this server needs an API key: send 'authorization: Bearer KEY' (pipeshard "
                                   "commands: --api-key or PIPESHARD_API_KEY)");
  }
  if (authorization.substr(0, kBearer.size()) != kBearer) {
    return Status::Unauthenticated("the authorization header must be 'Bearer KEY'");
  }
  const std::string_view presented = authorization.substr(kBearer.size());
  bool match = false;
  for (const std::string& key : keys_) match |= EqualConstantTime(key, presented);
  if (!match) return Status::Unauthenticated("the API key is not valid");
  return Status::Ok();
}

}  // namespace ps::coord
