// `pipeshard tokenize`: the token ids of a text under a model's vocabulary.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace ps::cli {

struct TokenizeArgs {
  std::string model;
  std::string text;
  bool no_bos = false;
  bool no_parse_special = false;
  bool json = false;
};

CLI::App* AddTokenizeCommand(CLI::App& app, TokenizeArgs& args);
int RunTokenizeCommand(const TokenizeArgs& args);

}  // namespace ps::cli
