// The keys clients must present on the Inference service (`authorization: Bearer KEY`), read
// from --api-key-file: one key a line; blank lines and lines starting with '#' are skipped. A key
// is 16 to 256 printable ASCII characters without spaces. Errors name the file and the line,
// never the key. Check compares in constant time per key, so a caller cannot learn a key byte by
// byte from the timing.
// Thread-safety: immutable after Load; Check may be called from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/util/status.h"

namespace ps::coord {

class ApiKeys {
 public:
  static constexpr size_t kMinLength = 16;
  static constexpr size_t kMaxLength = 256;

  // InvalidArgument naming the file (unreadable, no key) or the line (a bad key).
  static Result<ApiKeys> Load(const std::string& path);
  static Result<ApiKeys> Parse(std::string_view text, const std::string& origin);

  // Ok for "Bearer KEY" with a loaded KEY; Unauthenticated saying what is missing or wrong.
  Status Check(std::string_view authorization) const;
  size_t size() const { return keys_.size(); }

 private:
  std::vector<std::string> keys_;
};

}  // namespace ps::coord
