#include "common/util/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "common/util/byte_size.h"
#include "common/util/printable.h"

namespace ps {

namespace {

std::string Seconds(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", seconds);
  return buf;
}

}  // namespace

ProgressOutput StderrProgressOutput() {
  ProgressOutput out;
  out.tty = isatty(STDERR_FILENO) == 1;
  out.write = [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
  };
  return out;
}

Progress::Progress(ProgressOptions options, ProgressOutput output)
    : options_(std::move(options)), output_(std::move(output)) {
  // A label names files, which may hold any bytes; a long one would wrap the rewritten line.
  options_.label = Printable(options_.label, 160);
  options_.total = std::max<int64_t>(0, options_.total);
  if (!output_.write) output_.write = [](std::string_view) {};
  start_ = Now();
  last_shown_ = start_;
}

Progress::~Progress() {
  if (line_open_) output_.write("\n");
}

ProgressOutput::Clock::time_point Progress::Now() const {
  return output_.now ? output_.now() : ProgressOutput::Clock::now();
}

std::string Progress::Amount(int64_t units) const {
  if (options_.items.empty()) return FormatBytes(static_cast<uint64_t>(units));
  std::string text = std::to_string(units);
  text += ' ';
  text += options_.items;
  return text;
}

std::string Progress::StatusLine(int64_t done, ProgressOutput::Clock::time_point now) const {
  const int64_t percent = options_.total > 0 ? done * 100 / options_.total : 100;
  std::string line = options_.label;
  line += ": ";
  line += std::to_string(percent);
  line += "% (";
  if (options_.items.empty()) {
    line += FormatBytes(static_cast<uint64_t>(done));
    line += " of ";
    line += FormatBytes(static_cast<uint64_t>(options_.total));
    const double seconds = std::chrono::duration<double>(now - start_).count();
    if (seconds > 0 && done > 0) {
      line += ", ";
      line += FormatBytes(static_cast<uint64_t>(static_cast<double>(done) / seconds));
      line += "/s";
    }
  } else {
    line += std::to_string(done);
    line += '/';
    line += Amount(options_.total);
  }
  line += ')';
  return line;
}

void Progress::Draw(std::string line, bool final) {
  const size_t width = line.size();
  // Blanks over what a longer previous line left on the terminal.
  if (width < drawn_width_) line.append(drawn_width_ - width, ' ');
  std::string text = "\r";
  text += line;
  if (final) text += '\n';
  output_.write(text);
  drawn_width_ = width;
  line_open_ = !final;
  shown_ = true;
}

void Progress::WriteLine(const std::string& line) {
  std::string text = line;
  text += '\n';
  output_.write(text);
  shown_ = true;
}

void Progress::Update(int64_t done) {
  if (finished_) return;
  done_ = std::clamp<int64_t>(done, 0, options_.total);
  const auto now = Now();
  if (now - start_ < options_.quiet_for) return;
  if (output_.tty) {
    if (shown_ && now - last_shown_ < kTtyInterval) return;
    Draw(StatusLine(done_, now), /*final=*/false);
    last_shown_ = now;
    return;
  }
  // Plain lines: a new quarter, a long silence, or the end of the quiet period. Never a 100%
  // line: the "done" line follows.
  if (done_ >= options_.total) return;
  const int quarter = static_cast<int>(done_ * 4 / options_.total);
  const bool new_quarter = quarter > last_quarter_;
  const bool waited = now - last_shown_ >= kLineInterval;
  const bool quiet_ended = !shown_ && options_.quiet_for.count() > 0;
  if (!new_quarter && !waited && !quiet_ended) return;
  last_quarter_ = std::max(last_quarter_, quarter);
  WriteLine(StatusLine(done_, now));
  last_shown_ = now;
}

void Progress::Finish() {
  if (finished_) return;
  finished_ = true;
  done_ = options_.total;
  const auto now = Now();
  if (!shown_ && now - start_ < options_.quiet_for) return;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  std::string line = options_.label;
  line += ": done, ";
  line += Amount(options_.total);
  line += " in ";
  line += Seconds(seconds);
  if (options_.items.empty() && seconds > 0) {
    line += " (";
    line += FormatBytes(static_cast<uint64_t>(static_cast<double>(options_.total) / seconds));
    line += "/s)";
  }
  if (output_.tty) {
    Draw(std::move(line), /*final=*/true);
  } else {
    WriteLine(line);
  }
}

}  // namespace ps
