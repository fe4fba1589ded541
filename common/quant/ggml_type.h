// Tensor element types as numbered by ggml (the ids stored in GGUF tensor infos) and their
// block geometry. Thread-safety: immutable tables, safe everywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/util/status.h"

namespace ps {

// Values are ggml's; a GGUF file stores them verbatim.
enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
};

struct TypeTraits {
  GgmlType type;
  const char* name;      // ggml's spelling: "f32", "q4_K", ...
  int64_t block_size;    // elements per block
  size_t block_bytes;    // bytes per block
  bool supported;        // pipeshard can dequantize and multiply it
};

// Traits for a raw id read from a file; nullopt when ggml has no such type.
std::optional<TypeTraits> TraitsOf(uint32_t raw_type);
TypeTraits TraitsOf(GgmlType type);
std::string_view TypeName(GgmlType type);
// Accepts ggml spellings case-insensitively ("q4_k", "Q8_0", "bf16").
std::optional<GgmlType> ParseTypeName(std::string_view name);

// Bytes of a row of n elements. Error when n is not a whole number of blocks.
Result<size_t> RowBytes(GgmlType type, int64_t n);

}  // namespace ps
