// The free-space check before a long write: the decision on given numbers (a full disk is not
// needed to test it), the folder asked about, and byte counts as people read them.
#include "common/util/disk_space.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/util/byte_size.h"

namespace ps {
namespace {

TEST(FormatBytes, BinaryUnitsWithOneDecimal) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1024), "1.0 KiB");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(1024 * 1024 - 1), "1.0 MiB");  // not "1024.0 KiB"
  EXPECT_EQ(FormatBytes(uint64_t{32} << 30), "32.0 GiB");
  EXPECT_EQ(FormatBytes(uint64_t{3} << 40), "3.0 TiB");
  EXPECT_EQ(FormatBytes(UINT64_MAX), "16.0 EiB");
}

TEST(FolderOf, TheParentOrTheCurrentFolder) {
  EXPECT_EQ(FolderOf("models/m.gguf"), "models");
  EXPECT_EQ(FolderOf("/m.gguf"), "/");
  EXPECT_EQ(FolderOf("m.gguf"), ".");
}

TEST(CheckFreeSpace, EnoughSpaceIsOk) {
  EXPECT_TRUE(CheckFreeSpace("m.gguf", 100, 100).ok());
  EXPECT_TRUE(CheckFreeSpace("m.gguf", 0, 0).ok());
}

TEST(CheckFreeSpace, TooLittleNamesThePathAndBothAmounts) {
  const Status s = CheckFreeSpace("/data/models/m.gguf", uint64_t{2} << 30, uint64_t{1} << 20);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_FALSE(s.IsBadInput());
  EXPECT_EQ(s.message(),
            "not enough disk space for /data/models/m.gguf: it needs 2.0 GiB (2147483648 bytes) and "
            "/data/models has 1.0 MiB (1048576 bytes) free");
  EXPECT_FALSE(CheckFreeSpace("m.gguf", 101, 100).ok());
}

TEST(FreeDiskBytes, AsksTheFolderThatWillHoldTheFile) {
  const std::string file = (std::filesystem::temp_directory_path() / "not-written-yet.gguf").string();
  const Result<uint64_t> free_bytes = FreeDiskBytes(file);
  ASSERT_TRUE(free_bytes.ok()) << free_bytes.status().ToString();
  EXPECT_GT(*free_bytes, 0u);

  const Result<uint64_t> missing = FreeDiskBytes("/no/such/folder/m.gguf");
  EXPECT_EQ(missing.status().code(), StatusCode::kIOError);
  EXPECT_NE(missing.status().message().find("/no/such/folder"), std::string::npos) << missing.status().ToString();
}

}  // namespace
}  // namespace ps
