#include "common/template/value.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "common/template/text.h"

namespace ps::jinja {

namespace {

// Frees lists and mappings one level at a time: a container freed while another is being freed
// is queued instead of recursing, so a list nested a million deep costs no stack.
class Graveyard {
 public:
  template <typename T>
  static void Bury(T* p) {
    thread_local Graveyard g;
    if (g.draining_) {
      g.pending_.push_back([p] { delete p; });
      return;
    }
    g.draining_ = true;
    delete p;
    while (!g.pending_.empty()) {
      auto next = std::move(g.pending_.back());
      g.pending_.pop_back();
      next();
    }
    g.draining_ = false;
  }

 private:
  bool draining_ = false;
  std::vector<std::function<void()>> pending_;
};

template <typename T>
std::shared_ptr<T> MakeShared(T value) {
  return std::shared_ptr<T>(new T(std::move(value)), [](T* p) { Graveyard::Bury(p); });
}

// JavaScript's array-index keys ("0", "17"), which its objects list first, in numeric order.
bool IsArrayIndexKey(const std::string& k, uint64_t* index) {
  if (k.empty() || k.size() > 10 || (k.size() > 1 && k[0] == '0')) return false;
  uint64_t v = 0;
  for (char c : k) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *index = v;
  return v < 4294967295ULL;
}

}  // namespace

const Value* Mapping::Find(std::string_view key) const {
  for (const auto& [k, v] : entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Mapping::Set(std::string key, Value value) {
  for (auto& [k, v] : entries) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  entries.emplace_back(std::move(key), std::move(value));
}

Value Value::None() {
  Value v;
  v.type_ = Type::kNone;
  return v;
}

Value Value::Bool(bool b) {
  Value v;
  v.type_ = Type::kBool;
  v.bool_ = b;
  return v;
}

Value Value::Int(double x) {
  Value v;
  v.type_ = Type::kInt;
  v.number_ = x;
  return v;
}

Value Value::Float(double x) {
  Value v;
  v.type_ = Type::kFloat;
  v.number_ = x;
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.type_ = Type::kString;
  v.string_ = std::make_shared<const std::string>(std::move(s));
  return v;
}

Value Value::List(std::vector<Value> items) {
  Value v;
  v.type_ = Type::kList;
  v.list_ = MakeShared(std::move(items));
  return v;
}

Value Value::Tuple(std::vector<Value> items) {
  Value v = List(std::move(items));
  v.type_ = Type::kTuple;
  return v;
}

Value Value::Map(Mapping m) {
  Value v;
  v.type_ = Type::kMapping;
  v.mapping_ = MakeShared(std::move(m));
  return v;
}

Value Value::Kwargs(Mapping m) {
  Value v = Map(std::move(m));
  v.type_ = Type::kKwargs;
  return v;
}

Value Value::Namespace(Mapping m) {
  Value v = Map(std::move(m));
  v.type_ = Type::kNamespace;
  return v;
}

Value Value::Function(std::shared_ptr<const Callable> fn) {
  Value v;
  v.type_ = Type::kFunction;
  v.function_ = std::move(fn);
  return v;
}

Value Value::FromJson(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return None();
    case nlohmann::ordered_json::value_t::boolean: return Bool(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Int(static_cast<double>(j.get<int64_t>()));
    case nlohmann::ordered_json::value_t::number_unsigned: return Int(static_cast<double>(j.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: {
      const double x = j.get<double>();
      return std::isfinite(x) && x == std::trunc(x) ? Int(x) : Float(x);
    }
    case nlohmann::ordered_json::value_t::string: return String(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(FromJson(e));
      return List(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      std::vector<std::pair<uint64_t, std::string>> index_keys;
      Mapping m;
      for (const auto& [k, e] : j.items()) {
        uint64_t index = 0;
        if (IsArrayIndexKey(k, &index)) {
          index_keys.emplace_back(index, k);
        } else {
          m.entries.emplace_back(k, FromJson(e));
        }
      }
      std::sort(index_keys.begin(), index_keys.end());
      Mapping ordered;
      for (const auto& [index, k] : index_keys) ordered.entries.emplace_back(k, FromJson(j.at(k)));
      for (auto& entry : m.entries) ordered.entries.push_back(std::move(entry));
      return Map(std::move(ordered));
    }
    default:  // binary, discarded
      return Undefined();
  }
}

const void* Value::identity() const {
  if (list_) return list_.get();
  if (mapping_) return mapping_.get();
  if (function_) return function_.get();
  return nullptr;
}

bool Value::Truthy() const {
  switch (type_) {
    case Type::kUndefined:
    case Type::kNone: return false;
    case Type::kBool: return bool_;
    case Type::kInt:
    case Type::kFloat: return number_ != 0 && !std::isnan(number_);
    case Type::kString: return !string_->empty();
    case Type::kList:
    case Type::kTuple: return !list_->empty();
    case Type::kMapping:
    case Type::kKwargs: return !mapping_->entries.empty();
    case Type::kNamespace:
    case Type::kFunction: return true;
  }
  return false;
}

const char* Value::TypeName(Type t) {
  switch (t) {
    case Type::kUndefined: return "an undefined value";
    case Type::kNone: return "none";
    case Type::kBool: return "a boolean";
    case Type::kInt: return "an integer";
    case Type::kFloat: return "a float";
    case Type::kString: return "a string";
    case Type::kList: return "a list";
    case Type::kTuple: return "a tuple";
    case Type::kMapping: return "a mapping";
    case Type::kKwargs: return "keyword arguments";
    case Type::kNamespace: return "a namespace";
    case Type::kFunction: return "a function";
  }
  return "a value";
}

namespace {

constexpr int kMaxJsonDepth = 256;

// JSON.stringify of a string: quotes, backslashes and control characters escaped, the rest as is.
void AppendJsonString(std::string& out, std::string_view s, bool ensure_ascii) {
  static const char* kHex = "0123456789abcdef";
  const auto unicode_escape = [&](uint32_t unit) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(unit >> shift) & 0xF];
  };
  out += '"';
  for (size_t pos = 0, n = 0; pos < s.size(); pos += n) {
    const char32_t cp = DecodeUtf8At(s, pos, &n);
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      default: break;
    }
    if (cp < 0x20) {
      unicode_escape(cp);
    } else if (ensure_ascii && cp >= 0x7F) {
      if (cp >= 0x10000) {  // escaped per UTF-16 unit, as the reference's /[\x7f-\uffff]/g does
        unicode_escape(0xD800 + ((cp - 0x10000) >> 10));
        unicode_escape(0xDC00 + ((cp - 0x10000) & 0x3FF));
      } else {
        unicode_escape(cp);
      }
    } else {
      out.append(s.substr(pos, n));
    }
  }
  out += '"';
}

Status TooLong(const JsonFormat& f) {
  return Status::ResourceExhausted("template built a string of more than " + std::to_string(f.max_bytes) + " bytes");
}

Status AppendJson(std::string& out, const Value& v, const JsonFormat& f, int depth) {
  if (depth > kMaxJsonDepth) {
    return Status::ResourceExhausted("template value nested deeper than " + std::to_string(kMaxJsonDepth) +
                                     " levels for JSON");
  }
  // Checked before every value and after every list and mapping: what one value adds at most is
  // a string (itself within the limit, escapes aside) and its indentation.
  if (out.size() > f.max_bytes) return TooLong(f);
  std::string item_sep = ", ", key_sep = ": ";
  if (f.has_separators) {
    item_sep = f.item_separator, key_sep = f.key_separator;
  } else if (f.indent != 0) {
    item_sep = ",";
  }
  const std::string indent(static_cast<size_t>(std::max(f.indent, 0)), ' ');
  std::string base_padding = "\n";
  for (int i = 0; i < depth; ++i) base_padding += indent;
  const std::string child_padding = base_padding + indent;
  switch (v.type()) {
    case Value::Type::kNone: out += "null"; return Status::Ok();
    case Value::Type::kUndefined: out += f.undefined_as_null ? "null" : "undefined"; return Status::Ok();
    case Value::Type::kBool: out += v.boolean() ? "true" : "false"; return Status::Ok();
    case Value::Type::kInt:
    case Value::Type::kFloat:
      out += std::isfinite(v.number()) ? JsNumberToString(v.number()) : "null";
      return Status::Ok();
    case Value::Type::kString: AppendJsonString(out, v.str(), f.ensure_ascii); return Status::Ok();
    case Value::Type::kList: {
      const auto& items = v.items();
      const bool pretty = f.indent != 0 && !items.empty();
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += item_sep;
        if (pretty) out += child_padding;
        PS_RETURN_IF_ERROR(AppendJson(out, items[i], f, depth + 1));
      }
      if (pretty) out += base_padding;
      out += ']';
      break;
    }
    case Value::Type::kMapping:
    case Value::Type::kNamespace: {
      const auto& entries = v.mapping().entries;
      const bool pretty = f.indent != 0 && !entries.empty();
      out += '{';
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i > 0) out += item_sep;
        if (pretty) out += child_padding;
        AppendJsonString(out, entries[i].first, f.ensure_ascii);
        out += key_sep;
        PS_RETURN_IF_ERROR(AppendJson(out, entries[i].second, f, depth + 1));
      }
      if (pretty) out += base_padding;
      out += '}';
      break;
    }
    case Value::Type::kTuple:
    case Value::Type::kKwargs:
    case Value::Type::kFunction: return Status::InvalidArgument(std::string(v.type_name()) + " has no JSON form");
  }
  return out.size() > f.max_bytes ? TooLong(f) : Status::Ok();
}

}  // namespace

Result<std::string> ToJsonText(const Value& v, const JsonFormat& format) {
  if (format.indent < 0) return Status::InvalidArgument("tojson: indent must not be negative");
  std::string out;
  PS_RETURN_IF_ERROR(AppendJson(out, v, format, 0));
  return out;
}

}  // namespace ps::jinja
