#include "cli/tokenize_command.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/cli_error.h"
#include "cli/model_loader.h"

namespace ps::cli {

CLI::App* AddTokenizeCommand(CLI::App& app, TokenizeArgs& args) {
  CLI::App* cmd = app.add_subcommand("tokenize", "print the token ids of a text");
  cmd->add_option("-m,--model", args.model, "GGUF model file")->required();
  cmd->add_option("--text", args.text, "text to tokenize")->required();
  cmd->add_flag("--no-bos", args.no_bos, "do not prepend the BOS token");
  cmd->add_flag("--no-parse-special", args.no_parse_special, "treat special-token text as plain text");
  cmd->add_flag("--json", args.json, "print {\"tokens\": [...]}");
  return cmd;
}

int RunTokenizeCommand(const TokenizeArgs& args) {
  // Only the vocabulary is needed; the weights stay untouched in the mapping.
  auto file = gguf::GgufFile::Open(args.model);
  if (!file.ok()) return ReportError(file.status());
  auto tokenizer = Tokenizer::FromGguf(**file);
  if (!tokenizer.ok()) return ReportError(tokenizer.status().WithContext(args.model));
  const Tokenizer& tok = **tokenizer;
  const std::vector<int32_t> tokens = tok.Encode(args.text, !args.no_bos && tok.adds_bos(), !args.no_parse_special);
  if (args.json) {
    std::printf("%s\n", nlohmann::json{{"tokens", tokens}}.dump().c_str());
    return kExitOk;
  }
  for (int32_t t : tokens) {
    nlohmann::json piece = tok.TokenToPiece(t);
    std::printf("%6d -> %s\n", t, piece.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  }
  return kExitOk;
}

}  // namespace ps::cli
