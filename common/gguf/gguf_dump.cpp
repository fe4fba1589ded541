#include "common/gguf/gguf_dump.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace ps::gguf {

namespace {

constexpr size_t kTextArrayItems = 8;      // items shown before "..." in the text listing
constexpr size_t kTextStringBytes = 160;   // a chat template is kilobytes; show its start
constexpr size_t kJsonArrayLimit = 32;     // longer arrays are abbreviated in JSON
constexpr size_t kJsonArrayHead = 8;

std::string PadRight(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

std::string PadLeft(const std::string& s, size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

std::string TypeLabel(const Value& v) {
  if (const Array* a = v.as_array()) return std::string("array[") + ValueTypeName(a->element_type) + "]";
  return ValueTypeName(v.type);
}

std::string TextValue(const Value& v) {
  const std::string* s = v.as_string();
  if (s == nullptr || s->size() <= kTextStringBytes) return v.ToString(kTextArrayItems);
  return Value::String(s->substr(0, kTextStringBytes)).ToString() + "... (" + std::to_string(s->size()) +
         " bytes)";
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 when the bytes there are not one.
size_t Utf8SequenceLength(const std::string& s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  }
  return len;
}

// nlohmann::json::dump() throws on invalid UTF-8; file strings are untrusted bytes.
std::string ValidUtf8(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}

// A float32 widened to double prints as 9.999999747378752e-06; the double nearest the float's
// shortest decimal form prints as 1e-05, which is what the file's author wrote.
nlohmann::json JsonNumber(ValueType type, double d) {
  if (type != ValueType::kFloat32 || !std::isfinite(d)) return d;
  char buf[32];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof buf, static_cast<float>(d));
  double shortest = d;
  std::from_chars(buf, r.ptr, shortest);
  return shortest;
}

nlohmann::json JsonScalar(const Value& v) {
  if (const auto* u = std::get_if<uint64_t>(&v.data)) return *u;
  if (const auto* i = std::get_if<int64_t>(&v.data)) return *i;
  if (const auto* d = std::get_if<double>(&v.data)) return JsonNumber(v.type, *d);
  if (const auto* b = std::get_if<bool>(&v.data)) return *b;
  if (const std::string* s = v.as_string()) return ValidUtf8(*s);
  return nullptr;
}

// {"type", "value"} for scalars; arrays add element_type and count, and keep only a head when long.
nlohmann::json JsonEntry(const Value& v) {
  nlohmann::json e;
  e["type"] = ValueTypeName(v.type);
  const Array* a = v.as_array();
  if (a == nullptr) {
    e["value"] = JsonScalar(v);
    return e;
  }
  e["element_type"] = ValueTypeName(a->element_type);
  e["count"] = a->items.size();
  const bool abbreviated = a->items.size() > kJsonArrayLimit;
  const size_t shown = abbreviated ? kJsonArrayHead : a->items.size();
  nlohmann::json items = nlohmann::json::array();
  for (size_t i = 0; i < shown; ++i) {
    const Value& item = a->items[i];
    items.push_back(item.as_array() != nullptr ? JsonEntry(item) : JsonScalar(item));
  }
  e[abbreviated ? "head" : "value"] = std::move(items);
  return e;
}

}  // namespace

std::string DumpText(const GgufFile& file) {
  std::string out = file.path() + ": GGUF v" + std::to_string(file.version()) + ", " +
                    std::to_string(file.metadata().size()) + " metadata keys, " +
                    std::to_string(file.tensors().size()) + " tensors, alignment " +
                    std::to_string(file.alignment()) + ", data at byte " + std::to_string(file.data_offset()) +
                    ", " + std::to_string(file.file_size()) + " bytes\n";

  out += "metadata:\n";
  size_t key_width = 0;
  for (const KeyValue& kv : file.metadata()) key_width = std::max(key_width, kv.key.size());
  for (size_t i = 0; i < file.metadata().size(); ++i) {
    const KeyValue& kv = file.metadata()[i];
    out += PadLeft(std::to_string(i), 5) + ": " + PadRight(kv.key, key_width) + "  " +
           PadRight(TypeLabel(kv.value), 14) + " = " + TextValue(kv.value) + "\n";
  }

  out += "tensors:\n";
  size_t name_width = 4;
  for (const TensorInfo& t : file.tensors()) name_width = std::max(name_width, t.name.size());
  out += PadLeft("#", 5) + "  " + PadRight("name", name_width) + "  " + PadRight("type", 5) + "  " +
         PadRight("shape", 26) + "  " + PadLeft("offset", 12) + "  " + PadLeft("bytes", 12) + "\n";
  for (size_t i = 0; i < file.tensors().size(); ++i) {
    const TensorInfo& t = file.tensors()[i];
    out += PadLeft(std::to_string(i), 5) + "  " + PadRight(t.name, name_width) + "  " +
           PadRight(std::string(TypeName(t.type)), 5) + "  " + PadRight(t.ShapeString(), 26) + "  " +
           PadLeft(std::to_string(t.offset), 12) + "  " + PadLeft(std::to_string(t.nbytes), 12) + "\n";
  }
  return out;
}

nlohmann::json DumpJson(const GgufFile& file) {
  nlohmann::json j;
  j["path"] = ValidUtf8(file.path());
  j["version"] = file.version();
  j["alignment"] = file.alignment();
  j["data_offset"] = file.data_offset();
  j["file_size"] = file.file_size();
  j["tensor_count"] = file.tensors().size();
  nlohmann::json metadata = nlohmann::json::object();
  for (const KeyValue& kv : file.metadata()) metadata[ValidUtf8(kv.key)] = JsonEntry(kv.value);
  j["metadata"] = std::move(metadata);
  nlohmann::json tensors = nlohmann::json::array();
  for (const TensorInfo& t : file.tensors()) {
    tensors.push_back({{"name", ValidUtf8(t.name)},
                       {"type", TypeName(t.type)},
                       {"shape", t.ne},
                       {"offset", t.offset},
                       {"bytes", t.nbytes}});
  }
  j["tensors"] = std::move(tensors);
  return j;
}

}  // namespace ps::gguf
