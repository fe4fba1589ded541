// Hints for a mistyped command line: "unknown command 'rnu' (did you mean 'run'?)" and
// "unknown flag '--promt' for run (did you mean '--prompt'?)", as git and cargo give them.
// Thread-safety: pure functions.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace ps::cli {

// The candidate closest to `word` by edit distance, if close enough to be a typo (at most 2
// edits, and fewer than half the word); "" otherwise.
std::string ClosestName(std::string_view word, const std::vector<std::string>& candidates);

// A one-line explanation of why `argv` did not parse as `app`'s command line, naming the unknown
// command or flag and the closest known one; "" when neither applies (CLI11's own message is
// clearer then).
std::string TypoHint(const CLI::App& app, int argc, const char* const* argv);

}  // namespace ps::cli
