#include "common/log/log.h"

#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/util/printable.h"

namespace ps::log {
namespace {

constexpr std::string_view kLevelNames[] = {"debug", "info", "warn", "error", "off"};
constexpr std::string_view kFormatNames[] = {"text", "json"};

// Field values are bounded: a hostile prompt or header cannot make a log line huge.
constexpr size_t kMaxMessageBytes = 4096;
constexpr size_t kMaxValueBytes = 512;

spdlog::level::level_enum ToSpdlog(Level level) {
  switch (level) {
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarn: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
    case Level::kOff: return spdlog::level::off;
  }
  return spdlog::level::info;
}

struct State {
  std::shared_ptr<spdlog::logger> logger;
  Format format = Format::kText;
};

std::shared_ptr<spdlog::logger> MakeLogger(std::string_view program, Level level, Format format) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(std::string(program), std::move(sink));
  // The program name is ours (never input), so it goes into the JSON pattern unescaped.
  const std::string pattern = format == Format::kJson
                                  ? R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","program":"%n",%v})"
                                  : "%Y-%m-%dT%H:%M:%S.%eZ %l %n: %v";
  logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(pattern, spdlog::pattern_time_type::utc));
  logger->set_level(ToSpdlog(level));
  // stderr is unbuffered, and a line must be out before a kill -9 can lose it.
  logger->flush_on(spdlog::level::trace);
  return logger;
}

State& Global() {
  static State state{MakeLogger("pipeshard", Level::kInfo, Format::kText), Format::kText};
  return state;
}

bool NeedsQuotes(std::string_view value) {
  if (value.empty()) return true;
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\') return true;
  }
  return false;
}

}  // namespace

Result<Level> ParseLevel(std::string_view name) {
  for (size_t i = 0; i < std::size(kLevelNames); ++i) {
    if (name == kLevelNames[i]) return static_cast<Level>(i);
  }
  return Status::InvalidArgument("--log-level: unknown level \"" + Printable(name, 64) +
                                 "\" (choose debug, info, warn, error or off)");
}

Result<Format> ParseFormat(std::string_view name) {
  for (size_t i = 0; i < std::size(kFormatNames); ++i) {
    if (name == kFormatNames[i]) return static_cast<Format>(i);
  }
  return Status::InvalidArgument("--log-format: unknown format \"" + Printable(name, 64) + "\" (choose text or json)");
}

void Configure(std::string_view program, Level level, Format format) {
  State& state = Global();
  state.logger = MakeLogger(program, level, format);
  state.format = format;
}

bool Enabled(Level level) { return Global().logger->should_log(ToSpdlog(level)); }

std::string RenderBody(Format format, std::string_view message, Fields fields) {
  const std::string text = Printable(message, kMaxMessageBytes);
  if (format == Format::kJson) {
    // One object member after another: the pattern supplies the braces and the fixed members.
    std::string out = "\"msg\":" + nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    for (const Field& f : fields) {
      out += ',';
      out += nlohmann::json(std::string(f.key)).dump();
      out += ':';
      out += nlohmann::json(Printable(f.value, kMaxValueBytes))
                 .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    return out;
  }
  std::string out = text;
  for (const Field& f : fields) {
    const std::string value = Printable(f.value, kMaxValueBytes);
    out += ' ';
    out += f.key;
    out += '=';
    out += NeedsQuotes(value) ? nlohmann::json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                              : value;
  }
  return out;
}

void Write(Level level, std::string_view message, Fields fields) {
  State& state = Global();
  const spdlog::level::level_enum l = ToSpdlog(level);
  if (!state.logger->should_log(l)) return;
  const std::string body = RenderBody(state.format, message, fields);
  state.logger->log(l, spdlog::string_view_t(body.data(), body.size()));
}

}  // namespace ps::log
