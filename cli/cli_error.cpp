#include "cli/cli_error.h"

#include <cstdio>

namespace ps::cli {

int ReportError(const Status& status) {
  std::string line = status.message();
  for (char& c : line) {
    if (c == '\n') c = ' ';  // one line, always
  }
  std::fprintf(stderr, "pipeshard: %s\n", line.c_str());
  return status.IsBadInput() ? kExitBadInput : kExitFailure;
}

}  // namespace ps::cli
