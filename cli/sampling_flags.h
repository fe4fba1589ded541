// The sampling flags shared by `run` and `generate` (llama.cpp's names and defaults).
#pragma once

#include <CLI/CLI.hpp>

#include "common/sampling/sampler.h"

namespace ps::cli {

struct SamplingFlags {
  SamplingParams params;
  bool ignore_eos = false;
};

void AddSamplingFlags(CLI::App& cmd, SamplingFlags& flags);

}  // namespace ps::cli
