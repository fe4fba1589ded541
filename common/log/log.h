// Process logs for the coordinator and the workers: one line per event on stderr through spdlog,
// as text or as JSON lines (--log-format json), filtered by level (--log-level). A line carries
// fields besides its message, the request id above all, so that one request can be followed from
// the HTTP or gRPC edge through every stage's log. Messages and field values pass through
// Printable: nothing from a file or the network can break a line or reach a terminal raw.
// Thread-safety: Configure once at start, before other threads log; everything else from any
// thread.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include "common/util/status.h"

namespace ps::log {

enum class Level { kDebug, kInfo, kWarn, kError, kOff };
enum class Format { kText, kJson };

// "debug", "info", "warn", "error", "off"; an error names the value and the choices.
Result<Level> ParseLevel(std::string_view name);
// "text", "json".
Result<Format> ParseFormat(std::string_view name);

// Lines name `program`; only those at `level` or above are written. Until this is called, lines
// at info and above are written as text under the name "pipeshard".
void Configure(std::string_view program, Level level, Format format);

bool Enabled(Level level);

struct Field {
  std::string_view key;  // a fixed identifier such as "request_id"; never input
  std::string value;
};
using Fields = std::initializer_list<Field>;

void Write(Level level, std::string_view message, Fields fields = {});
inline void Debug(std::string_view message, Fields fields = {}) { Write(Level::kDebug, message, fields); }
inline void Info(std::string_view message, Fields fields = {}) { Write(Level::kInfo, message, fields); }
inline void Warn(std::string_view message, Fields fields = {}) { Write(Level::kWarn, message, fields); }
inline void Error(std::string_view message, Fields fields = {}) { Write(Level::kError, message, fields); }

// Renders one line's body without the time stamp, level and program (what follows them), for
// tests: text is `message key=value ...` (a value with a space, quote or `=` is JSON-quoted);
// json is the members after "program", starting with "msg".
std::string RenderBody(Format format, std::string_view message, Fields fields);

}  // namespace ps::log
