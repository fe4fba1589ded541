// API keys: the file's format and its errors (naming the line, never the key), and the check of
// the authorization header.
#include "coordinator/service/api_keys.h"

#include <gtest/gtest.h>

namespace ps::coord {
namespace {

constexpr const char* kKey = "k3y-0123456789abcdef";
constexpr const char* kOther = "another-key-0123456789";

TEST(ApiKeys, ParsesOneKeyALineSkippingBlanksAndComments) {
  auto keys = ApiKeys::Parse(std::string("# ops keys\n\n  ") + kKey + "  \r\n" + kOther + "\n", "keys.txt");
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(keys->size(), 2u);
  EXPECT_TRUE(keys->Check(std::string("Bearer ") + kKey).ok());
  EXPECT_TRUE(keys->Check(std::string("Bearer ") + kOther).ok());
}

TEST(ApiKeys, BadFilesNameTheLineNotTheKey) {
  auto empty = ApiKeys::Parse("# nothing\n\n", "keys.txt");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("keys.txt: holds no key"), std::string::npos);
  auto short_key = ApiKeys::Parse(std::string(kKey) + "\nshort-secret\n", "keys.txt");
  ASSERT_FALSE(short_key.ok());
  EXPECT_NE(short_key.status().message().find("line 2"), std::string::npos) << short_key.status().ToString();
  EXPECT_EQ(short_key.status().message().find("short-secret"), std::string::npos);
  auto spaced = ApiKeys::Parse("two words in one key line\n", "keys.txt");
  ASSERT_FALSE(spaced.ok());
  EXPECT_NE(spaced.status().message().find("printable ASCII without spaces"), std::string::npos);
  EXPECT_FALSE(ApiKeys::Parse(std::string(300, 'k'), "keys.txt").ok());
  EXPECT_FALSE(ApiKeys::Load("/nonexistent/keys.txt").ok());
}

TEST(ApiKeys, CheckSaysWhatIsWrong) {
  auto keys = ApiKeys::Parse(kKey, "keys.txt");
  ASSERT_TRUE(keys.ok());
  const Status missing = keys->Check("");
  EXPECT_EQ(missing.code(), StatusCode::kUnauthenticated);
  EXPECT_NE(missing.message().find("needs an API key"), std::string::npos);
  EXPECT_NE(keys->Check(std::string("Basic ") + kKey).message().find("Bearer KEY"), std::string::npos);
  for (const std::string& wrong : {std::string("Bearer "), std::string("Bearer k3y-0123456789abcdeX"),
                                   std::string("Bearer ") + kKey + "x", std::string("Bearer k3y")}) {
    const Status s = keys->Check(wrong);
    EXPECT_EQ(s.code(), StatusCode::kUnauthenticated) << wrong;
    EXPECT_NE(s.message().find("not valid"), std::string::npos) << wrong;
  }
}

}  // namespace
}  // namespace ps::coord
