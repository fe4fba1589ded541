// Chat templates: a conversation rendered into the prompt text a model was tuned on, by the Jinja
// template its GGUF carries (tokenizer.chat_template) or a built-in one named on the command
// line (--chat-template NAME|FILE). Rendering sets the variables Hugging Face's
// apply_chat_template sets (messages, add_generation_prompt, bos_token, eos_token, with
// raise_exception among the globals) and gives the reference renderer's bytes
// (@huggingface/jinja; see common/template/template.h for the Jinja it understands).
//
// BOS: templates such as Llama 3's and Gemma's write bos_token themselves. A caller that then
// tokenizes with the tokenizer's own BOS would start with two; llama.cpp's rule is one. Either
// tokenize with add_bos = !StartsWithBosText(prompt, bos_text), or drop a doubled BOS token after
// tokenizing (the BOS text tokenizes to the BOS token, so the two are the same).
// Thread-safety: pure functions over immutable data.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/template/template.h"
#include "common/util/status.h"

namespace ps {

struct ChatMessage {
  std::string role;  // system, user, assistant (a template decides which it accepts)
  std::string content;
};

struct ChatRenderOptions {
  bool add_generation_prompt = true;  // end with the header of the assistant's turn
  std::string bos_token;              // the text of the vocabulary's BOS and EOS tokens
  std::string eos_token;
  // More variables for the template (tools, date_string, enable_thinking...); a JSON object.
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

// Parses and renders in one go. Template errors name their line:column; raise_exception() (a
// template refusing the conversation, e.g. roles out of order) is InvalidArgument with its message.
Result<std::string> RenderChat(std::string_view template_text, const std::vector<ChatMessage>& messages,
                               bool add_generation_prompt, std::string_view bos_token, std::string_view eos_token);
// With a template parsed once (a server renders every request with the same one).
Result<std::string> RenderChat(const jinja::Template& chat_template, const std::vector<ChatMessage>& messages,
                               const ChatRenderOptions& options);

// True when the rendered prompt already begins with the BOS text (llama.cpp then adds no BOS).
bool StartsWithBosText(std::string_view prompt, std::string_view bos_text);

// The built-in templates, verbatim as the models publish them (tokenizer_config.json), each with
// the BOS and EOS texts of its vocabulary.
struct BuiltinChatTemplate {
  std::string_view name;   // the --chat-template name
  std::string_view model;  // whose template it is
  std::string_view text;
  std::string_view bos_token;
  std::string_view eos_token;
};
const std::vector<BuiltinChatTemplate>& BuiltinChatTemplates();
const BuiltinChatTemplate* FindBuiltinChatTemplate(std::string_view name);
std::string BuiltinChatTemplateNames();  // "llama2, llama3, ..."

// Whether a template can serve: it parses, and a plain conversation (user, assistant, user, with
// the generation prompt) renders without meeting a construct this interpreter lacks. Errors the
// template raises itself are no fault here (a template may refuse that conversation). Call it
// when a server loads a template, so that a template it cannot run fails at start, naming the
// construct and its line:column, not on the first request.
Status CheckChatTemplate(std::string_view template_text);

// --chat-template NAME|FILE: a built-in name, else the path of a file holding a template, checked
// with CheckChatTemplate. Errors name the value: NotFound (neither a name nor a file),
// InvalidArgument or Unsupported (the template), ResourceExhausted (a file over the size limit).
Result<std::string> ResolveChatTemplate(const std::string& name_or_file);

}  // namespace ps
