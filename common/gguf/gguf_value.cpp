#include "common/gguf/gguf_value.h"

#include <charconv>
#include <cstdio>

namespace ps::gguf {

const char* ValueTypeName(ValueType t) {
  switch (t) {
    case ValueType::kUint8: return "uint8";
    case ValueType::kInt8: return "int8";
    case ValueType::kUint16: return "uint16";
    case ValueType::kInt16: return "int16";
    case ValueType::kUint32: return "uint32";
    case ValueType::kInt32: return "int32";
    case ValueType::kFloat32: return "float32";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
    case ValueType::kArray: return "array";
    case ValueType::kUint64: return "uint64";
    case ValueType::kInt64: return "int64";
    case ValueType::kFloat64: return "float64";
  }
  return "unknown";
}

bool IsValidValueType(uint32_t raw) { return raw <= static_cast<uint32_t>(ValueType::kFloat64); }

uint64_t MinEncodedSize(ValueType t) {
  switch (t) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kBool: return 1;
    case ValueType::kUint16:
    case ValueType::kInt16: return 2;
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kFloat32: return 4;
    case ValueType::kUint64:
    case ValueType::kInt64:
    case ValueType::kFloat64:
    case ValueType::kString: return 8;   // the length prefix
    case ValueType::kArray: return 12;   // element type + count
  }
  return 1;
}

bool Value::is_integer() const {
  switch (type) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kUint16:
    case ValueType::kInt16:
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kUint64:
    case ValueType::kInt64: return true;
    default: return false;
  }
}

const Array* Value::as_array() const {
  const auto* p = std::get_if<std::shared_ptr<Array>>(&data);
  return p ? p->get() : nullptr;
}

Value Value::Unsigned(ValueType t, uint64_t v) { return Value{t, v}; }
Value Value::Signed(ValueType t, int64_t v) { return Value{t, v}; }
Value Value::Float(ValueType t, double v) { return Value{t, v}; }
Value Value::Bool(bool v) { return Value{ValueType::kBool, v}; }
Value Value::String(std::string v) { return Value{ValueType::kString, std::move(v)}; }
Value Value::MakeArray(ValueType element_type, std::vector<Value> items) {
  auto a = std::make_shared<Array>();
  a->element_type = element_type;
  a->items = std::move(items);
  return Value{ValueType::kArray, std::move(a)};
}

namespace {

// Quoted, with control characters escaped so a chat template prints on one line.
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out += "\"";
  return out;
}

// Shortest text that reads back to the same number at the value's own precision.
std::string FormatFloat(ValueType t, double d) {
  char buf[64];
  std::to_chars_result r = t == ValueType::kFloat32
                               ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(d))
                               : std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

}  // namespace

std::string Value::ToString(size_t max_items) const {
  if (const auto* u = std::get_if<uint64_t>(&data)) return std::to_string(*u);
  if (const auto* i = std::get_if<int64_t>(&data)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&data)) return FormatFloat(type, *d);
  if (const auto* b = std::get_if<bool>(&data)) return *b ? "true" : "false";
  if (const auto* s = std::get_if<std::string>(&data)) return Quote(*s);
  const Array* a = as_array();
  if (a == nullptr) return "[]";
  const bool abbreviated = a->items.size() > max_items;
  std::string out = "[";
  if (abbreviated) out += std::to_string(a->items.size()) + " items: ";
  const size_t shown = abbreviated ? max_items : a->items.size();
  for (size_t i = 0; i < shown; ++i) {
    if (i > 0) out += ", ";
    out += a->items[i].ToString(max_items);
  }
  if (abbreviated) out += shown > 0 ? ", ..." : "...";
  out += "]";
  return out;
}

}  // namespace ps::gguf
