#include "cli/gguf_info_command.h"

#include <cstdio>

#include "cli/cli_error.h"
#include "common/gguf/gguf_dump.h"
#include "common/gguf/gguf_file.h"

namespace ps::cli {

CLI::App* AddGgufInfoCommand(CLI::App& app, GgufInfoArgs& args) {
  CLI::App* cmd = app.add_subcommand("gguf-info", "print a GGUF file's metadata and tensors");
  cmd->add_option("file", args.file, "GGUF file")->required();
  cmd->add_flag("--json", args.json, "print one JSON object");
  return cmd;
}

int RunGgufInfoCommand(const GgufInfoArgs& args) {
  auto file = gguf::GgufFile::Open(args.file);
  if (!file.ok()) return ReportError(file.status());
  if (args.json) {
    std::printf("%s\n", gguf::DumpJson(**file).dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    const std::string text = gguf::DumpText(**file);
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  return kExitOk;
}

}  // namespace ps::cli
