// Progress of one long step (writing a model, loading weights, a long prefill) for a person
// watching stderr. On a terminal: one line rewritten in place ('\r', at most ~10 times a second),
// ended by a summary line. Anywhere else (a pipe, a log file): a plain line at each quarter of
// the work or after 5 s without one, then a "done" line, so that logs stay short.
// Callers that must stay free of terminal code (tools/, backends) take a plain callback and the
// CLI or the worker turns it into a Progress.
// Thread-safety: one thread at a time per Progress (Update, Finish and the destructor); its
// output callbacks run on that thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace ps {

// Where and how a Progress writes; tests inject all of it.
struct ProgressOutput {
  using Clock = std::chrono::steady_clock;
  bool tty = false;  // rewrite one line in place instead of writing whole lines
  // Raw text: each finished line ends in '\n'; on a tty an in-place update starts with '\r'.
  std::function<void(std::string_view text)> write;
  std::function<Clock::time_point()> now;  // empty: the steady clock
};

// stderr, tty when stderr is a terminal, the steady clock.
ProgressOutput StderrProgressOutput();

struct ProgressOptions {
  std::string label;   // what runs: "writing model.gguf" (passed through Printable)
  int64_t total = 0;   // units of work
  std::string items;   // what a unit is ("layers", "tokens"); empty: bytes, shown as KiB, MiB, GiB
  // Nothing is shown before the step has run this long, and a step that ends sooner shows
  // nothing at all: a fast load needs no progress line.
  std::chrono::milliseconds quiet_for{0};
};

class Progress {
 public:
  static constexpr std::chrono::milliseconds kTtyInterval{100};  // between redraws on a terminal
  static constexpr std::chrono::seconds kLineInterval{5};         // between plain lines at most

  explicit Progress(ProgressOptions options, ProgressOutput output = StderrProgressOutput());
  // Without Finish (an error path): ends a half-drawn terminal line, so that what follows (the
  // error) starts on a line of its own; writes no summary.
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // `done` units of `total` are complete (clamped to [0, total]).
  void Update(int64_t done);
  // The summary line ("label: done, 4.3 MiB in 0.1 s (43.0 MiB/s)"), unless the step stayed
  // within quiet_for. Later calls, and Updates after it, do nothing.
  void Finish();

 private:
  ProgressOutput::Clock::time_point Now() const;
  std::string Amount(int64_t units) const;  // "4.3 MiB" or "12 layers"
  std::string StatusLine(int64_t done, ProgressOutput::Clock::time_point now) const;
  void Draw(std::string line, bool final);
  void WriteLine(const std::string& line);

  ProgressOptions options_;
  ProgressOutput output_;
  ProgressOutput::Clock::time_point start_;
  ProgressOutput::Clock::time_point last_shown_;
  int64_t done_ = 0;
  bool shown_ = false;       // something was written
  bool line_open_ = false;   // a tty line drawn and not yet ended with '\n'
  size_t drawn_width_ = 0;   // characters of the tty line drawn last
  int last_quarter_ = 0;     // plain lines: the last quarter reported
  bool finished_ = false;
};

}  // namespace ps
