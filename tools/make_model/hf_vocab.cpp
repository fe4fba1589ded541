#include "tools/make_model/hf_vocab.h"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>
#include <utility>

namespace ps::make_model {

namespace {

using nlohmann::json;

// Far above any real vocabulary (Llama 3 has 128256, the largest common ones ~260k); guards the
// token table against an absurd id in a damaged file.
constexpr int64_t kMaxTokenId = 1 << 22;

Status Bad(const std::string& path, const std::string& what) {
  return Status::InvalidArgument(path + ": " + what);
}

Result<json> ParseFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(path + ": cannot open tokenizer file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return Status::IOError(path + ": read failed");
  json doc = json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Bad(path, "not valid JSON");
  if (!doc.is_object()) return Bad(path, "top level is not a JSON object");
  return doc;
}

Status PutToken(const std::string& path, std::map<int64_t, std::pair<std::string, TokenType>>& by_id,
                const json& id, std::string text, TokenType type, const std::string& field) {
  if (!id.is_number_integer()) return Bad(path, field + ": id of \"" + text + "\" is not an integer");
  const auto value = id.get<int64_t>();
  if (value < 0 || value >= kMaxTokenId) {
    return Bad(path, field + ": id " + std::to_string(value) + " of \"" + text + "\" is out of range");
  }
  // added_tokens may repeat a model.vocab entry; the added entry's type wins.
  by_id[value] = {std::move(text), type};
  return Status::Ok();
}

// llama.cpp's converter makes an added token CONTROL when its text looks like a special token,
// whatever tokenizer.json says (Qwen3's <|fim_prefix|> is not "special" there, but is in its GGUFs).
bool LooksSpecial(std::string_view text) {
  const auto wrapped = [&](std::string_view open, std::string_view close) {
    return text.size() >= open.size() + close.size() && text.starts_with(open) && text.ends_with(close);
  };
  return text == "<pad>" || text == "<mask>" || text == "<2mass>" || text == "[@BOS@]" || wrapped("<|", "|>") ||
         wrapped("<\xEF\xBD\x9C", "\xEF\xBD\x9C>") /* <｜...｜> */ || wrapped("<unused", ">");
}

int32_t FindFirst(const std::map<std::string, int32_t>& ids, std::initializer_list<std::string_view> names) {
  for (std::string_view name : names) {
    auto it = ids.find(std::string(name));
    if (it != ids.end()) return it->second;
  }
  return -1;
}

}  // namespace

Result<Vocabulary> ReadHfTokenizerJson(const std::string& path) {
  PS_ASSIGN_OR_RETURN(json doc, ParseFile(path));
  const auto model = doc.find("model");
  if (model == doc.end() || !model->is_object()) return Bad(path, "missing object \"model\"");
  if (const auto type = model->find("type"); type != model->end() && (!type->is_string() || *type != "BPE")) {
    return Status::Unsupported(path + ": model.type is " + type->dump() + ", only \"BPE\" tokenizers are supported");
  }
  const auto vocab = model->find("vocab");
  if (vocab == model->end() || !vocab->is_object() || vocab->empty()) {
    return Bad(path, "missing or empty object \"model.vocab\"");
  }

  std::map<int64_t, std::pair<std::string, TokenType>> by_id;
  for (const auto& [text, id] : vocab->items()) {
    PS_RETURN_IF_ERROR(PutToken(path, by_id, id, text, TokenType::kNormal, "model.vocab"));
  }
  if (const auto added = doc.find("added_tokens"); added != doc.end()) {
    if (!added->is_array()) return Bad(path, "\"added_tokens\" is not an array");
    for (const json& t : *added) {
      if (!t.is_object() || !t.contains("id") || !t.contains("content") || !t["content"].is_string()) {
        return Bad(path, "added_tokens: an entry lacks \"id\" or string \"content\"");
      }
      const bool special = t.contains("special") && t["special"].is_boolean() && t["special"].get<bool>();
      std::string text = t["content"].get<std::string>();
      const TokenType type = special || LooksSpecial(text) ? TokenType::kControl : TokenType::kUserDefined;
      PS_RETURN_IF_ERROR(PutToken(path, by_id, t["id"], std::move(text), type, "added_tokens"));
    }
  }

  Vocabulary v;
  v.model = "gpt2";
  v.pre = "llama-bpe";
  const int64_t n_tokens = by_id.rbegin()->first + 1;
  v.tokens.reserve(static_cast<size_t>(n_tokens));
  v.token_types.reserve(static_cast<size_t>(n_tokens));
  std::map<std::string, int32_t> added_id_of;  // special tokens are added ones: Qwen3's plain "<s>" is text
  for (int64_t id = 0; id < n_tokens; ++id) {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      v.tokens.push_back("[PAD" + std::to_string(id) + "]");
      v.token_types.push_back(static_cast<int32_t>(TokenType::kUnused));
      continue;
    }
    if (it->second.second != TokenType::kNormal) added_id_of.emplace(it->second.first, static_cast<int32_t>(id));
    v.tokens.push_back(it->second.first);
    v.token_types.push_back(static_cast<int32_t>(it->second.second));
  }

  const auto merges = model->find("merges");
  if (merges == model->end() || !merges->is_array()) return Bad(path, "missing array \"model.merges\"");
  v.merges.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    const json& m = (*merges)[i];
    if (m.is_string()) {
      v.merges.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      v.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    } else {
      return Bad(path, "model.merges[" + std::to_string(i) + "] is neither \"a b\" nor [\"a\", \"b\"]");
    }
  }

  v.bos = FindFirst(added_id_of, {"<|begin_of_text|>", "<s>", "<|endoftext|>"});
  v.eos = FindFirst(added_id_of, {"<|end_of_text|>", "</s>", "<|endoftext|>"});
  v.eot = FindFirst(added_id_of, {"<|eot_id|>"});
  return v;
}

Status ApplyHfTokenizerConfig(const std::string& path, Vocabulary* v) {
  PS_ASSIGN_OR_RETURN(const json doc, ParseFile(path));
  std::map<std::string_view, int32_t> id_of;
  for (size_t i = 0; i < v->tokens.size(); ++i) id_of.emplace(v->tokens[i], static_cast<int32_t>(i));
  const auto special = [&](const char* key, int32_t* id) -> Status {
    const auto it = doc.find(key);
    if (it == doc.end() || it->is_null()) return Status::Ok();
    const json* content = &*it;
    if (it->is_object() && it->contains("content")) content = &(*it)["content"];
    if (!content->is_string()) return Bad(path, std::string(key) + " is neither a token text nor {\"content\": text}");
    const auto found = id_of.find(content->get_ref<const std::string&>());
    if (found == id_of.end()) return Bad(path, std::string(key) + " " + content->dump() + " is not in the vocabulary");
    *id = found->second;
    return Status::Ok();
  };
  PS_RETURN_IF_ERROR(special("bos_token", &v->bos));
  PS_RETURN_IF_ERROR(special("eos_token", &v->eos));
  PS_RETURN_IF_ERROR(special("pad_token", &v->pad));
  if (const auto it = doc.find("add_bos_token"); it != doc.end() && !it->is_null()) {
    if (!it->is_boolean()) return Bad(path, "add_bos_token is not true or false");
    v->add_bos = it->get<bool>();
  }
  return Status::Ok();
}

}  // namespace ps::make_model
