// Progress on a fake clock and a string sink: plain lines at quarters, after a silence and at the
// end when stderr is not a terminal; one rate-limited rewritten line when it is; nothing for a
// step that ends within its quiet period.
#include "common/util/progress.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace ps {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A clock that moves only when told and a sink that keeps everything written.
struct FakeOutput {
  ProgressOutput::Clock::time_point now{};
  std::string text;

  ProgressOutput Output(bool tty) {
    ProgressOutput out;
    out.tty = tty;
    out.write = [this](std::string_view s) { text += s; };
    out.now = [this] { return now; };
    return out;
  }
};

ProgressOptions Layers(int64_t total, milliseconds quiet_for = milliseconds(0)) {
  return ProgressOptions{"loading m.gguf", total, "layers", quiet_for};
}

size_t Count(const std::string& text, char c) { return static_cast<size_t>(std::count(text.begin(), text.end(), c)); }

TEST(ProgressPlain, OneLineAtEachQuarterThenDone) {
  FakeOutput fake;
  Progress progress(Layers(8), fake.Output(false));
  for (int64_t layer = 1; layer <= 8; ++layer) {
    fake.now += milliseconds(50);
    progress.Update(layer);
  }
  progress.Finish();
  EXPECT_EQ(fake.text,
            "loading m.gguf: 25% (2/8 layers)\n"
            "loading m.gguf: 50% (4/8 layers)\n"
            "loading m.gguf: 75% (6/8 layers)\n"
            "loading m.gguf: done, 8 layers in 0.4 s\n");
  EXPECT_EQ(fake.text.find('\r'), std::string::npos);
}

TEST(ProgressPlain, JumpsOverSeveralQuartersGiveOneLine) {
  FakeOutput fake;
  Progress progress(Layers(100), fake.Output(false));
  progress.Update(10);
  progress.Update(80);
  progress.Update(90);
  EXPECT_EQ(fake.text, "loading m.gguf: 80% (80/100 layers)\n");
}

TEST(ProgressPlain, ASlowStepGetsALineEveryFiveSeconds) {
  FakeOutput fake;
  Progress progress(Layers(1000), fake.Output(false));
  for (int64_t done = 1; done <= 120; ++done) {  // 12% over 12 s: no quarter reached
    fake.now += milliseconds(100);
    progress.Update(done);
  }
  EXPECT_EQ(fake.text,
            "loading m.gguf: 5% (50/1000 layers)\n"
            "loading m.gguf: 10% (100/1000 layers)\n");
}

TEST(ProgressPlain, BytesShowUnitsAndRate) {
  FakeOutput fake;
  Progress progress(ProgressOptions{"writing m.gguf", 4 << 20, "", milliseconds(0)}, fake.Output(false));
  fake.now += seconds(1);
  progress.Update(1 << 20);
  fake.now += seconds(1);
  progress.Finish();
  EXPECT_EQ(fake.text,
            "writing m.gguf: 25% (1.0 MiB of 4.0 MiB, 1.0 MiB/s)\n"
            "writing m.gguf: done, 4.0 MiB in 2.0 s (2.0 MiB/s)\n");
}

TEST(ProgressPlain, NoHundredPercentLineBeforeDone) {
  FakeOutput fake;
  Progress progress(Layers(4), fake.Output(false));
  progress.Update(4);
  fake.now += seconds(10);
  progress.Update(4);
  EXPECT_EQ(fake.text, "");
  progress.Finish();
  EXPECT_EQ(fake.text, "loading m.gguf: done, 4 layers in 10.0 s\n");
}

TEST(ProgressTty, RewritesOneLineAtMostTenTimesASecond) {
  FakeOutput fake;
  Progress progress(Layers(1000), fake.Output(true));
  for (int64_t done = 1; done <= 1000; ++done) {  // 1000 updates over 1 s
    fake.now += milliseconds(1);
    progress.Update(done);
  }
  EXPECT_EQ(Count(fake.text, '\r'), 10u);  // at 1 ms, 101 ms, ..., 901 ms
  EXPECT_EQ(Count(fake.text, '\n'), 0u);   // one line, rewritten
  progress.Finish();
  EXPECT_TRUE(fake.text.ends_with("\rloading m.gguf: 90% (901/1000 layers)"
                                  "\rloading m.gguf: done, 1000 layers in 1.0 s\n"))
      << fake.text;
  EXPECT_EQ(Count(fake.text, '\n'), 1u);
}

TEST(ProgressTty, AShorterLineBlanksTheRestOfTheLongerOne) {
  FakeOutput fake;
  Progress progress(ProgressOptions{"prefill", 100, "tokens", milliseconds(0)}, fake.Output(true));
  progress.Update(50);  // "prefill: 50% (50/100 tokens)": 28 characters
  fake.now += seconds(1);
  progress.Finish();    // "prefill: done, 100 tokens in 1.0 s": 34
  EXPECT_EQ(fake.text, "\rprefill: 50% (50/100 tokens)\rprefill: done, 100 tokens in 1.0 s\n");

  FakeOutput shrink;
  Progress other(ProgressOptions{"p", 1000, "tokens", milliseconds(0)}, shrink.Output(true));
  other.Update(999);  // "p: 99% (999/1000 tokens)"
  shrink.now += seconds(1);
  other.Update(1);    // "p: 0% (1/1000 tokens)": 3 shorter
  EXPECT_EQ(shrink.text, "\rp: 99% (999/1000 tokens)\rp: 0% (1/1000 tokens)   ");
}

TEST(ProgressTty, WithoutFinishTheLineIsEndedForWhatFollows) {
  FakeOutput fake;
  {
    Progress progress(Layers(4), fake.Output(true));
    progress.Update(1);
  }
  EXPECT_EQ(fake.text, "\rloading m.gguf: 25% (1/4 layers)\n");

  FakeOutput plain;
  {
    Progress progress(Layers(4), plain.Output(false));
    progress.Update(1);
  }
  EXPECT_EQ(plain.text, "loading m.gguf: 25% (1/4 layers)\n");
}

TEST(ProgressQuiet, AStepShorterThanTheQuietPeriodShowsNothing) {
  for (bool tty : {false, true}) {
    FakeOutput fake;
    {
      Progress progress(Layers(4, milliseconds(500)), fake.Output(tty));
      for (int64_t layer = 1; layer <= 4; ++layer) {
        fake.now += milliseconds(100);
        progress.Update(layer);
      }
      progress.Finish();
    }
    EXPECT_EQ(fake.text, "") << "tty " << tty;
  }
}

TEST(ProgressQuiet, AfterTheQuietPeriodTheFirstUpdateShows) {
  FakeOutput fake;
  Progress progress(Layers(100, milliseconds(500)), fake.Output(false));
  fake.now += milliseconds(400);
  progress.Update(5);
  fake.now += milliseconds(200);
  progress.Update(10);  // 0.6 s in, still in the first quarter: shown once, as the step is slow
  progress.Update(12);
  progress.Finish();
  EXPECT_EQ(fake.text,
            "loading m.gguf: 10% (10/100 layers)\n"
            "loading m.gguf: done, 100 layers in 0.6 s\n");
}

TEST(Progress, FinishIsOnceAndLaterUpdatesAreIgnored) {
  FakeOutput fake;
  Progress progress(Layers(2), fake.Output(false));
  progress.Finish();
  progress.Finish();
  progress.Update(1);
  EXPECT_EQ(fake.text, "loading m.gguf: done, 2 layers in 0.0 s\n");
}

TEST(Progress, LabelsArePrintableAndEmptyTotalsAreDone) {
  FakeOutput fake;
  Progress progress(ProgressOptions{"writing a\x1b[2Jb", 0, "", milliseconds(0)}, fake.Output(false));
  progress.Update(5);
  progress.Finish();
  EXPECT_EQ(fake.text, "writing a\\x1B[2Jb: done, 0 B in 0.0 s\n");
}

}  // namespace
}  // namespace ps
