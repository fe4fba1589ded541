// Hostile chat templates (a GGUF's tokenizer.chat_template or a --chat-template file) and the
// conversations rendered with them (common/template). The input is a template's source, then
// optionally a 0x00 byte and a conversation: an options byte (bit 0: the generation prompt;
// bits 1-2: which BOS and EOS texts; bit 3: extra variables, as a server may pass), then messages
// each ended by 0x00: a role byte (one of kRoles) and the content's bytes. Without the 0x00,
// the conversation is CheckChatTemplate's probe.
// The template is tokenized, then parsed and rendered under limits tighter than the defaults
// (fast inputs). Never a crash, a sanitizer error or a hang; a refusal is InvalidArgument,
// Unsupported or ResourceExhausted, begins "template", and when it is a syntax error, a template
// error or an unsupported construct it names its line:column; the output stays within the output
// limit. The limits only ever stop a rendering: one that finished renders the same through
// RenderChat with the default limits, and on the probe CheckChatTemplate accepts the template
// exactly when it rendered or refused the conversation itself (raise_exception).
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "common/template/chat_template.h"
#include "common/template/lexer.h"
#include "common/template/template.h"
#include "fuzz/support/fuzz_check.h"

namespace {

using namespace ps;
using fuzz::Check;

constexpr const char* kRoles[] = {"system", "user", "assistant", "tool", "ipython", "model"};
constexpr struct {
  const char* bos;
  const char* eos;
} kSpecialTexts[] = {{"<s>", "</s>"}, {"<|begin_of_text|>", "<|eot_id|>"}, {"<bos>", "<eos>"}, {"", ""}};

// Tighter than jinja::TemplateLimits' defaults in every bound a rendering can reach, so that no
// input takes long; the parse-time limits and the stack bounds (call and evaluation depth) are
// the defaults, the ones a server runs with.
jinja::TemplateLimits FuzzLimits() {
  jinja::TemplateLimits l;
  l.max_output_bytes = 64 << 10;
  l.max_loop_iterations = 5000;
  l.max_work = 200'000;
  return l;
}

// CheckChatTemplate's conversation (chat_template.cpp).
std::vector<ChatMessage> ProbeMessages() { return {{"user", "Hello"}, {"assistant", "Hi!"}, {"user", "How are you?"}}; }
ChatRenderOptions ProbeOptions() {
  ChatRenderOptions o;
  o.bos_token = "<s>";
  o.eos_token = "</s>";
  return o;
}

// "12:7": a line:column in an error message.
bool NamesPosition(std::string_view message) {
  for (size_t i = 1; i + 1 < message.size(); ++i) {
    const auto digit = [&](size_t k) { return message[k] >= '0' && message[k] <= '9'; };
    if (message[i] == ':' && digit(i - 1) && digit(i + 1)) return true;
  }
  return false;
}

void CheckRefusal(const Status& s, const char* where) {
  Check(s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kUnsupported ||
            s.code() == StatusCode::kResourceExhausted,
        "a template is refused with InvalidArgument, Unsupported or ResourceExhausted");
  Check(s.message().starts_with("template"), "a template's refusal begins \"template\"");
  if (s.code() != StatusCode::kResourceExhausted && !NamesPosition(s.message())) {
    std::fprintf(stderr, "%s: %s\n", where, s.ToString().c_str());
    Check(false, "a syntax error, template error or unsupported construct names its line:column");
  }
}

void CheckRender(const Result<std::string>& out, const jinja::TemplateLimits& limits, const char* where) {
  if (out.ok()) {
    Check(out->size() <= limits.max_output_bytes, "a rendering stays within max_output_bytes");
  } else {
    CheckRefusal(out.status(), where);
  }
}

bool Same(const Status& a, const Status& b) { return a.code() == b.code() && a.message() == b.message(); }

bool Exhausted(const Result<std::string>& out) {
  return !out.ok() && out.status().code() == StatusCode::kResourceExhausted;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find('\0');
  const std::string_view source = input.substr(0, split);
  std::vector<ChatMessage> messages = ProbeMessages();
  ChatRenderOptions options = ProbeOptions();
  const bool probe_conversation = split == std::string_view::npos;
  if (!probe_conversation) {
    std::string_view rest = input.substr(split + 1);
    const uint8_t flags = rest.empty() ? 0 : static_cast<uint8_t>(rest[0]);
    if (!rest.empty()) rest.remove_prefix(1);
    options.add_generation_prompt = (flags & 1) != 0;
    options.bos_token = kSpecialTexts[(flags >> 1) & 3].bos;
    options.eos_token = kSpecialTexts[(flags >> 1) & 3].eos;
    if ((flags & 8) != 0) {
      options.extra = {{"date_string", "02 Jan 2025"},
                       {"enable_thinking", true},
                       {"tools", {{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", {}}}}}}}};
    }
    messages.clear();
    while (!rest.empty()) {
      const size_t end = rest.find('\0');
      const std::string_view m = rest.substr(0, end);
      if (!m.empty()) {
        messages.push_back({kRoles[static_cast<uint8_t>(m[0]) % std::size(kRoles)], std::string(m.substr(1))});
      }
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
  }

  // The lexer alone: tokens in source order, each at a real line:column.
  const Result<std::vector<jinja::Token>> tokens = jinja::Tokenize(source);
  if (tokens.ok()) {
    jinja::SourcePos last{1, 0};
    for (const jinja::Token& t : *tokens) {
      Check(t.pos.line >= 1 && t.pos.column >= 1, "a token stands at a line:column");
      Check(t.pos.line > last.line || (t.pos.line == last.line && t.pos.column > last.column),
            "tokens come in source order");
      last = t.pos;
    }
  } else {
    Check(tokens.status().code() == StatusCode::kInvalidArgument, "the lexer refuses with InvalidArgument");
    CheckRefusal(tokens.status(), "Tokenize");
  }

  const jinja::TemplateLimits limits = FuzzLimits();
  const Result<jinja::Template> parsed = jinja::Template::Parse(source, limits);
  if (!parsed.ok()) {
    CheckRefusal(parsed.status(), "Parse");
    Check(tokens.ok() || Same(parsed.status(), tokens.status()), "a template the lexer refuses fails with that error");
    Check(!CheckChatTemplate(source).ok(), "CheckChatTemplate refuses a template that does not parse");
    return 0;
  }
  Check(tokens.ok(), "a template that parses tokenizes");

  const Result<std::string> out = RenderChat(*parsed, messages, options);
  CheckRender(out, limits, "RenderChat");
  if (Exhausted(out)) return 0;

  // The limits only ever stop a rendering; the rest is as under the default limits (all wider).
  // strftime_now() reads the clock, so two renderings may differ; a template reaches it only by
  // its name.
  const bool deterministic = source.find("strftime_now") == std::string_view::npos;
  if (probe_conversation) {
    const Status check = CheckChatTemplate(source);
    const bool serves = out.ok() || out.status().code() == StatusCode::kInvalidArgument;
    Check(check.ok() == serves, "CheckChatTemplate accepts what renders or what the template refuses itself");
    if (!serves && deterministic) Check(Same(check, out.status()), "CheckChatTemplate gives the construct's error");
  } else if (deterministic) {
    Result<std::string> again = Status::Internal("not rendered");
    if (options.extra.empty()) {
      again = RenderChat(source, messages, options.add_generation_prompt, options.bos_token, options.eos_token);
    } else {
      const Result<jinja::Template> wide = jinja::Template::Parse(source);
      Check(wide.ok(), "a template that parses under the fuzz limits parses under the defaults");
      again = RenderChat(*wide, messages, options);
    }
    Check(again.ok() == out.ok(), "the fuzz limits only stop renderings that the default limits stop");
    if (out.ok()) {
      Check(*again == *out, "a rendering's bytes do not depend on the limits");
    } else {
      Check(Same(again.status(), out.status()), "a refusal does not depend on the limits");
    }
  }
  return 0;
}
