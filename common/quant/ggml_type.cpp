#include "common/quant/ggml_type.h"

#include <array>
#include <cctype>
#include <string>

namespace ps {

namespace {
// Block sizes follow ggml-common.h: QK4_0 = QK8_0 = 32, QK_K = 256.
constexpr std::array<TypeTraits, 20> kTraits = {{
    {GgmlType::F32, "f32", 1, 4, true},
    {GgmlType::F16, "f16", 1, 2, true},
    {GgmlType::Q4_0, "q4_0", 32, 18, true},
    {GgmlType::Q4_1, "q4_1", 32, 20, true},
    {GgmlType::Q5_0, "q5_0", 32, 22, true},
    {GgmlType::Q5_1, "q5_1", 32, 24, false},
    {GgmlType::Q8_0, "q8_0", 32, 34, true},
    {GgmlType::Q8_1, "q8_1", 32, 36, false},
    {GgmlType::Q2_K, "q2_K", 256, 84, false},
    {GgmlType::Q3_K, "q3_K", 256, 110, false},
    {GgmlType::Q4_K, "q4_K", 256, 144, true},
    {GgmlType::Q5_K, "q5_K", 256, 176, true},
    {GgmlType::Q6_K, "q6_K", 256, 210, true},
    {GgmlType::Q8_K, "q8_K", 256, 292, false},
    {GgmlType::I8, "i8", 1, 1, false},
    {GgmlType::I16, "i16", 1, 2, false},
    {GgmlType::I32, "i32", 1, 4, false},
    {GgmlType::I64, "i64", 1, 8, false},
    {GgmlType::F64, "f64", 1, 8, false},
    {GgmlType::BF16, "bf16", 1, 2, true},
}};
}  // namespace

std::optional<TypeTraits> TraitsOf(uint32_t raw_type) {
  for (const auto& t : kTraits) {
    if (static_cast<uint32_t>(t.type) == raw_type) return t;
  }
  return std::nullopt;
}

TypeTraits TraitsOf(GgmlType type) { return *TraitsOf(static_cast<uint32_t>(type)); }

std::string_view TypeName(GgmlType type) { return TraitsOf(type).name; }

std::optional<GgmlType> ParseTypeName(std::string_view name) {
  std::string lower;
  for (char c : name) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  for (const auto& t : kTraits) {
    std::string tn;
    for (const char* p = t.name; *p; ++p) tn.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(*p))));
    if (tn == lower) return t.type;
  }
  return std::nullopt;
}

Result<size_t> RowBytes(GgmlType type, int64_t n) {
  const TypeTraits t = TraitsOf(type);
  if (n < 0 || n % t.block_size != 0) {
    return Status::InvalidArgument("row of " + std::to_string(n) + " elements is not a whole number of " +
                                   t.name + " blocks of " + std::to_string(t.block_size));
  }
  return static_cast<size_t>(n / t.block_size) * t.block_bytes;
}

}  // namespace ps
