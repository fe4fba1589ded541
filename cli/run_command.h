// `pipeshard run`: generate from a prompt in this process, like llama-cli.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/sampling_flags.h"

namespace ps::cli {

struct RunArgs {
  std::string model;
  std::string prompt;
  std::string prompt_file;
  int32_t n_predict = 128;
  SamplingFlags sampling;
  int threads = 0;     // 0: all hardware threads
  int32_t ctx = 0;     // 0: the model's training context
  int32_t ubatch = 512;
  std::string kv_type = "f16";
  bool json = false;
};

CLI::App* AddRunCommand(CLI::App& app, RunArgs& args);
int RunRunCommand(const RunArgs& args, bool prompt_given);

}  // namespace ps::cli
