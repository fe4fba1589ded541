// The HTTP edge's pure parts: OpenAI request bodies read field by field (each error names the
// field), stop strings held back until ruled out, and the one Status -> HTTP mapping.
#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <tuple>
#include <vector>

#include "coordinator/service/http/http_errors.h"
#include "coordinator/service/http/openai_logprobs.h"
#include "coordinator/service/http/openai_request.h"
#include "coordinator/service/http/stop_matcher.h"

namespace ps::coord::http {
namespace {

TEST(OpenAiRequest, DefaultsAreLlamaCpps) {
  std::string param;
  auto r = ParseOpenAiRequest(R"({"prompt": "hi", "model": "m"})", false, &param);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->prompt, "hi");
  EXPECT_EQ(r->max_tokens, -1);
  EXPECT_FLOAT_EQ(r->sampling.temperature(), 0.8f);
  EXPECT_EQ(r->sampling.top_k(), 40);
  EXPECT_FLOAT_EQ(r->sampling.top_p(), 0.95f);
  EXPECT_FLOAT_EQ(r->sampling.min_p(), 0.05f);
  EXPECT_EQ(r->sampling.seed(), 0xFFFFFFFFu);
  EXPECT_FALSE(r->stream);
}

TEST(OpenAiRequest, FieldsAreRead) {
  std::string param;
  auto r = ParseOpenAiRequest(
      R"({"prompt": ["one"], "max_tokens": 7, "temperature": 0, "top_p": 0.5, "top_k": 3, "min_p": 0,
          "seed": 42, "repeat_penalty": 1.1, "stop": ["\n", "END"], "stream": true,
          "stream_options": {"include_usage": true}, "n": 1, "presence_penalty": 0, "logprobs": false,
          "user": "ignored"})",
      false, &param);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->prompt, "one");
  EXPECT_EQ(r->max_tokens, 7);
  EXPECT_EQ(r->sampling.temperature(), 0.0f);
  EXPECT_EQ(r->sampling.top_k(), 3);
  EXPECT_EQ(r->sampling.seed(), 42u);
  EXPECT_EQ(r->stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
}

TEST(OpenAiRequest, ChatMessagesTakeStringsAndTextParts) {
  std::string param;
  auto r = ParseOpenAiRequest(
      R"({"messages": [{"role": "system", "content": "be brief"},
                       {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]})",
      true, &param);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->messages.size(), 2u);
  EXPECT_EQ(r->messages[1].role, "user");
  EXPECT_EQ(r->messages[1].content, "ab");
}

TEST(OpenAiRequest, BadValuesNameTheirField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"prompt": "x", "temperature": -1})", "temperature"},
      {R"({"prompt": "x", "top_p": 2})", "top_p"},
      {R"({"prompt": "x", "min_p": 1.5})", "min_p"},
      {R"({"prompt": "x", "top_k": -3})", "top_k"},
      {R"({"prompt": "x", "top_k": 1.5})", "top_k"},
      {R"({"prompt": "x", "max_tokens": -2})", "max_tokens"},
      {R"({"prompt": "x", "max_tokens": 99999999999})", "max_tokens"},
      {R"({"prompt": "x", "seed": 18446744073709551615})", "seed"},
      {R"({"prompt": "x", "n": 2})", "n"},
      {R"({"prompt": "x", "stop": 5})", "stop"},
      {R"({"prompt": "x", "stop": ["a", 1]})", "stop[1]"},
      {R"({"prompt": "x", "stream": "yes"})", "stream"},
      {R"({"prompt": 5})", "prompt"},
      {R"({})", "prompt"},
      {R"({"prompt": "x", "repeat_penalty": "high"})", "repeat_penalty"},
  };
  for (const auto& [body, field] : cases) {
    std::string param;
    auto r = ParseOpenAiRequest(body, false, &param);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << body;
    EXPECT_EQ(param, field) << body << ": " << r.status().message();
    EXPECT_NE(r.status().message().find(field), std::string::npos) << r.status().message();
  }
  std::string param;
  EXPECT_EQ(ParseOpenAiRequest(R"({"messages": []})", true, &param).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(param, "messages");
  EXPECT_EQ(ParseOpenAiRequest("{not json", false, &param).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseOpenAiRequest("[1]", false, &param).status().code(), StatusCode::kInvalidArgument);
}

TEST(OpenAiRequest, PenaltiesAreReadWithinOpenAisRange) {
  std::string param;
  auto r = ParseOpenAiRequest(R"({"prompt": "x", "presence_penalty": 0.5, "frequency_penalty": -1.25})", false, &param);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FLOAT_EQ(r->sampling.presence_penalty(), 0.5f);
  EXPECT_FLOAT_EQ(r->sampling.frequency_penalty(), -1.25f);
  for (const char* body : {R"({"prompt": "x", "presence_penalty": 2.5})", R"({"prompt": "x", "frequency_penalty": "1"})",
                           R"({"prompt": "x", "frequency_penalty": -3})"}) {
    auto bad = ParseOpenAiRequest(body, false, &param);
    ASSERT_FALSE(bad.ok()) << body;
    EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument) << body;
    EXPECT_NE(param.find("penalty"), std::string::npos) << body;
  }
}

TEST(OpenAiRequest, LogprobsInBothShapes) {
  std::string param;
  auto legacy = ParseOpenAiRequest(R"({"prompt": "x", "logprobs": 3})", false, &param);
  ASSERT_TRUE(legacy.ok()) << legacy.status().ToString();
  EXPECT_TRUE(legacy->sampling.logprobs());
  EXPECT_EQ(legacy->sampling.top_logprobs(), 3);
  auto zero = ParseOpenAiRequest(R"({"prompt": "x", "logprobs": 0})", false, &param);
  ASSERT_TRUE(zero.ok());
  EXPECT_TRUE(zero->sampling.logprobs());  // the chosen tokens' own, no alternatives
  auto chat = ParseOpenAiRequest(R"({"messages": [{"role": "user", "content": "hi"}], "logprobs": true,
                                     "top_logprobs": 20})",
                                 true, &param);
  ASSERT_TRUE(chat.ok()) << chat.status().ToString();
  EXPECT_TRUE(chat->sampling.logprobs());
  EXPECT_EQ(chat->sampling.top_logprobs(), 20);
  auto off = ParseOpenAiRequest(R"({"prompt": "x"})", false, &param);
  EXPECT_FALSE(off->sampling.logprobs());
  for (const auto& [body, is_chat, field] :
       std::vector<std::tuple<const char*, bool, const char*>>{
           {R"({"prompt": "x", "logprobs": 21})", false, "logprobs"},
           {R"({"prompt": "x", "logprobs": -1})", false, "logprobs"},
           {R"({"messages": [{"role": "user", "content": "hi"}], "logprobs": 2})", true, "logprobs"},
           {R"({"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2})", true, "top_logprobs"},
           {R"({"messages": [{"role": "user", "content": "hi"}], "logprobs": true, "top_logprobs": 21})", true,
            "top_logprobs"}}) {
    param.clear();
    auto bad = ParseOpenAiRequest(body, is_chat, &param);
    ASSERT_FALSE(bad.ok()) << body;
    EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument) << body;
    EXPECT_EQ(param, field) << body;
  }
}

TEST(OpenAiLogprobs, RenderOpenAisTwoShapes) {
  TokenLogprob a{7, "Hel", -0.25f, {{7, "Hel", -0.25f}, {9, "Hi", -1.5f}, {11, "Hi", -2.0f}}};
  TokenLogprob b{8, "\xe2\x82", -std::numeric_limits<float>::infinity(), {}};
  const nlohmann::json chat = ChatLogprobs({a, b});
  ASSERT_EQ(chat["content"].size(), 2u);
  EXPECT_EQ(chat["content"][0]["token"], "Hel");
  EXPECT_FLOAT_EQ(chat["content"][0]["logprob"].get<float>(), -0.25f);
  EXPECT_EQ(chat["content"][0]["bytes"], nlohmann::json({72, 101, 108}));
  EXPECT_EQ(chat["content"][0]["top_logprobs"].size(), 3u);
  EXPECT_EQ(chat["content"][1]["logprob"], -9999.0);  // -inf is not JSON
  EXPECT_EQ(chat["content"][1]["bytes"], nlohmann::json({0xe2, 0x82}));
  EXPECT_FALSE(chat.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).empty());

  size_t offset = 10;
  const nlohmann::json legacy = CompletionLogprobs({a, b}, &offset);
  EXPECT_EQ(legacy["tokens"], nlohmann::json({"Hel", "\xe2\x82"}));
  EXPECT_EQ(legacy["text_offset"], nlohmann::json({10, 13}));
  EXPECT_EQ(offset, 15u);
  EXPECT_EQ(legacy["top_logprobs"][0].size(), 2u);  // "Hi" twice: the likelier kept
  EXPECT_FLOAT_EQ(legacy["top_logprobs"][0]["Hi"].get<float>(), -1.5f);
}

TEST(OpenAiRequest, WhatIsNotDoneYetIsRefusedNotIgnored) {
  for (const char* body : {R"({"prompt": ["a", "b"]})"}) {
    std::string param;
    auto r = ParseOpenAiRequest(body, false, &param);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << body;
    EXPECT_FALSE(param.empty()) << body;
  }
}

TEST(StopMatcher, HoldsBackWhatMayStartAStopString) {
  StopMatcher m({"END", "\n\n"});
  EXPECT_EQ(m.Push("Hello E"), "Hello ");  // "E" may start "END"
  EXPECT_EQ(m.Push("X"), "EX");             // ruled out
  EXPECT_EQ(m.Push("a\n"), "a");
  EXPECT_EQ(m.Push("b"), "\nb");
  EXPECT_EQ(m.Push(" EN"), " ");
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.Push("D tail"), "");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.Push("more"), "");
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcher, TextBeforeAStopInOnePieceIsKept) {
  StopMatcher m({"stop"});
  EXPECT_EQ(m.Push("a stop b"), "a ");
  EXPECT_TRUE(m.stopped());
  StopMatcher none({});
  EXPECT_EQ(none.Push("anything"), "anything");
  StopMatcher flush({"xyz"});
  EXPECT_EQ(flush.Push("abx"), "ab");
  EXPECT_EQ(flush.Flush(), "x");  // generation ended: what was held back goes out
}

TEST(HttpErrors, StatusesMapToHttpCodesAndOpenAiErrorObjects) {
  EXPECT_EQ(HttpStatusOf(Status::InvalidArgument("x")), 400);
  EXPECT_EQ(HttpStatusOf(Status::Unsupported("x")), 400);
  EXPECT_EQ(HttpStatusOf(Status::Unauthenticated("x")), 401);
  EXPECT_EQ(HttpStatusOf(Status::ResourceExhausted("queue full")), 429);
  EXPECT_EQ(HttpStatusOf(Status::Unavailable("down")), 503);
  EXPECT_EQ(HttpStatusOf(Status::Internal("x")), 500);
  const auto body = nlohmann::json::parse(ErrorBody(Status::InvalidArgument("bad top_p"), 400, "top_p"));
  EXPECT_EQ(body["error"]["message"], "bad top_p");
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  EXPECT_EQ(body["error"]["param"], "top_p");
  EXPECT_EQ(body["error"]["code"], 400);
}

}  // namespace
}  // namespace ps::coord::http
