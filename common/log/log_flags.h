// The --log-level and --log-format flags that every server program takes, and applying them.
// Thread-safety: call from main before other threads start.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <string_view>

#include "common/log/log.h"

namespace ps::log {

struct LogFlags {
  std::string level = "info";
  std::string format = "text";
};

inline void AddLogFlags(CLI::App& app, LogFlags* flags) {
  app.add_option("--log-level", flags->level, "debug, info, warn, error or off")->capture_default_str();
  app.add_option("--log-format", flags->format, "text, or json for one JSON object per line")->capture_default_str();
}

// Configures the process's logs under `program`; an unknown level or format is an error naming it.
inline Status ApplyLogFlags(std::string_view program, const LogFlags& flags) {
  Result<Level> level = ParseLevel(flags.level);
  if (!level.ok()) return level.status();
  Result<Format> format = ParseFormat(flags.format);
  if (!format.ok()) return format.status();
  Configure(program, *level, *format);
  return Status::Ok();
}

}  // namespace ps::log
