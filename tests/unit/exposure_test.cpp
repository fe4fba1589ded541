// Which listen addresses other hosts can reach, and the refusal of an unsecured one without
// --insecure.
#include "transport/exposure.h"

#include <gtest/gtest.h>

namespace ps {
namespace {

TEST(Exposure, LoopbackAddresses) {
  for (const char* a : {"127.0.0.1:0", "127.1.2.3:7070", "localhost:80", "[::1]:5000"}) EXPECT_TRUE(IsLoopbackListen(a)) << a;
  for (const char* a : {"0.0.0.0:7070", "10.0.0.2:1", "[::]:5000", "127.example.com:1", "example.com:80", ":7070"}) {
    EXPECT_FALSE(IsLoopbackListen(a)) << a;
  }
}

TEST(Exposure, OpenAddressesNeedSecurityOrInsecure) {
  EXPECT_TRUE(CheckExposure("127.0.0.1:0", false, "TLS", "everything").ok());
  const Status refused = CheckExposure("0.0.0.0:7070", false, "TLS (--tls-ca)", "everything");
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.IsBadInput());
  EXPECT_NE(refused.message().find("--insecure"), std::string::npos);
  EXPECT_NE(refused.message().find("--tls-ca"), std::string::npos);
  EXPECT_NE(refused.message().find("0.0.0.0:7070"), std::string::npos);
  EXPECT_TRUE(CheckExposure("0.0.0.0:7070", true, "TLS", "everything").ok());
  // Secured: nothing is missing, no --insecure needed.
  EXPECT_TRUE(CheckExposure("0.0.0.0:7070", false, "", "everything").ok());
}

}  // namespace
}  // namespace ps
