// `pipeshard status`: a running cluster's stages, their health and load, and the plan's prediction.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace ps::cli {

struct StatusArgs {
  std::string server;  // the coordinator's HOST:PORT
  std::string api_key;  // --api-key (else $PIPESHARD_API_KEY)
  std::string ca;       // --ca: TLS, trusting this CA
  double connect_timeout = 10.0;
  bool json = false;
  bool watch = false;  // redraw every second until interrupted
  bool wide = false;   // every column (address, memory free, transport, cost), past 100 columns
};

CLI::App* AddStatusCommand(CLI::App& app, StatusArgs& args);
int RunStatusCommand(const StatusArgs& args);

}  // namespace ps::cli
