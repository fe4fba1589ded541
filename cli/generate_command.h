// `pipeshard generate`: ask a running cluster's coordinator for a completion and stream it.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/sampling_flags.h"

namespace ps::cli {

struct GenerateArgs {
  std::string server;  // the coordinator's HOST:PORT
  std::string api_key;  // --api-key (else $PIPESHARD_API_KEY)
  std::string ca;       // --ca: TLS, trusting this CA
  std::string prompt;
  std::string prompt_file;
  int32_t n_predict = 128;
  SamplingFlags sampling;
  double connect_timeout = 10.0;  // seconds to reach the server
  double timeout = 600.0;         // seconds for the whole generation (0: no limit)
  bool json = false;
};

CLI::App* AddGenerateCommand(CLI::App& app, GenerateArgs& args);
int RunGenerateCommand(const GenerateArgs& args, bool prompt_given);

}  // namespace ps::cli
