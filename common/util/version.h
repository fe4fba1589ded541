// The version every program prints for --version: the project version set in CMakeLists.txt and
// the git commit it was built from (with "+changes" when the tree had uncommitted edits; empty
// when not built from a git checkout).
// Thread-safety: constants.
#pragma once

#include <string>
#include <string_view>

namespace ps {

extern const char* const kVersion;    // "0.8.0"
extern const char* const kGitCommit;  // "3f2a9c1b0d4e", or ""

// "pipeshard-worker 0.8.0 (commit 3f2a9c1b0d4e)".
inline std::string VersionLine(std::string_view program) {
  std::string line(program);
  line += ' ';
  line += kVersion;
  if (*kGitCommit != '\0') {
    line += " (commit ";
    line += kGitCommit;
    line += ')';
  }
  return line;
}

}  // namespace ps
