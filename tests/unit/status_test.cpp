#include "common/util/status.h"

#include <gtest/gtest.h>

#include <memory>

namespace ps {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd value " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  int h = 0;
  PS_ASSIGN_OR_RETURN(h, Half(x));
  return Half(h);
}

Status CheckQuarter(int x) {
  PS_RETURN_IF_ERROR(Quarter(x).status());
  return Status::Ok();
}

TEST(StatusTest, OkIsCheapAndPrintsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_FALSE(s.IsBadInput());
}

TEST(StatusTest, ErrorsCarryCodeMessageAndContext) {
  const Status s = Status::Corruption("tensor 'x' offset 99 past the end").WithContext("m.gguf");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(s.message(), "m.gguf: tensor 'x' offset 99 past the end");
  EXPECT_EQ(s.ToString(), "corrupt: m.gguf: tensor 'x' offset 99 past the end");
  EXPECT_TRUE(s.IsBadInput());
  EXPECT_FALSE(Status::IOError("disk").IsBadInput());
  EXPECT_FALSE(Status::Internal("bug").IsBadInput());
}

TEST(StatusTest, ResultPropagatesThroughMacros) {
  EXPECT_EQ(Quarter(8).value(), 2);
  const Result<int> bad = Quarter(6);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "odd value 3");
  EXPECT_TRUE(CheckQuarter(4).ok());
  EXPECT_EQ(CheckQuarter(2).code(), StatusCode::kInvalidArgument);
}

TEST(StatusTest, ResultHoldsMoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 5);
}

}  // namespace
}  // namespace ps
