// `pipeshard gguf-info FILE [--json]`: a GGUF file's metadata and tensor table, like gguf-dump.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace ps::cli {

struct GgufInfoArgs {
  std::string file;
  bool json = false;
};

CLI::App* AddGgufInfoCommand(CLI::App& app, GgufInfoArgs& args);
int RunGgufInfoCommand(const GgufInfoArgs& args);

}  // namespace ps::cli
