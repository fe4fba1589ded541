// The one Status <-> gRPC mapping: every Status code survives the trip through a gRPC code (an
// error frame's error_code, an RPC's answer), and the codes no Status produces map sensibly.
#include "transport/grpc_status.h"

#include <gtest/gtest.h>

namespace ps {
namespace {

TEST(GrpcStatus, EveryCodeComesBackAsItself) {
  const std::vector<Status> all = {Status::InvalidArgument("a"), Status::NotFound("b"), Status::Corruption("c"),
                                   Status::Unsupported("d"),     Status::OutOfRange("e"), Status::ResourceExhausted("f"),
                                   Status::Unavailable("g"),     Status::Cancelled("h"),  Status::Internal("i"),
                                   Status::Unauthenticated("j")};
  for (const Status& s : all) {
    const Status back = FromGrpcCode(ToGrpcCode(s), s.message());
    EXPECT_EQ(back.code(), s.code()) << s.ToString();
    EXPECT_EQ(back.message(), s.message());
    const Status rpc = FromGrpcStatus(ToGrpcStatus(s), "LoadShard on 127.0.0.1:1");
    EXPECT_EQ(rpc.code(), s.code()) << s.ToString();
    EXPECT_EQ(rpc.message(), "LoadShard on 127.0.0.1:1: " + s.message());
    EXPECT_EQ(rpc.IsBadInput(), s.IsBadInput()) << s.ToString();  // the CLI's exit code follows
  }
  EXPECT_EQ(ToGrpcStatus(Status::Unsupported("x")).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(ToGrpcStatus(Status::IOError("x")).error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_TRUE(ToGrpcStatus(Status::Ok()).ok());
}

TEST(GrpcStatus, CodesNoStatusProducesMapToTheirMeaning) {
  EXPECT_EQ(FromGrpcStatus({grpc::StatusCode::DEADLINE_EXCEEDED, "slow"}, "s").code(), StatusCode::kUnavailable);
  EXPECT_EQ(FromGrpcStatus({grpc::StatusCode::FAILED_PRECONDITION, "epoch"}, "s").code(), StatusCode::kUnavailable);
  EXPECT_EQ(FromGrpcStatus({grpc::StatusCode::PERMISSION_DENIED, "who"}, "s").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(FromGrpcStatus({grpc::StatusCode::UNKNOWN, "?"}, "s").code(), StatusCode::kInternal);
  // An empty message still says something.
  EXPECT_EQ(FromGrpcStatus({grpc::StatusCode::UNKNOWN, ""}, "s").message(), "s: gRPC error code 2");
}

}  // namespace
}  // namespace ps
