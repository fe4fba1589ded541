#include "coordinator/service/request_id.h"

#include <cstdio>
#include <random>

namespace ps::coord {

std::string NewRequestId(std::string_view prefix) {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  char digits[17];
  std::snprintf(digits, sizeof digits, "%016llx", static_cast<unsigned long long>(random()));
  std::string id(prefix);
  id += '-';
  id += digits;
  return id;
}

}  // namespace ps::coord
