#include "common/log/log_progress.h"

#include "common/log/log.h"

namespace ps::log {

ProgressOutput LogProgressOutput() {
  ProgressOutput out;
  out.tty = false;
  out.write = [](std::string_view text) {
    if (text.ends_with('\n')) text.remove_suffix(1);  // a log line ends itself
    Info(text);
  };
  return out;
}

}  // namespace ps::log
