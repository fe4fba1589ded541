// Tokenizer::FromGguf: reads the tokenizer.ggml.* keys into TokenizerData.
#include <limits>

#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/tokenizer_data.h"

namespace ps {

namespace {

// Reads an optional key: nullopt when absent, an error when present but malformed.
template <typename T, typename Getter>
Result<std::optional<T>> Optional(const gguf::GgufFile& file, std::string_view key, Getter get) {
  if (!file.Has(key)) return std::optional<T>();
  auto value = get(key);
  if (!value.ok()) return value.status();
  return std::optional<T>(std::move(value).value());
}

Result<std::optional<int32_t>> TokenId(const gguf::GgufFile& file, std::string_view key) {
  PS_ASSIGN_OR_RETURN(const std::optional<int64_t> id,
                      Optional<int64_t>(file, key, [&](std::string_view k) { return file.GetI64(k); }));
  if (!id) return std::optional<int32_t>();
  if (*id < 0 || *id > std::numeric_limits<int32_t>::max()) {
    return Status::OutOfRange(std::string(key) + " = " + std::to_string(*id) + " is not a token id");
  }
  return std::optional<int32_t>(static_cast<int32_t>(*id));
}

Result<std::optional<bool>> Flag(const gguf::GgufFile& file, std::string_view key) {
  return Optional<bool>(file, key, [&](std::string_view k) { return file.GetBool(k); });
}

// llama.cpp accepts scores stored as int32 as well as float32.
Result<std::vector<float>> Scores(const gguf::GgufFile& file) {
  constexpr std::string_view kKey = "tokenizer.ggml.scores";
  const gguf::Value* v = file.Find(kKey);
  if (v == nullptr) return std::vector<float>();
  const gguf::Array* a = v->as_array();
  if (a != nullptr && a->element_type == gguf::ValueType::kInt32) {
    PS_ASSIGN_OR_RETURN(const std::vector<int32_t> ints, file.GetI32Array(kKey));
    return std::vector<float>(ints.begin(), ints.end());
  }
  return file.GetF32Array(kKey);
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const gguf::GgufFile& file) {
  TokenizerData data;
  PS_ASSIGN_OR_RETURN(data.model, file.GetString("tokenizer.ggml.model"));
  PS_ASSIGN_OR_RETURN(const std::optional<std::string> pre,
                      Optional<std::string>(file, "tokenizer.ggml.pre",
                                            [&](std::string_view k) { return file.GetString(k); }));
  data.pre = pre.value_or("");
  PS_ASSIGN_OR_RETURN(data.tokens, file.GetStringArray("tokenizer.ggml.tokens"));
  PS_ASSIGN_OR_RETURN(data.scores, Scores(file));
  if (file.Has("tokenizer.ggml.token_type")) {
    PS_ASSIGN_OR_RETURN(data.token_types, file.GetI32Array("tokenizer.ggml.token_type"));
  }
  if (data.model == "gpt2") {
    PS_ASSIGN_OR_RETURN(data.merges, file.GetStringArray("tokenizer.ggml.merges"));
  }
  PS_ASSIGN_OR_RETURN(data.bos_id, TokenId(file, "tokenizer.ggml.bos_token_id"));
  PS_ASSIGN_OR_RETURN(data.eos_id, TokenId(file, "tokenizer.ggml.eos_token_id"));
  PS_ASSIGN_OR_RETURN(data.eot_id, TokenId(file, "tokenizer.ggml.eot_token_id"));
  PS_ASSIGN_OR_RETURN(data.eom_id, TokenId(file, "tokenizer.ggml.eom_token_id"));
  PS_ASSIGN_OR_RETURN(data.unk_id, TokenId(file, "tokenizer.ggml.unknown_token_id"));
  PS_ASSIGN_OR_RETURN(data.pad_id, TokenId(file, "tokenizer.ggml.padding_token_id"));
  PS_ASSIGN_OR_RETURN(data.add_bos, Flag(file, "tokenizer.ggml.add_bos_token"));
  PS_ASSIGN_OR_RETURN(data.add_eos, Flag(file, "tokenizer.ggml.add_eos_token"));
  PS_ASSIGN_OR_RETURN(data.add_space_prefix, Flag(file, "tokenizer.ggml.add_space_prefix"));
  return CreateTokenizer(std::move(data));
}

}  // namespace ps
