// Test support: a fixture whose suite shares one tiny model (`pipeshard make-model --preset
// tiny`) in a temporary folder removed after the suite, and the check every bad-input case makes.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "tests/support/subprocess.h"

namespace ps::test {

class TinyModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const ProcessResult r = RunProgram({PipeshardBin(), "make-model", Tiny(), "--preset", "tiny"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string Tiny() { return dir_->file("tiny.gguf"); }
  // Another file in the suite's folder.
  static std::string File(const std::string& name) { return dir_->file(name); }

 private:
  static inline TempDir* dir_ = nullptr;
};

// Exit code 2 and exactly one line on stderr that mentions `needle`.
inline void ExpectBadInput(const ProcessResult& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
}

}  // namespace ps::test
