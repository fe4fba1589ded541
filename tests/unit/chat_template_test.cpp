// The Jinja interpreter of common/template and the chat templates built on it: every built-in
// template against the output @huggingface/jinja gives for the same conversation (recorded here;
// tests/integration/chat_template_parity_test.cpp compares live when node is installed), the
// whitespace rules of trim_blocks / lstrip_blocks / '-', the reference's operators, filters, tests
// and methods, errors that name the construct and its line:column, and the limits that keep a
// hostile template from exhausting memory, time or the stack.
#include "common/template/chat_template.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/template/template.h"
#include "common/template/text.h"
#include "tests/support/subprocess.h"

namespace ps {
namespace {

using jinja::Template;
using jinja::TemplateLimits;
using jinja::Value;

// Renders `text` with the variables of the JSON object `vars`; errors come back as "ERROR <code>: <message>".
std::string Render(const std::string& text, const std::string& vars = "{}", const TemplateLimits& limits = {}) {
  Result<Template> t = Template::Parse(text, limits);
  if (!t.ok()) return "ERROR " + t.status().ToString();
  Result<std::string> out = t->Render(nlohmann::ordered_json::parse(vars));
  if (!out.ok()) return "ERROR " + out.status().ToString();
  return *out;
}

Status RenderStatus(const std::string& text, const std::string& vars = "{}", const TemplateLimits& limits = {}) {
  Result<Template> t = Template::Parse(text, limits);
  if (!t.ok()) return t.status();
  return t->Render(nlohmann::ordered_json::parse(vars)).status();
}

// ---- The built-in templates, byte for byte as @huggingface/jinja 0.5.13 renders them ----

struct Expected {
  const char* name;
  bool with_system;  // mistral, mixtral and gemma refuse a system message
  const char* prompt;
};

// A system message (where accepted), "Hi", " Hello! ", "Why?", with the generation prompt; llama3.2
// gets date_string so that the expectation does not depend on the day.
const Expected kExpected[] = {
    {"llama2", true, "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Why? [/INST]"},
    {"llama3", true,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_"
     "header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>"
     "user<|end_header_id|>\n\nWhy?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"llama3.1", true,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday "
     "Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_"
     "id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhy?<|eot_id|><|"
     "start_header_id|>assistant<|end_header_id|>\n\n"},
    {"llama3.2", true,
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday "
     "Date: 02 Jan 2025\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_"
     "id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhy?<|eot_id|><|"
     "start_header_id|>assistant<|end_header_id|>\n\n"},
    {"mistral", false, "<s>[INST] Hi [/INST] Hello! </s> [INST] Why? [/INST]"},
    {"mixtral", false, "<s>[INST] Hi [/INST] Hello! </s>[INST] Why? [/INST]"},
    {"chatml", true,
     "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n Hello! "
     "<|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n"},
    {"qwen2", true,
     "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n Hello! "
     "<|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n"},
    {"qwen2.5", true,
     "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n Hello! "
     "<|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n"},
    {"zephyr", true,
     "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\n Hello! </s>\n<|user|>\nWhy?</s>\n<|assistant|>\n"},
    {"gemma", false,
     "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\nWhy?"
     "<end_of_turn>\n<start_of_turn>model\n"},
    {"phi3", true,
     "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n Hello! <|end|>\n<|user|>\nWhy?<|end|>\n<|"
     "assistant|>\n"},
};

TEST(BuiltinChatTemplates, RenderAsTheReferenceDoes) {
  ASSERT_EQ(BuiltinChatTemplates().size(), std::size(kExpected));
  for (const Expected& e : kExpected) {
    const BuiltinChatTemplate* t = FindBuiltinChatTemplate(e.name);
    ASSERT_NE(t, nullptr) << e.name;
    std::vector<ChatMessage> messages;
    if (e.with_system) messages.push_back({"system", "Be brief."});
    messages.push_back({"user", "Hi"});
    messages.push_back({"assistant", " Hello! "});
    messages.push_back({"user", "Why?"});
    Result<Template> parsed = Template::Parse(t->text);
    ASSERT_TRUE(parsed.ok()) << e.name << ": " << parsed.status().ToString();
    ChatRenderOptions options;
    options.bos_token = t->bos_token;
    options.eos_token = t->eos_token;
    if (std::string(e.name) == "llama3.2") options.extra["date_string"] = "02 Jan 2025";
    Result<std::string> prompt = RenderChat(*parsed, messages, options);
    ASSERT_TRUE(prompt.ok()) << e.name << ": " << prompt.status().ToString();
    EXPECT_EQ(*prompt, e.prompt) << e.name;
  }
}

TEST(BuiltinChatTemplates, NamesAndLookup) {
  EXPECT_EQ(BuiltinChatTemplateNames(),
            "llama2, llama3, llama3.1, llama3.2, mistral, mixtral, chatml, qwen2, qwen2.5, zephyr, gemma, phi3");
  EXPECT_EQ(FindBuiltinChatTemplate("llama4"), nullptr);
  for (const BuiltinChatTemplate& t : BuiltinChatTemplates()) {
    EXPECT_FALSE(t.text.empty()) << t.name;
    EXPECT_FALSE(t.model.empty()) << t.name;
  }
}

TEST(RenderChat, SetsTheVariablesHuggingFaceSets) {
  const std::string tmpl =
      "{{ bos_token }}{% for m in messages %}[{{ m.role }}|{{ m['content'] }}]{% endfor %}"
      "{% if add_generation_prompt %}GEN{% endif %}{{ eos_token }}{{ raise_exception is defined }}";
  Result<std::string> out = RenderChat(tmpl, {{"user", "a"}, {"assistant", "b"}}, true, "<B>", "<E>");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, "<B>[user|a][assistant|b]GEN<E>true");
  out = RenderChat(tmpl, {}, false, "", "");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "true");
}

TEST(RenderChat, RoleOrderRefusedByTheTemplateIsAnErrorWithItsMessage) {
  Result<std::string> out = RenderChat(FindBuiltinChatTemplate("llama2")->text,
                                       {{"assistant", "first"}, {"user", "second"}}, true, "<s>", "</s>");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("Conversation roles must alternate user/assistant/user/assistant/..."),
            std::string::npos)
      << out.status().message();
  out = RenderChat(FindBuiltinChatTemplate("gemma")->text, {{"system", "s"}, {"user", "u"}}, true, "<bos>", "<eos>");
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("System role not supported"), std::string::npos);
}

TEST(RenderChat, BosAlreadyWritten) {
  Result<std::string> out =
      RenderChat(FindBuiltinChatTemplate("llama3")->text, {{"user", "hi"}}, true, "<|begin_of_text|>", "<|eot_id|>");
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(StartsWithBosText(*out, "<|begin_of_text|>"));
  out = RenderChat(FindBuiltinChatTemplate("chatml")->text, {{"user", "hi"}}, true, "", "<|im_end|>");
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(StartsWithBosText(*out, "<s>"));
  EXPECT_FALSE(StartsWithBosText(*out, ""));  // a vocabulary without BOS text never counts as written
}

TEST(CheckChatTemplate, RefusesOnlyWhatCannotRun) {
  for (const BuiltinChatTemplate& t : BuiltinChatTemplates()) {
    EXPECT_TRUE(CheckChatTemplate(t.text).ok()) << t.name;
  }
  // A template refusing the probe conversation is not at fault: it may refuse any conversation.
  EXPECT_TRUE(CheckChatTemplate("{{ raise_exception('no') }}").ok());
  EXPECT_EQ(CheckChatTemplate("{{ messages | batch(2) }}").code(), StatusCode::kUnsupported);
  EXPECT_EQ(CheckChatTemplate("{% if %}").code(), StatusCode::kInvalidArgument);
}

TEST(ResolveChatTemplate, NamesFilesAndErrorsNamingTheValue) {
  Result<std::string> t = ResolveChatTemplate("zephyr");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, FindBuiltinChatTemplate("zephyr")->text);

  test::TempDir dir;
  const std::string good = dir.file("good.jinja");
  std::ofstream(good) << "{% for m in messages %}{{ m.content }}{% endfor %}";
  t = ResolveChatTemplate(good);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(*t, "{% for m in messages %}{{ m.content }}{% endfor %}");

  t = ResolveChatTemplate("no-such-template");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
  EXPECT_NE(t.status().message().find("--chat-template 'no-such-template'"), std::string::npos);
  EXPECT_NE(t.status().message().find("llama3"), std::string::npos);  // lists the names

  const std::string bad = dir.file("bad.jinja");
  std::ofstream(bad) << "line one\n{% include 'other.jinja' %}";
  t = ResolveChatTemplate(bad);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(t.status().message().find(bad), std::string::npos);
  EXPECT_NE(t.status().message().find("{% include %} at 2:1"), std::string::npos) << t.status().message();

  // Found at load time: a filter this interpreter lacks, on the path every conversation takes.
  const std::string unknown_filter = dir.file("wordcount.jinja");
  std::ofstream(unknown_filter) << "{% for m in messages %}\n{{ m.content | wordcount }}{% endfor %}";
  t = ResolveChatTemplate(unknown_filter);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(t.status().message().find("filter 'wordcount' on a string at 2:16"), std::string::npos)
      << t.status().message();

  const std::string broken = dir.file("broken.jinja");
  std::ofstream(broken) << "{% if x %}never closed";
  t = ResolveChatTemplate(broken);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("1:1"), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find("endif"), std::string::npos) << t.status().message();
}

// ---- Whitespace: trim_blocks, lstrip_blocks and '-' as Hugging Face renders ----

TEST(TemplateWhitespace, TrimAndLstripBlocks) {
  EXPECT_EQ(Render("{% if true %}\nx\n{% endif %}\ny"), "x\ny");  // newline after a block tag dropped
  EXPECT_EQ(Render("a\n    {% if true %}\n    b\n    {% endif %}\nc"), "a\n    b\nc");  // indent before a tag dropped
  EXPECT_EQ(Render("{{ 'a' }}\n{{ 'b' }}\n"), "a\nb");  // not after }}; one final newline dropped
  EXPECT_EQ(Render("x {# c #}\ny"), "x y");
  EXPECT_EQ(Render("a   {{- 'b' -}}   c  {%- if true -%}  d  {%- endif %}"), "abcd");
  EXPECT_EQ(Render("  {#- c -#}  x"), "x");
  EXPECT_EQ(Render("x\r\n  {% if true %}\r\ny{% endif %}"), "x\r\n\r\ny");     // trim_blocks takes only a \n
  EXPECT_EQ(Render("{%- generation -%}  x {% endgeneration %}  y"), "x   y");  // transformers' markers removed
}

// ---- Expressions, filters, tests and methods as the reference computes them ----

TEST(TemplateExpressions, NumbersPrintAsJavaScriptDoes) {
  EXPECT_EQ(Render("{{ 1 + 2 }} {{ 7 // 2 }} {{ 7 % 3 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }}"),
            "3 3 1 -4 -1 1024");
  EXPECT_EQ(Render("{{ 1.0 }} {{ 1.5 + 1 }} {{ 10 / 4 }} {{ 10 / 5 }} {{ 2 ** -1 }} {{ 0.1 + 0.2 }}"),
            "1.0 2.5 2.5 2.0 0.5 0.30000000000000004");
  EXPECT_EQ(Render("{{ 100000000000000000000000 }} {{ 0.000001 }} {{ 0.0000001 }}"), "1e+23 0.000001 1e-7");
  EXPECT_EQ(Render("{{ 'n=' ~ 3 ~ ' ' ~ 2.0 ~ ' ' ~ true }}"), "n=3 2 true");  // ~ and + use the raw number
  EXPECT_EQ(jinja::JsNumberToString(123456789012345680000.0), "123456789012345680000");
  EXPECT_EQ(jinja::JsNumberToString(1.5e-7), "1.5e-7");
  EXPECT_EQ(jinja::JsNumberToString(-2.5), "-2.5");
}

TEST(TemplateExpressions, ComparisonsAndLogic) {
  EXPECT_EQ(Render("{{ 1 < 2 }}{{ 'a' == 'a' }}{{ 1 == 1.0 }}{{ '1' == 1 }}{{ none == undefined_thing }}"),
            "truetruetruetruetrue");
  EXPECT_EQ(Render("{{ 0 or 'x' }}|{{ '' and 1 }}|{{ [] or [1] }}|{{ not (1 == 2) }}"), "x||[1]|true");
  EXPECT_EQ(Render("{{ 'b' in 'abc' }}{{ 2 in [1, 2] }}{{ 'k' in d }}{{ 'q' not in d }}{{ 'x' in nothing }}",
                   R"({"d": {"k": 1}})"),
            "truetruetruetruefalse");
  EXPECT_EQ(Render("{{ 'yes' if flag else 'no' }}[{{ 'a' if false }}]", R"({"flag": true})"), "yes[]");
  // Mappings compare by identity, as JavaScript objects: the same message, not an equal one.
  EXPECT_EQ(Render("{{ m[0] == m[0] }}{{ m[0] == {'a': 1} }}{{ (m | selectattr('a') | list)[0] == m[0] }}",
                   R"({"m": [{"a": 1}]})"),
            "truefalsetrue");
}

TEST(TemplateExpressions, SubscriptsSlicesAndAttributes) {
  const std::string vars = R"({"s": "héllo", "l": [1, 2, 3], "d": {"x": {"y": "z"}}})";
  EXPECT_EQ(Render("{{ s[0] }}{{ s[-1] }}|{{ s[1:3] }}|{{ s[::-1] }}|{{ s[::2] }}|{{ l[1:] }}{{ l[:-1] }}{{ l[::-1] }}",
                   vars),
            "ho|él|olléh|hlo|[2, 3][1, 2][3, 2, 1]");
  EXPECT_EQ(Render("{{ l[5] }}|{{ d.x.y }}|{{ d['x']['y'] }}|{{ d.nope.deeper }}|{{ s.length }}|{{ l.length }}", vars),
            "|z|z||5|3");
  EXPECT_EQ(Render("{{ '😀ab' | length }}"), "4");  // UTF-16 code units, as JavaScript counts
}

TEST(TemplateExpressions, StringMethods) {
  EXPECT_EQ(Render("{{ ' a b  '.strip() }}|{{ ' a '.lstrip() }}|{{ ' a '.rstrip() }}|{{ 'x\\n'.rstrip('\\n') }}|"),
            "a b|a | a|x|");
  EXPECT_EQ(Render("{{ 'a,b,,c'.split(',') }}{{ ' a  b c '.split() }}{{ 'a b c'.split(' ', 1) }}"),
            "[\"a\", \"b\", \"\", \"c\"][\"a\", \"b\", \"c\"][\"a\", \"b c\"]");
  EXPECT_EQ(Render("{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}{{ 'abc'.startswith('b') }}"),
            "truetruefalse");
  EXPECT_EQ(
      Render("{{ 'hello wORLD x1y'.title() }}|{{ 'hello World'.capitalize() }}|{{ 'Hi'.upper() }}{{ 'Hi'.lower() }}"),
      "Hello WORLD X1y|Hello World|HIhi");
  EXPECT_EQ(Render("{{ 'straße ǆ' | upper }}|{{ 'ΣΑΣ ΑΣ' | lower }}"), "STRASSE Ǆ|σας ας");
  EXPECT_EQ(Render("{{ 'a-b-c'.replace('-', '+') }}|{{ 'aaa'.replace('a', 'b', 2) }}|{{ 'ab'.replace('', '.') }}"),
            "a+b+c|bba|.a.b.");
}

TEST(TemplateExpressions, Filters) {
  EXPECT_EQ(
      Render("{{ '  hi  ' | trim }}|{{ [1,2,3] | first }}{{ [1,2,3] | last }}{{ [1,2,3] | length }}|"
             "{{ ['a','b'] | join(', ') }}|{{ [3, 1, 2] | sort }}|{{ [1, 1, 2] | unique }}|{{ [1, 2] | reverse }}"),
      "hi|133|a, b|[1, 2, 3]|[1, 2]|[2, 1]");
  EXPECT_EQ(Render("{{ x | default('d') }}|{{ '' | default('d') }}|{{ '' | default('d', true) }}"), "d||d");
  EXPECT_EQ(Render("{{ 5 | string }}|{{ 5.0 | string }}|{{ '42' | int }}|{{ 'x' | int(7) }}|{{ -4.7 | int }}"),
            "5|5.0|42|7|-4");
  EXPECT_EQ(Render("{{ d | tojson }}|{{ d | tojson(indent=2) }}", R"({"d": {"a": [1, null], "b": "é\""}})"),
            "{\"a\": [1, null], \"b\": \"é\\\"\"}|{\n  \"a\": [\n    1,\n    null\n  ],\n  \"b\": \"é\\\"\"\n}");
  EXPECT_EQ(Render("{{ 'é\\u0001' | tojson(ensure_ascii=true) }}|{{ {'a': 1} | tojson(separators=(',', ':')) }}"),
            "\"\\u00e9\\u0001\"|{\"a\":1}");
  EXPECT_EQ(Render("{% for k, v in d | items %}{{ k }}={{ v }};{% endfor %}{{ d.keys() | list }}{{ d.get('z', 0) }}",
                   R"({"d": {"b": 1, "a": 2}})"),
            "b=1;a=2;[\"b\", \"a\"]0");
  EXPECT_EQ(Render("{{ m | selectattr('role', 'equalto', 'user') | map(attribute='c') | list }}",
                   R"({"m": [{"role": "user", "c": 1}, {"role": "bot", "c": 2}, {"role": "user", "c": 3}]})"),
            "[1, 3]");
  EXPECT_EQ(Render("{{ 'a\\nb\\n\\nc' | indent(2) }}"), "a\n  b\n\n  c");
}

TEST(TemplateExpressions, Tests) {
  EXPECT_EQ(Render("{{ x is defined }}{{ y is defined }}{{ y is not defined }}{{ n is none }}{{ s is string }}"
                   "{{ d is mapping }}{{ l is iterable }}{{ l is sequence }}{{ 3 is integer }}{{ 3 is odd }}",
                   R"({"x": 1, "n": null, "s": "s", "d": {}, "l": []})"),
            "truefalsetruetruetruetruetruetruetruetrue");
}

// ---- Statements ----

TEST(TemplateStatements, LoopsAndTheirVariables) {
  EXPECT_EQ(
      Render("{% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}"
             "{{ loop.revindex }};{% endfor %}",
             R"({"items": ["a", "b"]})"),
      "10truefalse22;21falsetrue21;");
  EXPECT_EQ(Render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(Render("{% for x in [1, 2, 3, 4] if x % 2 == 0 %}{{ loop.index }}:{{ x }} {% endfor %}"), "1:2 2:4 ");
  EXPECT_EQ(Render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", R"({"d": {"x": 1, "2": 2}})"),
            "2=2;x=1;");  // JavaScript orders integer-like keys first
  // As the reference: text an iteration wrote before {% continue %} or {% break %} is dropped.
  EXPECT_EQ(Render("{% for n in [1, 2, 3] %}A{{ n }}{% if n == 2 %}{% continue %}{% endif %}B{% endfor %}"), "A1BA3B");
  EXPECT_EQ(Render("{% for n in [1, 2, 3] %}{% if n == 3 %}{% break %}{% endif %}{{ n }}{% endfor %}"), "12");
}

TEST(TemplateStatements, SetScopesNamespacesAndMacros) {
  EXPECT_EQ(Render("{% set a = 1 %}{% for x in [1] %}{% set a = 2 %}{{ a }}{% endfor %}{{ a }}"
                   "{% if true %}{% set b = 3 %}{% endif %}{{ b }}"),
            "213");  // a loop has its own scope; if does not
  EXPECT_EQ(Render("{% set ns = namespace(n=0, found=false) %}{% for x in [1, 2, 3] %}{% set ns.n = ns.n + x %}"
                   "{% endfor %}{{ ns.n }}{{ ns.found }}"),
            "6false");
  EXPECT_EQ(Render("{% set a, b = [1, 2] %}{{ b }}{{ a }}{% set t %}x{{ 1 + 1 }}{% endset %}[{{ t }}]"), "21[x2]");
  EXPECT_EQ(Render("{% macro g(name, p='!') %}Hi {{ name }}{{ p }}{% endmacro %}{{ g('a') }} {{ g('b', '?') }} "
                   "{{ g(p='.', name='c') }}"),
            "Hi a! Hi b? Hi c.");
  EXPECT_EQ(Render("{% filter upper %}a{{ 'b' }}{% endfilter %}"), "AB");
}

// ---- Errors: what the reference refuses too, and what this interpreter does not cover ----

TEST(TemplateErrors, RaiseExceptionCarriesItsMessage) {
  const Status s = RenderStatus("ok\n  {{ raise_exception('Only user and assistant roles are supported!') }}");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("Only user and assistant roles are supported!"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("2:6"), std::string::npos) << s.message();
}

TEST(TemplateErrors, SyntaxErrorsNameTheirPlace) {
  struct Case {
    const char* text;
    const char* where;
  };
  for (const Case& c : {Case{"{{ 'unterminated }}", "1:20"}, Case{"a\n{% if x %}b", "2:1"}, Case{"{{ 1 + }}", "1:8"},
                        Case{"{% endfor %}", "1:1"}, Case{"x {{ a b }}", "1:8"}, Case{"{{ a | 3 }}", "1:8"}}) {
    const Status s = RenderStatus(c.text);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.text << ": " << s.ToString();
    EXPECT_NE(s.message().find(c.where), std::string::npos) << c.text << ": " << s.message();
  }
}

TEST(TemplateErrors, UnsupportedConstructsAreNamedNeverGuessed) {
  struct Case {
    const char* text;
    const char* named;
  };
  for (const Case& c : {Case{"{% include 'x.jinja' %}", "{% include %} at 1:1"},
                        Case{"{% macro m() %}{% endmacro %}\n{% call m() %}x{% endcall %}", "{% call %} block at 2:1"},
                        Case{"{{ [1] | batch(2) }}", "filter 'batch(...)' on a list at 1:10"},
                        Case{"{{ 'x' | wordcount }}", "filter 'wordcount' on a string at 1:10"},
                        Case{"{{ 4 is divisibleby(2) }}", "test 'divisibleby(...)' at 1:9"},
                        Case{"{{ 4 is sameas }}", "test 'sameas' at 1:9"},
                        Case{"{% set l = [] %}{{ l.append(1) }}", "method 'append' of a list at 1:21"},
                        Case{"{{ '{}'.format(1) }}", "method 'format' of a string"},
                        Case{"{{ cycler(1, 2) }}", "function 'cycler' at 1:4"},
                        Case{"{{ x | tojson(sort_keys=true) }}", "tojson(sort_keys=true)"},
                        Case{"{% macro m() %}{{ caller() }}{% endmacro %}{{ m() }}", "caller, varargs or kwargs"}}) {
    const Status s = RenderStatus(c.text);
    EXPECT_EQ(s.code(), StatusCode::kUnsupported) << c.text << ": " << s.ToString();
    EXPECT_NE(s.message().find(c.named), std::string::npos) << c.text << ": " << s.message();
  }
}

TEST(TemplateErrors, TypeErrorsTheReferenceMakesToo) {
  for (const char* text : {"{{ x | trim }}", "{{ none + 1 }}", "{% for c in 'abc' %}{% endfor %}", "{{ (1, 2) }}",
                           "{% set d = {} %}{% set d.a = 1 %}", "{{ 'a' * 3 }}", "{{ [] | first | trim }}"}) {
    const Status s = RenderStatus(text);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << text << ": " << s.ToString();
    EXPECT_NE(s.message().find("1:"), std::string::npos) << text << ": " << s.message();
  }
}

// ---- Limits: a template is input from a file ----

TEST(TemplateBounds, HostileTemplatesStopWithResourceExhausted) {
  TemplateLimits small;
  small.max_output_bytes = 1 << 16;
  small.max_loop_iterations = 10000;
  small.max_work = 5'000'000;
  const auto exhausted = [&](const std::string& text) {
    const Status s = RenderStatus(text, "{}", small);
    EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << text << ": " << s.ToString();
  };
  exhausted("{% for i in range(100000) %}x{% endfor %}");                                   // range too long
  exhausted("{% for i in range(200) %}{% for j in range(200) %}{% endfor %}{% endfor %}");  // iterations
  exhausted("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}");
  exhausted("{% for i in range(9000) %}xxxxxxxxxx{% endfor %}");                   // output
  exhausted("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");             // recursion
  exhausted("{{ " + std::string(300, '(') + "1" + std::string(300, ')') + " }}");  // nesting
  // Recursion through a deeply nested macro body: stopped by the evaluation depth, not the stack.
  exhausted("{% macro f(n) %}{{ " + std::string(150, '(') + "f(n + 1)" + std::string(150, ')') +
            " }}{% endmacro %}{{ f(0) }}");
}

TEST(TemplateBounds, StringsStopAtTheLimitWhileBeingBuilt) {
  // Found by fuzz/chat_template_fuzzer.cpp. Lists are shared references, so twelve short lines nest
  // one in itself 8^12 times over, and replace('', s) multiplies a text by its own length: JSON,
  // printing, `~` and replace() stop as soon as their text passes max_output_bytes, where they
  // used to build gigabytes (and run for minutes) before the size check refused them.
  TemplateLimits limits;
  limits.max_output_bytes = 1 << 20;
  std::string nested = "{% set a = [1, 1, 1, 1, 1, 1, 1, 1] %}";
  for (int i = 0; i < 11; ++i) nested += "{% set a = [a, a, a, a, a, a, a, a] %}";
  const std::string half_mib =
      "{% set ns = namespace(s='ab') %}{% for i in range(18) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}";
  for (const std::string& text :
       {nested + "{{ a | tojson }}", nested + "{{ a | tojson(indent=2) }}", nested + "{{ a | string }}",
        nested + "{{ a }}", nested + "{{ a ~ '' }}", half_mib + "{{ ns.s.replace('', ns.s) }}",
        half_mib + "{{ ns.s | replace('b', ns.s) }}"}) {
    const Status s = RenderStatus(text, "{}", limits);
    EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << text.substr(text.size() - 40) << ": " << s.ToString();
    EXPECT_NE(s.message().find("string of more than 1048576 bytes"), std::string::npos) << s.message();
  }
  // Within the limit, the same text as before.
  EXPECT_EQ(Render("{% set a = [1, 2] %}{% set a = [a, a] %}{{ a | tojson }} {{ a }} {{ 'ab' | replace('', '-') }}"),
            "[[1, 2], [1, 2]] [[1, 2], [1, 2]] -a-b-");
}

TEST(TemplateBounds, NestingAndSizeAreBoundedAtParseTime) {
  TemplateLimits limits;
  limits.max_template_bytes = 100;
  EXPECT_EQ(RenderStatus(std::string(101, 'x'), "{}", limits).code(), StatusCode::kResourceExhausted);
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "{% if true %}";
  for (int i = 0; i < 300; ++i) deep += "{% endif %}";
  EXPECT_EQ(RenderStatus(deep).code(), StatusCode::kResourceExhausted);
  std::string chain = "{{ 'a'";
  for (int i = 0; i < 300; ++i) chain += " ~ 'a'";  // a long left-deep chain is as deep as a nested one
  EXPECT_EQ(RenderStatus(chain + " }}").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(RenderStatus("{{ x" + std::string(5000, '|') + "trim }}").code(), StatusCode::kInvalidArgument);
}

TEST(TemplateBounds, DeepValuesAndSelfReferenceEndCleanly) {
  // A list nested 200000 deep is freed without recursion; a namespace holding itself neither
  // leaks nor loops (tojson refuses it with an error).
  EXPECT_EQ(Render("{% set ns = namespace(x=[]) %}{% for i in range(200000) %}{% set ns.x = [ns.x] %}{% endfor %}ok"),
            "ok");
  const Status s = RenderStatus("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns | tojson }}");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(Render("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns.me.me.me is defined }}"), "true");
}

TEST(TemplateValues, JsonConversionFollowsJavaScript) {
  // Whole floats are integers, as Number.isInteger sees them; integer-like keys come first.
  EXPECT_EQ(Render("{{ a }} {{ b }} {{ d }}", R"({"a": 1.0, "b": 1.5, "d": {"z": 1, "10": 2, "2": 3}})"),
            "1 1.5 {\"2\": 3, \"10\": 2, \"z\": 1}");
  const Value v = Value::FromJson(nlohmann::ordered_json::parse(R"([null, true, "s"])"));
  ASSERT_TRUE(v.is_list());
  EXPECT_TRUE(v.items()[0].is_none());
  EXPECT_TRUE(v.items()[1].boolean());
  EXPECT_EQ(v.items()[2].str(), "s");
}

}  // namespace
}  // namespace ps
