// The log lines: level and format names, the text and JSON bodies (fields, quoting, hostile
// bytes), whole lines written to stderr as configured, and progress as log lines.
#include "common/log/log.h"

#include <gtest/gtest.h>

#include "common/log/log_progress.h"

#include <nlohmann/json.hpp>
#include <sstream>

namespace ps::log {
namespace {

// "{" + body + "}", built with += (g++ 12 warns falsely about `"{" + std::string`: -Wrestrict).
std::string Object(const std::string& body) {
  std::string out = "{";
  out += body;
  out += '}';
  return out;
}

TEST(LogTest, ParsesLevelsAndFormatsAndNamesBadOnes) {
  EXPECT_EQ(*ParseLevel("debug"), Level::kDebug);
  EXPECT_EQ(*ParseLevel("warn"), Level::kWarn);
  EXPECT_EQ(*ParseLevel("off"), Level::kOff);
  EXPECT_EQ(*ParseFormat("json"), Format::kJson);
  const auto bad = ParseLevel("verbose");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--log-level"), std::string::npos);
  EXPECT_NE(bad.status().message().find("verbose"), std::string::npos);
  const auto bad_format = ParseFormat("xml\x1b[2J");
  ASSERT_FALSE(bad_format.ok());
  EXPECT_EQ(bad_format.status().message().find('\x1b'), std::string::npos) << "raw escape echoed";
}

TEST(LogTest, TextBodyQuotesValuesThatNeedIt) {
  EXPECT_EQ(RenderBody(Format::kText, "request finished", {{"request_id", "cmpl-1"}, {"generated", "8"}}),
            "request finished request_id=cmpl-1 generated=8");
  EXPECT_EQ(RenderBody(Format::kText, "x", {{"reason", "a b"}, {"empty", ""}, {"eq", "k=v"}}),
            "x reason=\"a b\" empty=\"\" eq=\"k=v\"");
  // A hostile message or value cannot break the line or reach the terminal raw.
  const std::string body = RenderBody(Format::kText, "bad\nline\x1b[31m", {{"peer", "p\r\nq"}});
  EXPECT_EQ(body.find('\n'), std::string::npos) << body;
  EXPECT_EQ(body.find('\x1b'), std::string::npos) << body;
  EXPECT_EQ(body.find('\r'), std::string::npos) << body;
}

TEST(LogTest, JsonBodyIsObjectMembers) {
  const std::string body = RenderBody(Format::kJson, "say \"hi\"\n", {{"request_id", "gen-ab"}, {"stage", "1"}});
  const nlohmann::json j = nlohmann::json::parse(Object(body));
  EXPECT_EQ(j["msg"], "say \"hi\"\\x0A");
  EXPECT_EQ(j["request_id"], "gen-ab");
  EXPECT_EQ(j["stage"], "1");
  // Invalid UTF-8 is made printable before it reaches the JSON encoder, so it cannot throw.
  const nlohmann::json hostile =
      nlohmann::json::parse(Object(RenderBody(Format::kJson, "\xff\xfe", {{"k", "\xc3"}})), nullptr, false);
  EXPECT_TRUE(hostile.is_object());
}

TEST(LogTest, LongValuesAreCut) {
  const std::string body = RenderBody(Format::kText, "m", {{"k", std::string(100000, 'a')}});
  EXPECT_LT(body.size(), 2000u);
}

TEST(LogTest, WritesConfiguredLinesToStderr) {
  Configure("log-test", Level::kInfo, Format::kJson);
  testing::internal::CaptureStderr();
  Debug("hidden");
  Info("shown", {{"request_id", "chatcmpl-7"}});
  Error("bad");
  const std::string out = testing::internal::GetCapturedStderr();
  std::istringstream lines(out);
  std::string line;
  std::vector<nlohmann::json> parsed;
  while (std::getline(lines, line)) parsed.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(parsed.size(), 2u) << out;
  EXPECT_EQ(parsed[0]["program"], "log-test");
  EXPECT_EQ(parsed[0]["level"], "info");
  EXPECT_EQ(parsed[0]["msg"], "shown");
  EXPECT_EQ(parsed[0]["request_id"], "chatcmpl-7");
  EXPECT_TRUE(parsed[0]["ts"].get<std::string>().ends_with("Z"));
  EXPECT_EQ(parsed[1]["level"], "error");
  EXPECT_TRUE(Enabled(Level::kWarn));
  EXPECT_FALSE(Enabled(Level::kDebug));

  Configure("log-test", Level::kWarn, Format::kText);
  testing::internal::CaptureStderr();
  Info("quiet");
  Warn("loud", {{"stage", "2"}});
  const std::string text = testing::internal::GetCapturedStderr();
  EXPECT_EQ(text.find("quiet"), std::string::npos) << text;
  EXPECT_NE(text.find(" warning log-test: loud stage=2\n"), std::string::npos) << text;
}

// A worker's progress is info lines in the configured format: JSON stays one object a line.
TEST(LogTest, ProgressBecomesInfoLines) {
  Configure("log-test", Level::kInfo, Format::kJson);
  testing::internal::CaptureStderr();
  {
    Progress progress(ProgressOptions{"loading layers 0-3 of m.gguf", 4, "layers", {}}, LogProgressOutput());
    for (int64_t layer = 1; layer <= 4; ++layer) progress.Update(layer);
    progress.Finish();
  }
  const std::string out = testing::internal::GetCapturedStderr();
  std::istringstream lines(out);
  std::string line;
  std::vector<std::string> messages;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["level"], "info");
    messages.push_back(j["msg"].get<std::string>());
  }
  ASSERT_EQ(messages.size(), 4u) << out;
  EXPECT_EQ(messages[0], "loading layers 0-3 of m.gguf: 25% (1/4 layers)");
  EXPECT_TRUE(messages[3].starts_with("loading layers 0-3 of m.gguf: done, 4 layers in ")) << messages[3];
}

}  // namespace
}  // namespace ps::log
