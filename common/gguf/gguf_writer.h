// Writes a GGUF v3 file: metadata in the order given, then tensors, each produced on demand by a
// callback so that a multi-gigabyte model never sits in memory at once.
// Thread-safety: one writer per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/gguf/gguf_value.h"
#include "common/quant/ggml_type.h"
#include "common/util/status.h"

namespace ps::gguf {

class GgufWriter {
 public:
  void SetU32(const std::string& key, uint32_t v);
  void SetI32(const std::string& key, int32_t v);
  void SetU64(const std::string& key, uint64_t v);
  void SetF32(const std::string& key, float v);
  void SetBool(const std::string& key, bool v);
  void SetString(const std::string& key, const std::string& v);
  void SetStringArray(const std::string& key, const std::vector<std::string>& v);
  void SetF32Array(const std::string& key, const std::vector<float>& v);
  void SetI32Array(const std::string& key, const std::vector<int32_t>& v);
  // Any value, nested arrays included (tests build odd files with it).
  void SetValue(const std::string& key, Value v);

  // fill(dst) must write exactly the tensor's byte size (RowBytes(type, ne[0]) * rows) into dst.
  using FillFn = std::function<void(uint8_t* dst, size_t nbytes)>;
  Status AddTensor(const std::string& name, GgmlType type, std::vector<int64_t> ne, FillFn fill);

  // Called as the file is written: bytes written so far, of the file's size (FileSize). Once
  // after the header and once after each tensor.
  using ProgressFn = std::function<void(uint64_t written, uint64_t total)>;
  Status Write(const std::string& path, uint32_t alignment = 32, const ProgressFn& progress = {}) const;

  // The size Write(path, alignment) gives the file, known before anything is written (the
  // metadata is encoded, the tensors are not filled). Errors as Write's for bad metadata.
  Result<uint64_t> FileSize(uint32_t alignment = 32) const;

 private:
  // Magic, metadata and tensor infos, padded to `alignment`: everything before the tensor data.
  Result<std::vector<uint8_t>> Header(uint32_t alignment) const;
  // The tensors' bytes, each padded to `alignment`: everything after the header.
  uint64_t DataBytes(uint32_t alignment) const;

  struct PendingTensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> ne;
    size_t nbytes;
    FillFn fill;
  };
  std::vector<KeyValue> kv_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace ps::gguf
