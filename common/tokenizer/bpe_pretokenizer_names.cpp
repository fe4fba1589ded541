#include "common/tokenizer/bpe_pretokenizer_names.h"

namespace ps {

namespace {

struct Entry {
  std::string_view name;
  BpePreTokenizerSpec spec;
};

using enum BpePreTokenizer;

// As llama.cpp maps these names onto its pre-tokenizer types. Only ignore_merges and the BOS
// default change tokens; its clean_spaces flag only affects its detokenizer.
constexpr Entry kEntries[] = {
    {"llama-bpe", {kLlama3, /*ignore_merges=*/true, /*add_bos=*/true}},
    {"llama3", {kLlama3, true, true}},
    {"llama-v3", {kLlama3, true, true}},
    {"qwen2", {kQwen2, false, false}},
    {"deepseek-r1-qwen", {kQwen2, false, false}},
    {"kormo", {kQwen2, false, false}},
    {"f2llmv2", {kQwen2, false, false}},
    {"megrez", {kQwen2, false, false}},
    {"tekken", {kTekken, true, true}},
    {"smollm", {kSmolLm, false, false}},
    {"default", {kDefault, false, false}},
};

}  // namespace

Result<BpePreTokenizerSpec> BpePreTokenizerByName(std::string_view pre) {
  const std::string_view name = pre.empty() ? "default" : pre;
  for (const Entry& e : kEntries) {
    if (e.name == name) return e.spec;
  }
  return Status::Unsupported("tokenizer.ggml.pre = '" + std::string(pre) + "' is not a supported pre-tokenizer (" +
                             SupportedBpePreTokenizerNames() + ")");
}

std::string SupportedBpePreTokenizerNames() {
  std::string names;
  for (const Entry& e : kEntries) {
    if (!names.empty()) names += ", ";
    names += e.name;
  }
  return names;
}

}  // namespace ps
