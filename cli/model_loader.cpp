#include "cli/model_loader.h"

#include <fstream>
#include <sstream>

namespace ps::cli {

Result<LoadedModel> LoadModel(const std::string& path) {
  LoadedModel model;
  PS_ASSIGN_OR_RETURN(model.file, gguf::GgufFile::Open(path));
  auto config = ReadLlamaConfig(*model.file);
  if (!config.ok()) return config.status().WithContext(path);
  model.config = std::move(config).value();
  auto tokenizer = Tokenizer::FromGguf(*model.file);
  if (!tokenizer.ok()) return tokenizer.status().WithContext(path);
  model.tokenizer = std::move(tokenizer).value();
  return model;
}

Result<std::string> ReadPrompt(const std::string& prompt, const std::string& prompt_file, bool prompt_given) {
  if (prompt_given == !prompt_file.empty()) {
    return Status::InvalidArgument("give exactly one of --prompt and -f/--file");
  }
  if (prompt_given) return prompt;
  std::ifstream in(prompt_file, std::ios::binary);
  if (!in) return Status::NotFound("cannot read prompt file '" + prompt_file + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace ps::cli
