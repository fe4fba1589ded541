// GGUF reader, writer and dump: exact round trips, and corrupted files that must fail cleanly.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "common/gguf/gguf_dump.h"
#include "common/gguf/gguf_file.h"
#include "common/gguf/gguf_writer.h"

namespace ps::gguf {
namespace {

class GgufTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gguf_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  static std::vector<uint8_t> ReadBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
  }
  static void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  template <typename T>
  static void Poke(std::vector<uint8_t>& bytes, size_t at, T v) {
    ASSERT_LE(at + sizeof v, bytes.size());
    std::memcpy(bytes.data() + at, &v, sizeof v);
  }
  // Byte position of the first occurrence of s (a key or tensor name) in the file.
  static size_t Find(const std::vector<uint8_t>& bytes, const std::string& s) {
    auto it = std::search(bytes.begin(), bytes.end(), s.begin(), s.end());
    EXPECT_NE(it, bytes.end()) << s;
    return static_cast<size_t>(it - bytes.begin());
  }

  // Writes a small valid file: a few keys and two tensors. Returns its bytes.
  std::vector<uint8_t> WriteSmall(const std::string& path) {
    GgufWriter w;
    w.SetString("general.architecture", "llama");
    w.SetU32("llama.block_count", 2);
    w.SetStringArray("tokenizer.ggml.tokens", {"a", "b", "c"});
    w.SetValue("nested", Value::MakeArray(ValueType::kArray,
                                          {Value::MakeArray(ValueType::kInt16, {Value::Signed(ValueType::kInt16, -2)}),
                                           Value::MakeArray(ValueType::kBool, {Value::Bool(true)})}));
    w.SetValue("f64", Value::Float(ValueType::kFloat64, 2.5));
    EXPECT_TRUE(w.AddTensor("alpha", GgmlType::F32, {4, 2}, FillCounting).ok());
    EXPECT_TRUE(w.AddTensor("beta", GgmlType::Q8_0, {32}, FillCounting).ok());
    EXPECT_TRUE(w.Write(path).ok());
    return ReadBytes(path);
  }

  static void FillCounting(uint8_t* dst, size_t n) {
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>(i * 7 + 1);
  }

  std::string dir_;
};

// Opens path and expects failure with `code` and a message containing every fragment.
void ExpectOpenError(const std::string& path, StatusCode code, std::vector<std::string> fragments) {
  auto f = GgufFile::Open(path);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), code) << f.status().ToString();
  for (const std::string& frag : fragments) {
    EXPECT_NE(f.status().message().find(frag), std::string::npos)
        << "'" << frag << "' not in: " << f.status().message();
  }
}

TEST_F(GgufTest, RoundTripsEveryValueType) {
  GgufWriter w;
  w.SetValue("u8", Value::Unsigned(ValueType::kUint8, 255));
  w.SetValue("i8", Value::Signed(ValueType::kInt8, -128));
  w.SetValue("u16", Value::Unsigned(ValueType::kUint16, 65535));
  w.SetValue("i16", Value::Signed(ValueType::kInt16, -32768));
  w.SetU32("u32", 4000000000u);
  w.SetI32("i32", -2000000000);
  w.SetU64("u64", std::numeric_limits<uint64_t>::max());
  w.SetValue("i64", Value::Signed(ValueType::kInt64, std::numeric_limits<int64_t>::min()));
  w.SetF32("f32", 0.1f);
  w.SetValue("f64", Value::Float(ValueType::kFloat64, 0.1));
  w.SetBool("yes", true);
  w.SetBool("no", false);
  w.SetString("s", std::string("h\xC3\xA9llo\0world", 12));
  w.SetString("empty", "");
  w.SetStringArray("strings", {"x", "", "zz"});
  w.SetF32Array("floats", {1.5f, -2.25f});
  w.SetI32Array("ints", {-1, 0, 7});
  w.SetValue("nested", Value::MakeArray(ValueType::kArray,
                                        {Value::MakeArray(ValueType::kUint8, {Value::Unsigned(ValueType::kUint8, 1)}),
                                         Value::MakeArray(ValueType::kString, {Value::String("deep")}),
                                         Value::MakeArray(ValueType::kArray, {})}));
  w.SetValue("empty_array", Value::MakeArray(ValueType::kInt64, {}));
  w.SetU32("u32", 4000000001u);  // setting a key again replaces it in place
  std::vector<uint8_t> embd(4 * 3 * 4), q(34 * 2);
  FillCounting(embd.data(), embd.size());
  FillCounting(q.data(), q.size());
  ASSERT_TRUE(w.AddTensor("t.f32", GgmlType::F32, {4, 3}, [&](uint8_t* d, size_t n) {
                 ASSERT_EQ(n, embd.size());
                 std::memcpy(d, embd.data(), n);
               }).ok());
  ASSERT_TRUE(w.AddTensor("t.q8", GgmlType::Q8_0, {64}, [&](uint8_t* d, size_t n) {
                 ASSERT_EQ(n, q.size());
                 std::memcpy(d, q.data(), n);
               }).ok());
  ASSERT_TRUE(w.AddTensor("t.4d", GgmlType::F16, {2, 1, 3, 2}, FillCounting).ok());
  ASSERT_TRUE(w.Write(Path("all.gguf")).ok());

  auto r = GgufFile::Open(Path("all.gguf"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const GgufFile& f = **r;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  ASSERT_EQ(f.metadata().size(), 19u);
  EXPECT_EQ(f.metadata()[4].key, "u32");  // order as first given

  EXPECT_EQ(*f.GetU32("u8"), 255u);
  EXPECT_EQ(*f.GetI64("i8"), -128);
  EXPECT_EQ(*f.GetU32("u16"), 65535u);
  EXPECT_EQ(*f.GetI64("i16"), -32768);
  EXPECT_EQ(*f.GetU32("u32"), 4000000001u);
  EXPECT_EQ(*f.GetI64("i32"), -2000000000);
  EXPECT_EQ(std::get<uint64_t>(f.Find("u64")->data), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(*f.GetI64("i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(*f.GetF32("f32"), 0.1f);
  EXPECT_EQ(std::get<double>(f.Find("f64")->data), 0.1);
  EXPECT_EQ(f.Find("f64")->type, ValueType::kFloat64);
  EXPECT_TRUE(*f.GetBool("yes"));
  EXPECT_FALSE(*f.GetBool("no"));
  EXPECT_EQ(*f.GetString("s"), std::string("h\xC3\xA9llo\0world", 12));
  EXPECT_EQ(*f.GetString("empty"), "");
  EXPECT_EQ(*f.GetStringArray("strings"), (std::vector<std::string>{"x", "", "zz"}));
  EXPECT_EQ(*f.GetF32Array("floats"), (std::vector<float>{1.5f, -2.25f}));
  EXPECT_EQ(*f.GetI32Array("ints"), (std::vector<int32_t>{-1, 0, 7}));
  const Array* nested = f.Find("nested")->as_array();
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->element_type, ValueType::kArray);
  ASSERT_EQ(nested->items.size(), 3u);
  EXPECT_EQ(std::get<uint64_t>(nested->items[0].as_array()->items[0].data), 1u);
  EXPECT_EQ(*nested->items[1].as_array()->items[0].as_string(), "deep");
  EXPECT_TRUE(nested->items[2].as_array()->items.empty());
  EXPECT_EQ(f.Find("empty_array")->as_array()->element_type, ValueType::kInt64);

  ASSERT_EQ(f.tensors().size(), 3u);
  const TensorInfo* t = f.FindTensor("t.f32");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->type, GgmlType::F32);
  EXPECT_EQ(t->ne, (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(t->nbytes, embd.size());
  EXPECT_EQ(t->n_rows(), 3);
  EXPECT_EQ(t->row_bytes(), 16u);
  EXPECT_EQ(std::memcmp(t->data, embd.data(), embd.size()), 0);
  const TensorInfo* tq = f.FindTensor("t.q8");
  ASSERT_NE(tq, nullptr);
  EXPECT_EQ(tq->type, GgmlType::Q8_0);
  EXPECT_EQ(tq->nbytes, 68u);
  EXPECT_EQ(std::memcmp(tq->data, q.data(), q.size()), 0);
  const TensorInfo* t4 = f.FindTensor("t.4d");
  ASSERT_NE(t4, nullptr);
  EXPECT_EQ(t4->n_elements(), 12);
  EXPECT_EQ(t4->ShapeString(), "[2, 1, 3, 2]");
  for (const TensorInfo& ti : f.tensors()) {
    EXPECT_EQ(ti.offset % 32, 0u) << ti.name;
    EXPECT_EQ((f.data_offset() + ti.offset) % 32, 0u) << ti.name;
  }
  EXPECT_EQ(f.tensors()[0].name, "t.f32");  // AddTensor order
  EXPECT_EQ(f.tensors()[1].offset, 64u);
  EXPECT_EQ(f.FindTensor("missing"), nullptr);
}

TEST_F(GgufTest, RewritingAReadFileGivesTheSameBytes) {
  const std::vector<uint8_t> original = WriteSmall(Path("a.gguf"));
  auto r = GgufFile::Open(Path("a.gguf"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  GgufWriter w;
  for (const KeyValue& kv : (*r)->metadata()) w.SetValue(kv.key, kv.value);
  for (const TensorInfo& t : (*r)->tensors()) {
    ASSERT_TRUE(w.AddTensor(t.name, t.type, t.ne, [&t](uint8_t* d, size_t n) { std::memcpy(d, t.data, n); }).ok());
  }
  ASSERT_TRUE(w.Write(Path("b.gguf")).ok());
  EXPECT_EQ(ReadBytes(Path("b.gguf")), original);
}

TEST_F(GgufTest, CustomAlignmentIsRecordedAndHonoured) {
  GgufWriter w;
  ASSERT_TRUE(w.AddTensor("a", GgmlType::F32, {3}, FillCounting).ok());
  ASSERT_TRUE(w.AddTensor("b", GgmlType::F32, {5}, FillCounting).ok());
  ASSERT_TRUE(w.Write(Path("a.gguf"), 256).ok());
  auto r = GgufFile::Open(Path("a.gguf"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->alignment(), 256u);
  EXPECT_EQ(*(*r)->GetU32("general.alignment"), 256u);
  EXPECT_EQ((*r)->data_offset() % 256, 0u);
  EXPECT_EQ((*r)->tensors()[1].offset, 256u);
  EXPECT_EQ(w.Write(Path("bad.gguf"), 48).code(), StatusCode::kInvalidArgument);
}

// FileSize is known before anything is written and equals what Write writes; Write reports its
// progress after the header and after each tensor, ending at that size.
TEST_F(GgufTest, FileSizeAndProgressMatchTheWrittenFile) {
  for (uint32_t alignment : {32u, 256u}) {
    GgufWriter w;
    w.SetStringArray("tokenizer.ggml.tokens", {"a", "b", "c"});
    ASSERT_TRUE(w.AddTensor("a", GgmlType::F32, {3}, FillCounting).ok());
    ASSERT_TRUE(w.AddTensor("b", GgmlType::Q8_0, {64, 2}, FillCounting).ok());
    const Result<uint64_t> size = w.FileSize(alignment);
    ASSERT_TRUE(size.ok()) << size.status().ToString();
    std::vector<std::pair<uint64_t, uint64_t>> reports;
    ASSERT_TRUE(w.Write(Path("p.gguf"), alignment, [&](uint64_t done, uint64_t total) {
                   reports.emplace_back(done, total);
                 }).ok());
    EXPECT_EQ(*size, ReadBytes(Path("p.gguf")).size());
    ASSERT_EQ(reports.size(), 3u);  // the header, then each tensor
    for (size_t i = 0; i < reports.size(); ++i) {
      EXPECT_EQ(reports[i].second, *size);
      if (i > 0) {
        EXPECT_GT(reports[i].first, reports[i - 1].first);
      }
    }
    EXPECT_EQ(reports.back().first, *size);
  }
  GgufWriter bad;
  EXPECT_EQ(bad.FileSize(48).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(GgufTest, ReadsVersion2) {
  std::vector<uint8_t> bytes = WriteSmall(Path("a.gguf"));
  Poke<uint32_t>(bytes, 4, 2);
  WriteBytes(Path("v2.gguf"), bytes);
  auto r = GgufFile::Open(Path("v2.gguf"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->version(), 2u);
}

TEST_F(GgufTest, WriterRejectsBadTensorsAndValues) {
  GgufWriter w;
  auto fill = [](uint8_t*, size_t) {};
  EXPECT_EQ(w.AddTensor("q", GgmlType::Q4_0, {48}, fill).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(w.AddTensor("z", GgmlType::F32, {4, 0}, fill).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(w.AddTensor("five", GgmlType::F32, {1, 1, 1, 1, 1}, fill).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(w.AddTensor("", GgmlType::F32, {1}, fill).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(w.AddTensor("ok", GgmlType::F32, {1}, fill).ok());
  EXPECT_EQ(w.AddTensor("ok", GgmlType::F32, {1}, fill).code(), StatusCode::kInvalidArgument);
  w.SetValue("bad", Value::Unsigned(ValueType::kUint8, 256));
  Status s = w.Write(Path("bad.gguf"));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'bad'"), std::string::npos) << s.message();
  EXPECT_FALSE(std::filesystem::exists(Path("bad.gguf")));
}

TEST_F(GgufTest, MissingFileIsNotFound) {
  ExpectOpenError(Path("nope.gguf"), StatusCode::kNotFound, {"nope.gguf"});
}

TEST_F(GgufTest, BadMagicIsNotAGgufFile) {
  WriteBytes(Path("text.gguf"), {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'});
  ExpectOpenError(Path("text.gguf"), StatusCode::kCorruption, {"text.gguf", "not a GGUF file (magic 0x68656c6c"});
  WriteBytes(Path("empty.gguf"), {});
  ExpectOpenError(Path("empty.gguf"), StatusCode::kCorruption, {"not a GGUF file"});
}

TEST_F(GgufTest, RefusesOtherVersions) {
  std::vector<uint8_t> bytes = WriteSmall(Path("a.gguf"));
  for (uint32_t v : {0u, 1u, 4u, 99u}) {
    Poke<uint32_t>(bytes, 4, v);
    WriteBytes(Path("v.gguf"), bytes);
    ExpectOpenError(Path("v.gguf"), StatusCode::kUnsupported, {"version " + std::to_string(v), "2 and 3"});
  }
  Poke<uint32_t>(bytes, 4, 0x03000000);
  WriteBytes(Path("v.gguf"), bytes);
  ExpectOpenError(Path("v.gguf"), StatusCode::kUnsupported, {"big-endian"});
}

// Every prefix of a valid file that cuts into its header or tensor data must be refused without a
// crash (ASan checks the reads); only the padding after the last tensor may be missing.
TEST_F(GgufTest, EveryTruncationFails) {
  const std::vector<uint8_t> bytes = WriteSmall(Path("a.gguf"));
  auto full = GgufFile::Open(Path("a.gguf"));
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  const TensorInfo& last = (*full)->tensors().back();
  const size_t data_end = (*full)->data_offset() + last.offset + last.nbytes;
  ASSERT_LT(data_end, bytes.size());
  for (size_t len = 0; len < bytes.size(); ++len) {
    WriteBytes(Path("cut.gguf"), std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(len)));
    auto r = GgufFile::Open(Path("cut.gguf"));
    if (len >= data_end) {
      EXPECT_TRUE(r.ok()) << "prefix of " << len << " bytes: " << r.status().ToString();
      continue;
    }
    ASSERT_FALSE(r.ok()) << "prefix of " << len << " of " << bytes.size() << " bytes was accepted";
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
  }
}

// FromBytes (the fuzzers' entry point) parses what Open parses, names the given name in errors,
// and keeps its own copy of the bytes.
TEST_F(GgufTest, FromBytesMatchesOpen) {
  std::vector<uint8_t> bytes = WriteSmall(Path("a.gguf"));
  auto opened = GgufFile::Open(Path("a.gguf"));
  auto parsed = GgufFile::FromBytes("in-memory.gguf", bytes);
  ASSERT_TRUE(opened.ok() && parsed.ok()) << parsed.status().ToString();
  std::fill(bytes.begin(), bytes.end(), 0);
  EXPECT_EQ((*parsed)->path(), "in-memory.gguf");
  EXPECT_EQ((*parsed)->file_size(), (*opened)->file_size());
  nlohmann::json from_bytes = DumpJson(**parsed), from_file = DumpJson(**opened);
  from_bytes.erase("path");
  from_file.erase("path");
  EXPECT_EQ(from_bytes, from_file);
  const TensorInfo* alpha = (*parsed)->FindTensor("alpha");
  ASSERT_NE(alpha, nullptr);
  EXPECT_EQ(std::memcmp(alpha->data, (*opened)->FindTensor("alpha")->data, alpha->nbytes), 0);

  auto empty = GgufFile::FromBytes("empty.gguf", {});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kCorruption);
  EXPECT_NE(empty.status().message().find("empty.gguf: not a GGUF file"), std::string::npos) << empty.status().message();
}

// Single-byte corruptions anywhere in a file: each is refused or yields a file whose tensors all
// lie inside the mapping with sizes that agree with their shapes.
TEST_F(GgufTest, CorruptedBytesNeverEscapeTheFile) {
  const std::vector<uint8_t> good = WriteSmall(Path("a.gguf"));
  size_t accepted = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t v : {uint8_t{0x00}, uint8_t{0xFF}, uint8_t{0x80}, static_cast<uint8_t>(good[i] ^ 0x01)}) {
      if (v == good[i]) continue;
      std::vector<uint8_t> bytes = good;
      bytes[i] = v;
      WriteBytes(Path("m.gguf"), bytes);
      auto r = GgufFile::Open(Path("m.gguf"));
      if (!r.ok()) {
        EXPECT_NE(r.status().message().find("m.gguf"), std::string::npos) << r.status().message();
        continue;
      }
      ++accepted;
      const GgufFile& f = **r;
      for (const TensorInfo& t : f.tensors()) {
        ASSERT_LE(f.data_offset() + t.offset + t.nbytes, f.file_size()) << "byte " << i << " tensor " << t.name;
        ASSERT_EQ(t.nbytes, *RowBytes(t.type, t.ne[0]) * static_cast<uint64_t>(t.n_rows())) << "byte " << i;
      }
    }
  }
  EXPECT_GT(accepted, 0u);  // e.g. changed tensor bytes or string contents are legitimate files
}

TEST_F(GgufTest, DirectoryIsNotAFile) {
  ExpectOpenError(dir_, StatusCode::kInvalidArgument, {"not a regular file"});
}

TEST_F(GgufTest, TruncatedErrorsNameTheFieldAndOffset) {
  const std::vector<uint8_t> bytes = WriteSmall(Path("a.gguf"));
  const size_t at = Find(bytes, "tokenizer.ggml.tokens");
  WriteBytes(Path("cut.gguf"), std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(at) + 30));
  ExpectOpenError(Path("cut.gguf"), StatusCode::kCorruption, {"cut.gguf", "key 'tokenizer.ggml.tokens'", "at byte"});
}

TEST_F(GgufTest, OffsetPastTheEndFails) {
  std::vector<uint8_t> bytes = WriteSmall(Path("a.gguf"));
  const size_t offset_at = Find(bytes, "beta") + 4 + 4 + 8 + 4;  // name, n_dims, ne[0], type
  Poke<uint64_t>(bytes, offset_at, 1024);
  WriteBytes(Path("far.gguf"), bytes);
  ExpectOpenError(Path("far.gguf"), StatusCode::kCorruption,
                  {"tensor 'beta'", "offset at byte " + std::to_string(offset_at), "past the end"});
  // An offset whose sum with the size wraps around must not slip through.
  Poke<uint64_t>(bytes, offset_at, std::numeric_limits<uint64_t>::max() - 31);
  WriteBytes(Path("wrap.gguf"), bytes);
  ExpectOpenError(Path("wrap.gguf"), StatusCode::kCorruption, {"tensor 'beta'", "past the end"});
}

TEST_F(GgufTest, MisalignedOffsetFails) {
  std::vector<uint8_t> bytes = WriteSmall(Path("a.gguf"));
  const size_t offset_at = Find(bytes, "beta") + 4 + 4 + 8 + 4;
  Poke<uint64_t>(bytes, offset_at, 33);
  WriteBytes(Path("mis.gguf"), bytes);
  ExpectOpenError(Path("mis.gguf"), StatusCode::kCorruption, {"tensor 'beta'", "33", "alignment 32"});
}

TEST_F(GgufTest, AbsurdCountsFailWithoutAllocating) {
  const std::vector<uint8_t> good = WriteSmall(Path("a.gguf"));
  const uint64_t huge = uint64_t{1} << 62;
  struct Case {
    size_t at;
    std::string fragment;
  };
  // "tokenizer.ggml.tokens": key length u64, 21 key bytes, value type u32, element type u32,
  // count u64, then the items (each a u64 length and bytes).
  const size_t tokens = Find(good, "tokenizer.ggml.tokens");
  const size_t alpha = Find(good, "alpha");  // n_dims u32, ne[0] u64, ne[1] u64 follow the name
  const size_t beta = Find(good, "beta");
  const std::vector<Case> cases = {
      {8, "tensor_count at byte 8"},
      {16, "metadata_kv_count at byte 16"},
      {tokens - 8, "key at byte " + std::to_string(tokens - 8)},
      {tokens + 29, "array count at byte " + std::to_string(tokens + 29)},
      {tokens + 37, "item 0: string at byte " + std::to_string(tokens + 37)},
      {alpha + 5 + 4 + 8, "ne[1] at byte " + std::to_string(alpha + 17)},  // 4 * 2^62 overflows
      {beta + 4 + 4, "past the end"},  // 2^62 q8_0 elements: a size that fits but is not there
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> bytes = good;
    Poke<uint64_t>(bytes, c.at, huge);
    WriteBytes(Path("huge.gguf"), bytes);
    auto r = GgufFile::Open(Path("huge.gguf"));
    ASSERT_FALSE(r.ok()) << c.fragment;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
    EXPECT_NE(r.status().message().find(c.fragment), std::string::npos)
        << "'" << c.fragment << "' not in: " << r.status().message();
  }
}

TEST_F(GgufTest, DimensionProductOverflowFails) {
  GgufWriter w;
  ASSERT_TRUE(w.AddTensor("big", GgmlType::F32, {1, 1, 1}, FillCounting).ok());
  ASSERT_TRUE(w.Write(Path("a.gguf")).ok());
  std::vector<uint8_t> bytes = ReadBytes(Path("a.gguf"));
  const size_t ne0 = Find(bytes, "big") + 3 + 4;
  Poke<uint64_t>(bytes, ne0 + 8, uint64_t{1} << 32);
  Poke<uint64_t>(bytes, ne0 + 16, uint64_t{1} << 32);
  WriteBytes(Path("ovf.gguf"), bytes);
  ExpectOpenError(Path("ovf.gguf"), StatusCode::kCorruption, {"tensor 'big'", "ne[2]", "overflow"});
  Poke<uint64_t>(bytes, ne0 + 8, 0);
  WriteBytes(Path("zero.gguf"), bytes);
  ExpectOpenError(Path("zero.gguf"), StatusCode::kCorruption, {"tensor 'big'", "ne[1] at byte " + std::to_string(ne0 + 8)});
}

TEST_F(GgufTest, BlockSizeMismatchFails) {
  std::vector<uint8_t> bytes = WriteSmall(Path("a.gguf"));
  const size_t ne0 = Find(bytes, "beta") + 4 + 4;
  Poke<uint64_t>(bytes, ne0, 16);  // q8_0 rows are whole 32-element blocks
  WriteBytes(Path("blk.gguf"), bytes);
  ExpectOpenError(Path("blk.gguf"), StatusCode::kCorruption, {"tensor 'beta'", "ne[0]", "block size 32"});
}

TEST_F(GgufTest, UnknownTensorTypeNamesTheId) {
  std::vector<uint8_t> bytes = WriteSmall(Path("a.gguf"));
  const size_t type_at = Find(bytes, "beta") + 4 + 4 + 8;
  Poke<uint32_t>(bytes, type_at, 77);
  WriteBytes(Path("type.gguf"), bytes);
  ExpectOpenError(Path("type.gguf"), StatusCode::kUnsupported, {"tensor 'beta'", "unknown ggml type id 77"});
}

TEST_F(GgufTest, KnownButUnsupportedTypeLoads) {
  GgufWriter w;
  ASSERT_TRUE(w.AddTensor("q2", GgmlType::Q2_K, {256}, FillCounting).ok());
  ASSERT_TRUE(w.Write(Path("q2.gguf")).ok());
  auto r = GgufFile::Open(Path("q2.gguf"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->tensors()[0].type, GgmlType::Q2_K);
  EXPECT_EQ((*r)->tensors()[0].nbytes, 84u);
}

TEST_F(GgufTest, DimensionCountOutsideOneToFourFails) {
  std::vector<uint8_t> bytes = WriteSmall(Path("a.gguf"));
  const size_t dims_at = Find(bytes, "beta") + 4;
  for (uint32_t n : {0u, 5u}) {
    Poke<uint32_t>(bytes, dims_at, n);
    WriteBytes(Path("dims.gguf"), bytes);
    ExpectOpenError(Path("dims.gguf"), StatusCode::kCorruption,
                    {"tensor 'beta'", "n_dims at byte " + std::to_string(dims_at), std::to_string(n) + " is outside 1..4"});
  }
}

TEST_F(GgufTest, DuplicateKeysAndTensorNamesFail) {
  GgufWriter w;
  w.SetU32("key.a", 1);
  w.SetU32("key.b", 2);
  ASSERT_TRUE(w.AddTensor("t1", GgmlType::F32, {1}, FillCounting).ok());
  ASSERT_TRUE(w.AddTensor("t2", GgmlType::F32, {1}, FillCounting).ok());
  ASSERT_TRUE(w.Write(Path("a.gguf")).ok());
  std::vector<uint8_t> bytes = ReadBytes(Path("a.gguf"));
  std::vector<uint8_t> dup_key = bytes;
  dup_key[Find(bytes, "key.b") + 4] = 'a';
  WriteBytes(Path("dk.gguf"), dup_key);
  ExpectOpenError(Path("dk.gguf"), StatusCode::kCorruption, {"duplicate key 'key.a'"});
  std::vector<uint8_t> dup_tensor = bytes;
  dup_tensor[Find(bytes, "t2") + 1] = '1';
  WriteBytes(Path("dt.gguf"), dup_tensor);
  ExpectOpenError(Path("dt.gguf"), StatusCode::kCorruption, {"duplicate tensor name 't1'"});
}

TEST_F(GgufTest, BadValueTypesAndAlignmentFail) {
  GgufWriter w;
  w.SetU32("general.alignment", 32);
  w.SetBool("flag", true);
  w.SetU32("plain", 5);
  ASSERT_TRUE(w.Write(Path("a.gguf")).ok());
  const std::vector<uint8_t> good = ReadBytes(Path("a.gguf"));
  const size_t align_value = Find(good, "general.alignment") + 17 + 4;
  for (uint32_t a : {0u, 48u}) {
    std::vector<uint8_t> bytes = good;
    Poke<uint32_t>(bytes, align_value, a);
    WriteBytes(Path("al.gguf"), bytes);
    ExpectOpenError(Path("al.gguf"), StatusCode::kCorruption, {"general.alignment " + std::to_string(a)});
  }
  std::vector<uint8_t> bytes = good;
  bytes[Find(good, "flag") + 4 + 4] = 2;
  WriteBytes(Path("bool.gguf"), bytes);
  ExpectOpenError(Path("bool.gguf"), StatusCode::kCorruption, {"key 'flag'", "bool byte 2"});
  bytes = good;
  Poke<uint32_t>(bytes, Find(good, "plain") + 5, 13);
  WriteBytes(Path("vt.gguf"), bytes);
  ExpectOpenError(Path("vt.gguf"), StatusCode::kCorruption, {"key 'plain'", "unknown value type 13"});
}

TEST_F(GgufTest, DeeplyNestedArraysFail) {
  Value v = Value::MakeArray(ValueType::kUint8, {});
  for (int i = 0; i < 40; ++i) v = Value::MakeArray(ValueType::kArray, {v});
  GgufWriter w;
  w.SetValue("deep", v);
  ASSERT_TRUE(w.Write(Path("deep.gguf")).ok());
  ExpectOpenError(Path("deep.gguf"), StatusCode::kCorruption, {"key 'deep'", "nested deeper"});
}

TEST_F(GgufTest, TypedGettersCheckTypesAndRanges) {
  GgufWriter w;
  w.SetValue("neg", Value::Signed(ValueType::kInt32, -1));
  w.SetValue("big", Value::Unsigned(ValueType::kUint64, uint64_t{1} << 40));
  w.SetString("s", "x");
  w.SetF32Array("fa", {1.0f});
  w.SetValue("wide", Value::MakeArray(ValueType::kInt64, {Value::Signed(ValueType::kInt64, int64_t{1} << 40)}));
  ASSERT_TRUE(w.Write(Path("a.gguf")).ok());
  auto r = GgufFile::Open(Path("a.gguf"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const GgufFile& f = **r;
  EXPECT_EQ(f.GetU32("neg").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(*f.GetI64("neg"), -1);
  EXPECT_EQ(f.GetU32("big").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(*f.GetI64("big"), int64_t{1} << 40);
  EXPECT_EQ(f.GetU32("s").status().code(), StatusCode::kCorruption);
  EXPECT_NE(f.GetU32("s").status().message().find("'s' has type string"), std::string::npos);
  EXPECT_EQ(f.GetF32("s").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(f.GetBool("s").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(f.GetString("neg").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(f.GetStringArray("fa").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(f.GetI32Array("fa").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(f.GetI32Array("wide").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(f.GetF32Array("s").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(f.GetU32("absent").status().code(), StatusCode::kNotFound);
  EXPECT_NE(f.GetU32("absent").status().message().find("'absent'"), std::string::npos);
  EXPECT_FALSE(f.Has("absent"));
  EXPECT_TRUE(f.Has("s"));
}

TEST_F(GgufTest, DumpTextListsKeysAndTensors) {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  std::vector<std::string> tokens;
  for (int i = 0; i < 100; ++i) tokens.push_back(std::string(1, 't').append(std::to_string(i)));
  w.SetStringArray("tokenizer.ggml.tokens", tokens);
  ASSERT_TRUE(w.AddTensor("token_embd.weight", GgmlType::Q8_0, {64, 3}, FillCounting).ok());
  ASSERT_TRUE(w.Write(Path("a.gguf")).ok());
  auto r = GgufFile::Open(Path("a.gguf"));
  ASSERT_TRUE(r.ok());
  const std::string text = DumpText(**r);
  EXPECT_NE(text.find("GGUF v3"), std::string::npos) << text;
  EXPECT_NE(text.find("general.architecture"), std::string::npos) << text;
  EXPECT_NE(text.find("\"llama\""), std::string::npos) << text;
  EXPECT_NE(text.find("array[string]"), std::string::npos) << text;
  EXPECT_NE(text.find("[100 items: \"t0\", \"t1\""), std::string::npos) << text;
  EXPECT_EQ(text.find("\"t99\""), std::string::npos) << text;
  EXPECT_NE(text.find("token_embd.weight"), std::string::npos) << text;
  EXPECT_NE(text.find("q8_0"), std::string::npos) << text;
  EXPECT_NE(text.find("[64, 3]"), std::string::npos) << text;
  EXPECT_NE(text.find(" 204\n"), std::string::npos) << text;  // 3 rows of 2 q8_0 blocks
}

TEST_F(GgufTest, DumpJsonAbbreviatesLongArrays) {
  GgufWriter w;
  w.SetU32("llama.block_count", 2);
  w.SetF32("f", 0.5f);
  w.SetF32("eps", 1e-5f);
  w.SetString("bad_utf8", "a\xFF\xC3");
  std::vector<int32_t> many(40);
  for (int i = 0; i < 40; ++i) many[static_cast<size_t>(i)] = i;
  w.SetI32Array("many", many);
  w.SetI32Array("few", {3, 4});
  ASSERT_TRUE(w.AddTensor("x", GgmlType::F32, {2, 2}, FillCounting).ok());
  ASSERT_TRUE(w.Write(Path("a.gguf")).ok());
  auto r = GgufFile::Open(Path("a.gguf"));
  ASSERT_TRUE(r.ok());
  const nlohmann::json j = DumpJson(**r);
  EXPECT_EQ(j["version"], 3);
  EXPECT_EQ(j["alignment"], 32);
  EXPECT_EQ(j["tensor_count"], 1);
  EXPECT_EQ(j["metadata"]["llama.block_count"]["type"], "uint32");
  EXPECT_EQ(j["metadata"]["llama.block_count"]["value"], 2);
  EXPECT_EQ(j["metadata"]["f"]["value"], 0.5);
  EXPECT_EQ(j["metadata"]["eps"]["value"].dump(), "1e-05");
  EXPECT_EQ(j["metadata"]["bad_utf8"]["value"], "a\xEF\xBF\xBD\xEF\xBF\xBD");
  const nlohmann::json& m = j["metadata"]["many"];
  EXPECT_EQ(m["type"], "array");
  EXPECT_EQ(m["element_type"], "int32");
  EXPECT_EQ(m["count"], 40);
  EXPECT_EQ(m["head"], nlohmann::json({0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_FALSE(m.contains("value"));
  EXPECT_EQ(j["metadata"]["few"]["value"], nlohmann::json({3, 4}));
  ASSERT_EQ(j["tensors"].size(), 1u);
  EXPECT_EQ(j["tensors"][0]["name"], "x");
  EXPECT_EQ(j["tensors"][0]["type"], "f32");
  EXPECT_EQ(j["tensors"][0]["shape"], nlohmann::json({2, 2}));
  EXPECT_EQ(j["tensors"][0]["offset"], 0);
  EXPECT_EQ(j["tensors"][0]["bytes"], 16);
  EXPECT_FALSE(j.dump().empty());  // serializes despite the invalid UTF-8 in the file
}

}  // namespace
}  // namespace ps::gguf
