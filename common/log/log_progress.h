// Progress (common/util/progress.h) as log lines: a server's long steps (a worker loading its
// shard) show in its log at info level, as text or JSON like every other line, and never as a
// rewritten terminal line, which other threads' lines would break up.
// Thread-safety: as log::Write.
#pragma once

#include "common/util/progress.h"

namespace ps::log {

ProgressOutput LogProgressOutput();

}  // namespace ps::log
