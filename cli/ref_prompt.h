// The prompt `pipeshard bench --ref-binary` hands to llama-cli, which (unlike llama-bench) takes
// text, not a token count: plain English cut to about the wanted number of tokens by the model's
// own tokenizer, written to a temporary file for llama-cli's -f.
// Thread-safety: PromptOfTokens is a pure function; a PromptFile belongs to one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/tokenizer/tokenizer.h"
#include "common/util/status.h"

namespace ps::cli {

// Text that `tokenizer` turns into about `tokens` tokens, counting the BOS it adds (exactly that
// many where the cut falls between words, which it does for ordinary English in Llama vocabularies).
std::string PromptOfTokens(const Tokenizer& tokenizer, int32_t tokens);

// A file in $TMPDIR (or /tmp) holding some text; removed when the object dies.
class PromptFile {
 public:
  // Errors: IOError naming the file when it cannot be created or written.
  static Result<std::unique_ptr<PromptFile>> Create(const std::string& text);
  ~PromptFile();
  PromptFile(const PromptFile&) = delete;
  PromptFile& operator=(const PromptFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  explicit PromptFile(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace ps::cli
