// pipeshard: command-line entry. main() only parses arguments and calls into cli/ commands.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <new>

#include "cli/bench_command.h"
#include "cli/certs_command.h"
#include "cli/cli_error.h"
#include "cli/generate_command.h"
#include "cli/gguf_info_command.h"
#include "cli/make_model_command.h"
#include "cli/plan_command.h"
#include "common/log/log.h"
#include "common/util/version.h"
#include "cli/run_command.h"
#include "cli/status_command.h"
#include "cli/tokenize_command.h"
#include "cli/typo_hint.h"

int main(int argc, char** argv) {
  using namespace ps::cli;
  // The engine's per-request log lines are for servers; `run` prints its own report.
  ps::log::Configure("pipeshard", ps::log::Level::kWarn, ps::log::Format::kText);
  CLI::App app{"pipeshard: pipelined Llama inference over GGUF models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", ps::VersionLine("pipeshard"));
  RunArgs run;
  TokenizeArgs tokenize;
  GgufInfoArgs gguf_info;
  MakeModelArgs make_model;
  GenerateArgs generate;
  StatusArgs status;
  PlanArgs plan;
  BenchArgs bench;
  CertsArgs certs;
  CLI::App* run_cmd = AddRunCommand(app, run);
  CLI::App* tokenize_cmd = AddTokenizeCommand(app, tokenize);
  CLI::App* gguf_info_cmd = AddGgufInfoCommand(app, gguf_info);
  CLI::App* make_model_cmd = AddMakeModelCommand(app, make_model);
  CLI::App* generate_cmd = AddGenerateCommand(app, generate);
  CLI::App* status_cmd = AddStatusCommand(app, status);
  CLI::App* plan_cmd = AddPlanCommand(app, plan);
  CLI::App* bench_cmd = AddBenchCommand(app, bench);
  const CertsCommands certs_cmds = AddCertsCommand(app, certs);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line naming the problem; exit code 2 for usage errors. A mistyped command or flag gets
    // the closest known one.
    const std::string hint = TypoHint(app, argc, argv);
    std::fprintf(stderr, "pipeshard: %s\n", hint.empty() ? e.what() : hint.c_str());
    return kExitBadInput;
  }

  try {
    if (run_cmd->parsed()) return RunRunCommand(run, run_cmd->count("--prompt") > 0);
    if (tokenize_cmd->parsed()) return RunTokenizeCommand(tokenize);
    if (gguf_info_cmd->parsed()) return RunGgufInfoCommand(gguf_info);
    if (make_model_cmd->parsed()) return RunMakeModelCommand(make_model);
    if (generate_cmd->parsed()) return RunGenerateCommand(generate, generate_cmd->count("--prompt") > 0);
    if (status_cmd->parsed()) return RunStatusCommand(status);
    if (plan_cmd->parsed()) return RunPlanCommand(plan);
    if (bench_cmd->parsed()) return RunBenchCommand(bench);
    if (certs_cmds.init->parsed()) return RunCertsInit(certs);
    if (certs_cmds.issue->parsed()) return RunCertsIssue(certs);
  } catch (const std::bad_alloc&) {
    // The last line of defence: sizes read from files are checked before they size anything,
    // but a request for more memory than there is must still end as an error, not an abort.
    return ReportError(ps::Status::ResourceExhausted("out of memory (a context or model larger than this machine "
                                                     "can hold? try a smaller --ctx)"));
  }
  return kExitBadInput;
}
