// How every pipeshard command ends on failure: one line on stderr naming the problem, and the
// exit code of the command-line contract (2 bad input or usage, 1 any other failure).
#pragma once

#include "common/util/status.h"

namespace ps::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitBadInput = 2;

// Prints "pipeshard: <message>" and returns the exit code for the status.
int ReportError(const Status& status);

}  // namespace ps::cli
