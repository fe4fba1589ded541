#include "cli/cli_error.h"

#include <cstdio>

#include "common/util/printable.h"

namespace ps::cli {

int ReportError(const Status& status) {
  // One line, always: file names, metadata and peers' messages may carry any bytes.
  std::fprintf(stderr, "pipeshard: %s\n", Printable(status.message()).c_str());
  return status.IsBadInput() ? kExitBadInput : kExitFailure;
}

}  // namespace ps::cli
