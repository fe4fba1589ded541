// The cluster CA on disk: what `pipeshard certs` writes, and the checks every process runs on its
// TLS files before it serves (each error names the file at fault).
#include "transport/tls/certificates.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "tests/support/subprocess.h"
#include "transport/tls/identities.h"

namespace ps::tls {
namespace {

TEST(Certificates, IssuedCertificatesVerifyAndNameTheirIdentity) {
  test::TempDir dir;
  const std::string d = dir.file("ca");
  ASSERT_TRUE(MakeAuthority(d, 30).ok());
  ASSERT_TRUE(IssueCertificate(d, "worker-w0", WorkerIdentity("w0"), {"10.0.0.2", "host-a"}, 30).ok());
  auto name = CheckIdentityFiles(AuthorityCertPath(d), LeafCertPath(d, "worker-w0"), LeafKeyPath(d, "worker-w0"));
  ASSERT_TRUE(name.ok()) << name.status().ToString();
  EXPECT_EQ(*name, "pipeshard-worker-w0");
  struct stat key_stat {};
  ASSERT_EQ(stat(LeafKeyPath(d, "worker-w0").c_str(), &key_stat), 0);
  EXPECT_EQ(key_stat.st_mode & 0777, 0600u);  // private keys are the owner's only
  ASSERT_EQ(stat(AuthorityKeyPath(d).c_str(), &key_stat), 0);
  EXPECT_EQ(key_stat.st_mode & 0777, 0600u);
}

TEST(Certificates, NothingIsReplaced) {
  test::TempDir dir;
  const std::string d = dir.file("ca");
  ASSERT_TRUE(MakeAuthority(d, 30).ok());
  const Status again = MakeAuthority(d, 30);
  EXPECT_EQ(again.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(again.message().find("already exists"), std::string::npos) << again.message();
  ASSERT_TRUE(IssueCertificate(d, "coordinator", kCoordinatorIdentity, {}, 30).ok());
  EXPECT_EQ(IssueCertificate(d, "coordinator", kCoordinatorIdentity, {}, 30).code(), StatusCode::kInvalidArgument);
}

TEST(Certificates, FilesThatDisagreeAreRefusedByName) {
  test::TempDir dir;
  const std::string a = dir.file("a");
  const std::string b = dir.file("b");
  ASSERT_TRUE(MakeAuthority(a, 30).ok());
  ASSERT_TRUE(MakeAuthority(b, 30).ok());
  ASSERT_TRUE(IssueCertificate(a, "worker-w0", WorkerIdentity("w0"), {}, 30).ok());
  ASSERT_TRUE(IssueCertificate(a, "worker-w1", WorkerIdentity("w1"), {}, 30).ok());
  // Another CA.
  auto other = CheckIdentityFiles(AuthorityCertPath(b), LeafCertPath(a, "worker-w0"), LeafKeyPath(a, "worker-w0"));
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("does not verify against the CA"), std::string::npos);
  // Another certificate's key.
  auto key = CheckIdentityFiles(AuthorityCertPath(a), LeafCertPath(a, "worker-w0"), LeafKeyPath(a, "worker-w1"));
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.status().message().find("is not the private key of"), std::string::npos);
  // Not PEM, and missing.
  const std::string junk = dir.file("junk.pem");
  std::ofstream(junk) << "\x1b[31mnot a certificate\n";
  auto not_pem = CheckIdentityFiles(junk, LeafCertPath(a, "worker-w0"), LeafKeyPath(a, "worker-w0"));
  ASSERT_FALSE(not_pem.ok());
  EXPECT_NE(not_pem.status().message().find(junk + ": not a PEM certificate"), std::string::npos);
  auto missing = CheckIdentityFiles(dir.file("nope.pem"), LeafCertPath(a, "worker-w0"), LeafKeyPath(a, "worker-w0"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  // Issuing needs the CA's key.
  EXPECT_EQ(IssueCertificate(dir.file("none"), "x", "x", {}, 30).code(), StatusCode::kNotFound);
}

TEST(Certificates, NamesThatCannotGoIntoACertificateAreRefused) {
  EXPECT_TRUE(CheckCertificateName("gpu-node_3.rack1", "--name").ok());
  for (const char* bad : {"", "a b", "a/b", "a$b", "a\nb", "\xc3\xa9"}) {
    EXPECT_EQ(CheckCertificateName(bad, "--name").code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(CheckCertificateName(std::string(65, 'a'), "--name").ok());
}

}  // namespace
}  // namespace ps::tls
