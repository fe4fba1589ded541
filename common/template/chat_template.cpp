#include "common/template/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace ps {

Result<std::string> RenderChat(const jinja::Template& chat_template, const std::vector<ChatMessage>& messages,
                               const ChatRenderOptions& options) {
  if (!options.extra.is_object()) return Status::InvalidArgument("chat template variables must be a JSON object");
  std::vector<jinja::Value> list;
  list.reserve(messages.size());
  for (const ChatMessage& m : messages) {
    jinja::Mapping entry;
    entry.entries.emplace_back("role", jinja::Value::String(m.role));
    entry.entries.emplace_back("content", jinja::Value::String(m.content));
    list.push_back(jinja::Value::Map(std::move(entry)));
  }
  std::vector<std::pair<std::string, jinja::Value>> vars;
  vars.emplace_back("messages", jinja::Value::List(std::move(list)));
  vars.emplace_back("add_generation_prompt", jinja::Value::Bool(options.add_generation_prompt));
  vars.emplace_back("bos_token", jinja::Value::String(options.bos_token));
  vars.emplace_back("eos_token", jinja::Value::String(options.eos_token));
  for (const auto& [key, value] : options.extra.items()) vars.emplace_back(key, jinja::Value::FromJson(value));
  return chat_template.Render(std::move(vars));  // its errors all begin "template ..."
}

Result<std::string> RenderChat(std::string_view template_text, const std::vector<ChatMessage>& messages,
                               bool add_generation_prompt, std::string_view bos_token, std::string_view eos_token) {
  PS_ASSIGN_OR_RETURN(const jinja::Template parsed, jinja::Template::Parse(template_text));
  ChatRenderOptions options;
  options.add_generation_prompt = add_generation_prompt;
  options.bos_token = bos_token;
  options.eos_token = eos_token;
  return RenderChat(parsed, messages, options);
}

bool StartsWithBosText(std::string_view prompt, std::string_view bos_text) {
  return !bos_text.empty() && prompt.starts_with(bos_text);
}

const BuiltinChatTemplate* FindBuiltinChatTemplate(std::string_view name) {
  for (const BuiltinChatTemplate& t : BuiltinChatTemplates()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::string BuiltinChatTemplateNames() {
  std::string names;
  for (const BuiltinChatTemplate& t : BuiltinChatTemplates()) {
    names += (names.empty() ? "" : ", ") + std::string(t.name);
  }
  return names;
}

Status CheckChatTemplate(std::string_view template_text) {
  PS_ASSIGN_OR_RETURN(const jinja::Template parsed, jinja::Template::Parse(template_text));
  ChatRenderOptions options;
  options.bos_token = "<s>";
  options.eos_token = "</s>";
  const Result<std::string> probe =
      RenderChat(parsed, {{"user", "Hello"}, {"assistant", "Hi!"}, {"user", "How are you?"}}, options);
  if (probe.ok() || probe.status().code() == StatusCode::kInvalidArgument) return Status::Ok();
  return probe.status();
}

Result<std::string> ResolveChatTemplate(const std::string& name_or_file) {
  const std::string context = "--chat-template '" + name_or_file + "'";
  std::string text;
  if (const BuiltinChatTemplate* builtin = FindBuiltinChatTemplate(name_or_file)) {
    text = builtin->text;
  } else {
    std::error_code ec;
    if (name_or_file.empty() || !std::filesystem::is_regular_file(name_or_file, ec)) {
      return Status::NotFound(context + " is neither a built-in template (" + BuiltinChatTemplateNames() +
                              ") nor a file");
    }
    const jinja::TemplateLimits limits;
    const auto size = std::filesystem::file_size(name_or_file, ec);
    if (ec) return Status::IOError(context + ": " + ec.message());
    if (size > limits.max_template_bytes) {
      return Status::ResourceExhausted(context + ": the file has " + std::to_string(size) + " bytes, more than the " +
                                       std::to_string(limits.max_template_bytes) + " a template may have");
    }
    std::ifstream in(name_or_file, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    if (!in.good() && !in.eof()) return Status::IOError(context + ": cannot read the file");
    text = s.str();
  }
  PS_RETURN_IF_ERROR(CheckChatTemplate(text).WithContext(context));
  return text;
}

}  // namespace ps
