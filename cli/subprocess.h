// Runs another program to its end without a shell and without trusting it: argv goes straight to
// execv, stdin is /dev/null, stdout and stderr are captured up to a byte limit, and a program that
// runs past its time limit or writes past the byte limit is killed (its whole process group, so a
// script's children die with it). Used by `pipeshard bench --ref-binary` to run llama.cpp.
// Thread-safety: RunProgram may be called from any thread, also while other threads run: between
// fork and exec the child calls only async-signal-safe functions.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/util/status.h"

namespace ps::cli {

struct ProgramLimits {
  double timeout_seconds = 600;              // wall time from start to exit
  size_t max_output_bytes = size_t{8} << 20;  // per stream (stdout, stderr)
};

struct ProgramOutput {
  int exit_code = 0;  // the program's exit status, or 128 + signal when a signal ended it
  std::string out;
  std::string err;
};

// The path execv should run for `name`: `name` itself when it contains a '/', else the first
// executable file called `name` in $PATH. NotFound when there is no such file, InvalidArgument when
// it is a directory or not executable; the message names the path.
Result<std::string> ResolveExecutable(const std::string& name);

// Runs argv (argv[0] as ResolveExecutable returns it) to completion. A non-zero exit code is not
// an error here: the caller reads exit_code. Errors: Unavailable when the program ran past the
// time limit or wrote more than the byte limit to a stream (it is killed in both cases) or could
// not be executed (exec failed: the message has the system's reason); IOError when pipes or fork
// fail.
Result<ProgramOutput> RunProgram(const std::vector<std::string>& argv, const ProgramLimits& limits);

}  // namespace ps::cli
