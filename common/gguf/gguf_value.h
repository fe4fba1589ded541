// One GGUF metadata value: a scalar, a string or an array (arrays may nest).
// Thread-safety: immutable after parsing, safe to share.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace ps::gguf {

// Value type ids as stored in the file (gguf.h: enum gguf_type).
enum class ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
const char* ValueTypeName(ValueType t);

struct Value;
struct Array {
  ValueType element_type = ValueType::kUint8;
  std::vector<Value> items;
};

struct Value {
  ValueType type = ValueType::kUint8;
  // Unsigned ints in uint64_t, signed in int64_t, floats in double, strings, arrays.
  std::variant<uint64_t, int64_t, double, bool, std::string, std::shared_ptr<Array>> data;

  bool is_integer() const;
  bool is_float() const { return type == ValueType::kFloat32 || type == ValueType::kFloat64; }
  const std::string* as_string() const { return std::get_if<std::string>(&data); }
  const Array* as_array() const;
  // Human-readable form for gguf-info (long arrays abbreviated).
  std::string ToString(size_t max_items = 8) const;

  // Builders that keep `type` and `data` consistent (the writer rejects inconsistent values).
  static Value Unsigned(ValueType t, uint64_t v);  // kUint8/16/32/64
  static Value Signed(ValueType t, int64_t v);     // kInt8/16/32/64
  static Value Float(ValueType t, double v);       // kFloat32/64
  static Value Bool(bool v);
  static Value String(std::string v);
  static Value MakeArray(ValueType element_type, std::vector<Value> items);
};

// Bytes one value of type t occupies in a file at the least (a string's or array's header).
uint64_t MinEncodedSize(ValueType t);
// True for the 13 type ids the format defines.
bool IsValidValueType(uint32_t raw);

struct KeyValue {
  std::string key;
  Value value;
};

}  // namespace ps::gguf
