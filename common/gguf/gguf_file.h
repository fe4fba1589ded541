// A GGUF file opened read-only over mmap: header, metadata, tensor infos and tensor data.
//
// The format (GGUF v2 and v3, little-endian; v1 is refused):
//  1. magic "GGUF" (4 bytes), version u32, tensor_count u64, metadata_kv_count u64.
//  2. metadata_kv_count times: key (u64 length + bytes), value type u32, value.
//     A value is a scalar of its type, a string (u64 length + bytes), or an array:
//     element type u32, count u64, then count values (arrays may nest).
//  3. tensor_count times: name (string), n_dims u32 (1..4), ne[n_dims] u64 (ne[0] is the
//     contiguous row length), type u32 (ggml type id), offset u64 (relative to the data section,
//     a multiple of the alignment).
//  4. padding to `general.alignment` (u32 key, default 32), then the data section.
// Every count, length and offset is checked against the bytes that remain before it is used.
//
// Thread-safety: immutable after Open; tensor data pointers stay valid while the object lives.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/gguf/gguf_value.h"
#include "common/quant/ggml_type.h"
#include "common/util/status.h"

namespace ps::gguf {

struct TensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> ne;     // ne[0] = elements per row (innermost), up to 4 dims
  uint64_t offset = 0;         // from the start of the data section
  uint64_t nbytes = 0;         // whole tensor
  const uint8_t* data = nullptr;  // inside the mapping

  int64_t n_elements() const;
  int64_t n_rows() const;      // product of ne[1..]
  size_t row_bytes() const;    // nbytes / n_rows
  std::string ShapeString() const;  // "[4096, 32000]"
};

class GgufFile {
 public:
  // Maps and parses the file. Errors name the file, the field and the byte offset.
  static Result<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Parses bytes held in memory (fuzzers and tests): the file keeps them, and `name` stands for
  // the path in errors. Tensor data is only as aligned as the vector's allocation.
  static Result<std::unique_ptr<GgufFile>> FromBytes(std::string name, std::vector<uint8_t> bytes);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  // Start of the data section. A file without tensors may end before it (nothing follows).
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return size_; }

  const std::vector<KeyValue>& metadata() const { return kv_; }
  const Value* Find(std::string_view key) const;
  bool Has(std::string_view key) const { return Find(key) != nullptr; }

  // Typed getters: NotFound when absent, Corruption naming the key when the type does not fit.
  // Integer getters accept any integer value type whose value fits.
  Result<uint32_t> GetU32(std::string_view key) const;
  Result<int64_t> GetI64(std::string_view key) const;
  Result<float> GetF32(std::string_view key) const;  // accepts f32/f64
  Result<bool> GetBool(std::string_view key) const;
  Result<std::string> GetString(std::string_view key) const;
  Result<std::vector<std::string>> GetStringArray(std::string_view key) const;
  Result<std::vector<float>> GetF32Array(std::string_view key) const;
  Result<std::vector<int32_t>> GetI32Array(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* FindTensor(std::string_view name) const;

 private:
  GgufFile() = default;
  std::string path_;
  int fd_ = -1;
  std::vector<uint8_t> owned_;     // FromBytes: the bytes base_ points into (Open maps instead)
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> kv_;
  std::vector<TensorInfo> tensors_;
  friend class GgufParser;
};

}  // namespace ps::gguf
