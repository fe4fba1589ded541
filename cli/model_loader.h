// Opens a GGUF model for a one-process command: the file, its Llama config and its tokenizer.
// Errors carry the file name.
#pragma once

#include <memory>
#include <string>

#include "common/gguf/gguf_file.h"
#include "common/model/llama_config.h"
#include "common/tokenizer/tokenizer.h"

namespace ps::cli {

struct LoadedModel {
  std::unique_ptr<gguf::GgufFile> file;
  LlamaConfig config;
  std::unique_ptr<Tokenizer> tokenizer;
};

Result<LoadedModel> LoadModel(const std::string& path);

// Reads the prompt text from --prompt or -f FILE (exactly one must be given).
Result<std::string> ReadPrompt(const std::string& prompt, const std::string& prompt_file, bool prompt_given);

}  // namespace ps::cli
