// Filters, tests, attribute access, string and mapping methods, and the global functions
// (namespace, range, raise_exception, strftime_now), as @huggingface/jinja defines them
// (src/runtime.ts: applyFilter, Environment.TESTS, the builtins of each value type; src/utils.ts).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <functional>
#include <optional>
#include <unordered_set>

#include "common/template/interpreter.h"
#include "common/template/text.h"

namespace ps::jinja {

namespace {

using Args = std::vector<Value>;

class NativeFunction : public Callable {
 public:
  using Fn = std::function<Result<Value>(Interpreter&, Args&, SourcePos)>;
  explicit NativeFunction(Fn fn) : fn_(std::move(fn)) {}
  Result<Value> Call(Interpreter& interp, Args args, SourcePos where) const override {
    return fn_(interp, args, where);
  }

 private:
  Fn fn_;
};

Value Native(NativeFunction::Fn fn) { return Value::Function(std::make_shared<NativeFunction>(std::move(fn))); }

// JavaScript truthiness of a raw value (a list or mapping is an object there: always true).
bool RawTruthy(const Value& v) {
  if (v.identity() != nullptr) return true;
  return v.Truthy();
}

// `value` as a string, or an error naming `what`.
Result<std::string> StringArg(Interpreter& in, const Value& v, SourcePos at, const std::string& what) {
  if (!v.is_string()) return in.Error(at, what + " must be a string, not " + v.type_name());
  return v.str();
}

// Array.prototype.join over raw values: none and undefined join as "".
Result<Value> JoinRaw(Interpreter& in, const std::vector<Value>& items, const std::string& sep, SourcePos at) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    if (items[i].is_none() || items[i].is_undefined()) continue;
    PS_ASSIGN_OR_RETURN(const std::string part, in.RawString(items[i], at));
    out += part;
    PS_RETURN_IF_ERROR(in.ChargeString(out.size()));
  }
  PS_RETURN_IF_ERROR(in.ChargeString(out.size()));
  return Value::String(std::move(out));
}

// The reference's titleCase: /\b\w/g uppercased; only ASCII letters are word characters there.
std::string TitleCase(std::string_view s) {
  std::string out(s);
  bool prev_word = false;
  for (size_t pos = 0, n = 0; pos < out.size(); pos += n) {
    const char32_t cp = DecodeUtf8At(out, pos, &n);
    const bool word = cp < 0x80 && (std::isalnum(static_cast<int>(cp)) || cp == '_');
    if (word && !prev_word && cp >= 'a' && cp <= 'z') out[pos] = static_cast<char>(cp - 32);
    prev_word = word;
  }
  return out;
}

// charAt(0).toUpperCase() + slice(1): only the first character changes.
std::string Capitalize(std::string_view s) {
  if (s.empty()) return std::string();
  size_t n = 0;
  const char32_t cp = DecodeUtf8At(s, 0, &n);
  if (cp >= 0x10000) return std::string(s);  // charAt(0) is half a surrogate pair: unchanged
  return JsToUpper(s.substr(0, n)) + std::string(s.substr(n));
}

// The reference's replace() (src/utils.ts): `count` null or negative replaces every occurrence;
// an empty `old` matches before every character and at the end. Stops as soon as the text is
// longer than `max_bytes` (a short text and replacement can multiply), for the caller's
// ChargeString to refuse.
std::string Replace(std::string_view s, std::string_view old, std::string_view with, double count, size_t max_bytes) {
  if (count == 0) return std::string(s);
  double remaining = count < 0 || std::isnan(count) ? INFINITY : count;
  std::string out;
  if (old.empty()) {
    for (size_t pos = 0, n = 0; pos <= s.size(); pos += n) {
      if (remaining > 0) {
        out += with;
        --remaining;
      }
      if (pos == s.size() || out.size() > max_bytes) break;
      DecodeUtf8At(s, pos, &n);
      out += s.substr(pos, n);
    }
    return out;
  }
  size_t pos = 0;
  while (remaining > 0 && out.size() <= max_bytes) {
    const size_t hit = s.find(old, pos);
    if (hit == std::string_view::npos) break;
    out += s.substr(pos, hit - pos);
    out += with;
    pos = hit + old.size();
    --remaining;
  }
  out += s.substr(pos);
  return out;
}

// getAttributeValue: "a.b.0" through mappings, namespaces and list indices; undefined if absent.
Value AttributePath(const Value& item, const std::string& path) {
  Value v = item;
  size_t start = 0;
  for (;;) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (v.is_mapping() || v.is_namespace()) {
      const Value* found = v.mapping().Find(part);
      v = found ? *found : Value::Undefined();
    } else if (v.is_list()) {
      const double index = JsParseInt(part);
      if (std::isnan(index) || index < 0 || index >= static_cast<double>(v.items().size())) return Value::Undefined();
      v = v.items()[static_cast<size_t>(index)];
    } else {
      return Value::Undefined();
    }
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

// compareRuntimeValues: numbers (booleans count) with numbers, strings with strings (lowercased
// unless case-sensitive, in UTF-16 order), none with none, undefined with undefined.
Result<int> Compare(Interpreter& in, const Value& a, const Value& b, bool case_sensitive, SourcePos at) {
  if (a.is_none() && b.is_none()) return 0;
  if (a.is_undefined() && b.is_undefined()) return 0;
  const auto numeric = [](const Value& v) { return v.is_number() || v.is_bool(); };
  if (numeric(a) && numeric(b)) {
    const double x = a.is_bool() ? a.boolean() : a.number();
    const double y = b.is_bool() ? b.boolean() : b.number();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    const std::u16string x = ToUtf16(case_sensitive ? a.str() : JsToLower(a.str()));
    const std::u16string y = ToUtf16(case_sensitive ? b.str() : JsToLower(b.str()));
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  return in.Error(at, std::string("cannot order ") + a.type_name() + " and " + b.type_name());
}

// A stable sort (as JavaScript's) that stops at the first pair that cannot be ordered.
Result<std::vector<Value>> Sorted(Interpreter& in, std::vector<Value> items, bool case_sensitive, bool reverse,
                                  const std::function<Value(const Value&)>& key, SourcePos at) {
  PS_RETURN_IF_ERROR(in.ChargeWork(items.size() * 20));
  Status failed;
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    if (!failed.ok()) return false;
    Result<int> c = Compare(in, key(x), key(y), case_sensitive, at);
    if (!c.ok()) {
      failed = c.status();
      return false;
    }
    return reverse ? *c > 0 : *c < 0;
  });
  PS_RETURN_IF_ERROR(failed);
  return items;
}

Result<Value> StringMethod(Interpreter& in, const std::string& name, const std::string& s, Args& args, SourcePos at) {
  if (name == "upper" || name == "lower" || name == "strip" || name == "lstrip" || name == "rstrip" ||
      name == "title" || name == "capitalize") {
    // As the reference, strip() and its kin ignore any argument: they remove whitespace.
    std::string out;
    if (name == "upper") out = JsToUpper(s);
    if (name == "lower") out = JsToLower(s);
    if (name == "strip") out = JsTrim(s);
    if (name == "lstrip") out = JsTrimStart(s);
    if (name == "rstrip") out = JsTrimEnd(s);
    if (name == "title") out = TitleCase(s);
    if (name == "capitalize") out = Capitalize(s);
    PS_RETURN_IF_ERROR(in.ChargeString(out.size()));
    return Value::String(std::move(out));
  }
  if (name == "startswith" || name == "endswith") {
    if (args.empty()) return in.Error(at, name + "() needs an argument");
    const bool starts = name == "startswith";
    const auto test = [&](const std::string& p) { return starts ? s.starts_with(p) : s.ends_with(p); };
    if (args[0].is_string()) return Value::Bool(test(args[0].str()));
    if (args[0].is_list()) {
      for (const Value& item : args[0].items()) {
        if (!item.is_string()) return in.Error(at, name + "() takes strings");
        if (test(item.str())) return Value::Bool(true);
      }
      return Value::Bool(false);
    }
    return in.Error(at, name + "() takes a string or a tuple of strings");
  }
  if (name == "split") {
    const Value sep = args.size() > 0 ? args[0] : Value::None();
    if (!sep.is_string() && !sep.is_none()) return in.Error(at, "split() takes a string or none as separator");
    const Value maxsplit_v = args.size() > 1 ? args[1] : Value::Int(-1);
    if (maxsplit_v.type() != Value::Type::kInt) return in.Error(at, "split()'s maxsplit must be an integer");
    const double maxsplit = maxsplit_v.number();
    PS_RETURN_IF_ERROR(in.ChargeWork(s.size()));
    std::vector<Value> parts;
    if (sep.is_none()) {
      // Runs of whitespace separate; none at either end (Python's str.split()).
      const std::string_view text = JsTrimStart(s);
      size_t pos = 0;
      while (pos < text.size()) {
        size_t end = pos;
        while (end < text.size() && JsSpaceAt(text, end) == 0) {
          size_t n = 0;
          DecodeUtf8At(text, end, &n);
          end += n;
        }
        if (maxsplit >= 0 && static_cast<double>(parts.size()) >= maxsplit) {
          parts.push_back(Value::String(std::string(text.substr(pos))));
          break;
        }
        parts.push_back(Value::String(std::string(text.substr(pos, end - pos))));
        pos = end;
        while (size_t n = JsSpaceAt(text, pos)) pos += n;
      }
    } else {
      const std::string& d = sep.str();
      if (d.empty()) return in.Error(at, "split() with an empty separator");
      std::vector<std::string> pieces;
      size_t pos = 0;
      for (size_t hit = s.find(d); hit != std::string::npos; hit = s.find(d, pos)) {
        pieces.push_back(s.substr(pos, hit - pos));
        pos = hit + d.size();
      }
      pieces.push_back(s.substr(pos));
      if (maxsplit >= 0 && static_cast<double>(pieces.size()) > maxsplit) {
        const size_t keep = static_cast<size_t>(maxsplit);
        std::string rest;
        for (size_t i = keep; i < pieces.size(); ++i) rest += (i > keep ? d : "") + pieces[i];
        pieces.resize(keep);
        pieces.push_back(std::move(rest));
      }
      for (auto& p : pieces) parts.push_back(Value::String(std::move(p)));
    }
    return Value::List(std::move(parts));
  }
  if (name == "replace") {
    if (args.size() < 2) return in.Error(at, "replace() needs the old and the new text");
    if (!args[0].is_string() || !args[1].is_string()) return in.Error(at, "replace() takes strings");
    Value count = Value::None();
    if (args.size() > 2) {
      if (args[2].type() == Value::Type::kKwargs) {
        const Value* c = args[2].mapping().Find("count");
        count = c ? *c : Value::None();
      } else {
        count = args[2];
      }
    }
    if (count.type() != Value::Type::kInt && !count.is_none()) {
      return in.Error(at, "replace()'s count must be a number");
    }
    std::string out = Replace(s, args[0].str(), args[1].str(), count.is_none() ? -1 : count.number(),
                              in.limits().max_output_bytes);
    PS_RETURN_IF_ERROR(in.ChargeString(out.size()));
    return Value::String(std::move(out));
  }
  return in.NotSupported(at, "string method '" + name + "'");
}

bool IsStringMethod(const std::string& name) {
  static const std::unordered_set<std::string> kNames = {"upper",      "lower",  "strip",  "title",
                                                         "capitalize", "rstrip", "lstrip", "startswith",
                                                         "endswith",   "split",  "replace"};
  return kNames.count(name) > 0;
}

Result<Value> DictSort(Interpreter& in, const Value& self, Args& args, SourcePos at) {
  Mapping kwargs;
  Args positional;
  for (const Value& a : args) {
    if (a.type() == Value::Type::kKwargs) {
      kwargs = a.mapping();
    } else {
      positional.push_back(a);
    }
  }
  const auto arg = [&](size_t i, const char* name, Value fallback) {
    if (i < positional.size()) return positional[i];
    const Value* v = kwargs.Find(name);
    return v ? *v : fallback;
  };
  const Value case_sensitive = arg(0, "case_sensitive", Value::Bool(false));
  const Value by = arg(1, "by", Value::String("key"));
  const Value reverse = arg(2, "reverse", Value::Bool(false));
  if (!case_sensitive.is_bool() || !reverse.is_bool()) return in.Error(at, "dictsort()'s flags must be booleans");
  if (!by.is_string() || (by.str() != "key" && by.str() != "value")) {
    return in.Error(at, "dictsort() sorts by 'key' or 'value'");
  }
  std::vector<Value> pairs;
  for (const auto& [k, v] : self.mapping().entries) pairs.push_back(Value::List({Value::String(k), v}));
  const size_t index = by.str() == "key" ? 0 : 1;
  PS_ASSIGN_OR_RETURN(std::vector<Value> sorted, Sorted(
                                                     in, std::move(pairs), case_sensitive.boolean(), reverse.boolean(),
                                                     [index](const Value& p) { return p.items()[index]; }, at));
  return Value::List(std::move(sorted));
}

// The methods of a mapping (ObjectValue's builtins): get, items, keys, values, dictsort.
Result<Value> MappingMethod(Interpreter& in, const std::string& name, const Value& self, Args& args, SourcePos at) {
  const Mapping& m = self.mapping();
  if (name == "get") {
    if (args.empty() || !args[0].is_string()) return in.Error(at, "get() takes a string key");
    if (const Value* v = m.Find(args[0].str())) return *v;
    return args.size() > 1 ? args[1] : Value::None();
  }
  if (name == "items" || name == "keys" || name == "values") {
    PS_RETURN_IF_ERROR(in.ChargeWork(m.entries.size()));
    std::vector<Value> out;
    for (const auto& [k, v] : m.entries) {
      if (name == "items") out.push_back(Value::List({Value::String(k), v}));
      if (name == "keys") out.push_back(Value::String(k));
      if (name == "values") out.push_back(v);
    }
    return Value::List(std::move(out));
  }
  if (name == "dictsort") return DictSort(in, self, args, at);
  return in.NotSupported(at, "mapping method '" + name + "'");
}

bool IsMappingMethod(const std::string& name) {
  return name == "get" || name == "items" || name == "keys" || name == "values" || name == "dictsort";
}

// indent(width, first, blank): every line but the first and the empty ones, unless asked.
Result<Value> Indent(Interpreter& in, const std::string& s, const Value& width, bool first, bool blank, SourcePos at) {
  std::string pad;
  if (width.is_string()) {
    pad = width.str();
  } else if (width.type() == Value::Type::kInt) {
    const double w = std::max(0.0, width.number());
    PS_RETURN_IF_ERROR(in.ChargeString(static_cast<size_t>(std::min(w, 1e12))));
    pad.assign(static_cast<size_t>(w), ' ');
  } else {
    return in.Error(at, "indent()'s width must be an integer or a string");
  }
  std::string out;
  size_t start = 0;
  for (size_t line = 0;; ++line) {
    const size_t nl = s.find('\n', start);
    const std::string_view text =
        std::string_view(s).substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if (line > 0) out += '\n';
    if (!((!first && line == 0) || (!blank && text.empty()))) out += pad;
    out += text;
    PS_RETURN_IF_ERROR(in.ChargeString(out.size()));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return Value::String(std::move(out));
}

// strftime_now: the reference's strftime(), %Y %m %d %b %B %H %M %%, English month names.
std::string StrftimeNow(const std::string& format) {
  static const char* kShort[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  static const char* kLong[] = {"January", "February", "March",     "April",   "May",      "June",
                                "July",    "August",   "September", "October", "November", "December"};
  const std::time_t now = std::time(nullptr);
  std::tm t{};
  localtime_r(&now, &t);
  const auto pad2 = [](int v) { return (v < 10 ? "0" : "") + std::to_string(v); };
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%' || i + 1 >= format.size()) {
      out += format[i];
      continue;
    }
    const char c = format[i + 1];
    switch (c) {
      case 'Y': out += std::to_string(t.tm_year + 1900); break;
      case 'm': out += pad2(t.tm_mon + 1); break;
      case 'd': out += pad2(t.tm_mday); break;
      case 'b': out += kShort[t.tm_mon]; break;
      case 'B': out += kLong[t.tm_mon]; break;
      case 'H': out += pad2(t.tm_hour); break;
      case 'M': out += pad2(t.tm_min); break;
      case '%': out += '%'; break;
      default: out += '%'; continue;  // not a directive: the % stays, the next character is read as text
    }
    ++i;
  }
  return out;
}

}  // namespace

Result<Value> Interpreter::Attribute(const Value& object, const Value& property, SourcePos at) {
  if (object.is_mapping() || object.is_namespace()) {
    if (!property.is_string()) {
      return Error(at, std::string("a mapping's keys are strings, not ") + property.type_name());
    }
    if (const Value* v = object.mapping().Find(property.str())) return *v;
    if (object.is_mapping() && IsMappingMethod(property.str())) {
      const std::string name = property.str();
      return Native([name, object](Interpreter& in, Args& args, SourcePos where) {
        return MappingMethod(in, name, object, args, where);
      });
    }
    return Value::Undefined();
  }
  if (object.is_list() || object.is_string()) {
    if (property.type() == Value::Type::kInt) {
      double index = property.number();
      if (std::isnan(index)) index = 0;
      index = std::trunc(index);
      if (object.is_list()) {
        const double len = static_cast<double>(object.items().size());
        if (index < 0) index += len;
        if (index < 0 || index >= len) return Value::Undefined();
        return object.items()[static_cast<size_t>(index)];
      }
      const std::u16string units = ToUtf16(object.str());  // JavaScript indexes UTF-16 code units
      const double len = static_cast<double>(units.size());
      if (index < 0) index += len;
      if (index < 0 || index >= len) return Value::Undefined();
      return Value::String(FromUtf16(std::u16string_view(units).substr(static_cast<size_t>(index), 1)));
    }
    if (!property.is_string()) {
      return Error(at, std::string(object.type_name()) + " is indexed by an integer, not " + property.type_name());
    }
    const std::string& name = property.str();
    if (name == "length") {
      return Value::Int(static_cast<double>(object.is_list() ? object.items().size() : Utf16Length(object.str())));
    }
    if (object.is_string() && IsStringMethod(name)) {
      return Native([name, object](Interpreter& in, Args& args, SourcePos where) {
        return StringMethod(in, name, object.str(), args, where);
      });
    }
    return Value::Undefined();
  }
  if (!property.is_string()) {
    return Error(at, std::string("cannot index ") + object.type_name() + " with " + property.type_name());
  }
  return Value::Undefined();
}

Result<Value> Interpreter::Test(const Value& v, const std::string& name, const Value* argument, SourcePos at) {
  const auto b = [](bool x) { return Result<Value>(Value::Bool(x)); };
  if (name == "defined") return b(!v.is_undefined());
  if (name == "undefined") return b(v.is_undefined());
  if (name == "none") return b(v.is_none());
  if (name == "boolean") return b(v.is_bool());
  if (name == "true") return b(v.is_bool() && v.boolean());
  if (name == "false") return b(v.is_bool() && !v.boolean());
  if (name == "string") return b(v.is_string());
  if (name == "number") return b(v.is_number());
  if (name == "integer") return b(v.type() == Value::Type::kInt);
  if (name == "callable") return b(v.is_function());
  if (name == "iterable") return b(v.type() == Value::Type::kList || v.is_string());  // not a tuple, as there
  if (name == "mapping") return b(v.is_mapping());
  if (name == "sequence") return b(v.is_list() || v.is_mapping() || v.is_string());
  if (name == "odd" || name == "even") {
    if (v.type() != Value::Type::kInt) return Error(at, "test '" + name + "' needs an integer");
    const bool odd = std::fmod(v.number(), 2) != 0;
    return b(name == "odd" ? odd : !odd);
  }
  if (name == "lower" || name == "upper") {
    return b(v.is_string() && v.str() == (name == "lower" ? JsToLower(v.str()) : JsToUpper(v.str())));
  }
  if (name == "equalto" || name == "eq") {
    if (argument == nullptr) return Error(at, "test '" + name + "' needs a value to compare with");
    return b(StrictEquals(v, *argument));
  }
  return NotSupported(at, "test '" + name + "'");
}

Result<Value> Interpreter::ApplyFilter(const Value& operand, const Node& filter, const std::shared_ptr<Scope>& scope) {
  if (filter.kind == NodeKind::kCall) return ApplyCallFilter(operand, filter, scope);
  if (filter.kind != NodeKind::kIdentifier) return NotSupported(filter.pos, "this form of filter");
  const std::string& name = filter.text;
  const SourcePos at = filter.pos;
  const auto unknown = [&] { return NotSupported(at, "filter '" + name + "' on " + operand.type_name()); };
  const auto string_result = [&](std::string s) -> Result<Value> {
    PS_RETURN_IF_ERROR(ChargeString(s.size()));
    return Value::String(std::move(s));
  };
  if (name == "safe") return operand;
  if (name == "tojson") {
    PS_ASSIGN_OR_RETURN(std::string json, JsonText(operand, JsonFormat{}, at, "tojson: "));
    return string_result(std::move(json));
  }
  if (operand.is_list()) {
    const auto& items = operand.items();
    if (name == "list") return operand;
    // The reference has no value for the first of nothing (it fails further on): an error here.
    if ((name == "first" || name == "last") && items.empty()) return Error(at, "'" + name + "' of an empty list");
    if (name == "first") return items.front();
    if (name == "last") return items.back();
    if (name == "length") return Value::Int(static_cast<double>(items.size()));
    if (name == "reverse") return Value::List(std::vector<Value>(items.rbegin(), items.rend()));
    if (name == "sort") {
      PS_ASSIGN_OR_RETURN(std::vector<Value> sorted,
                          Sorted(
                              *this, items, false, false, [](const Value& x) { return x; }, at));
      return Value::List(std::move(sorted));
    }
    if (name == "join") return JoinRaw(*this, items, "", at);
    if (name == "string") {
      JsonFormat f;
      f.undefined_as_null = false;
      PS_ASSIGN_OR_RETURN(std::string json, JsonText(operand, f, at, "string: "));
      return string_result(std::move(json));
    }
    if (name == "unique") {
      PS_RETURN_IF_ERROR(ChargeWork(items.size()));
      std::unordered_set<std::string> seen;
      std::vector<Value> out;
      for (const Value& item : items) {
        // SameValueZero on raw values: content for scalars, identity for containers.
        Value::Type kind = item.type();
        if (item.is_number()) kind = Value::Type::kInt;
        if (item.is_none()) kind = Value::Type::kUndefined;  // both are JavaScript's undefined there
        std::string key = std::to_string(static_cast<int>(kind)) + ":";
        if (item.is_string()) key += item.str();
        if (item.is_bool()) key += item.boolean() ? "1" : "0";
        if (item.is_number()) key += std::isnan(item.number()) ? "nan" : JsNumberToString(item.number());
        if (item.identity() != nullptr) key += std::to_string(reinterpret_cast<uintptr_t>(item.identity()));
        if (seen.insert(key).second) out.push_back(item);
      }
      return Value::List(std::move(out));
    }
    return unknown();
  }
  if (operand.is_string()) {
    const std::string& s = operand.str();
    if (name == "length") return Value::Int(static_cast<double>(Utf16Length(s)));
    if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
      Args none;
      return StringMethod(*this, name, s, none, at);
    }
    if (name == "trim") return string_result(std::string(JsTrim(s)));
    if (name == "indent") return Indent(*this, s, Value::Int(4), false, false, at);
    if (name == "join" || name == "string") return operand;
    if (name == "int") {
      const double v = JsParseInt(s);
      return Value::Int(std::isnan(v) ? 0 : v);
    }
    if (name == "float") {
      const double v = JsParseFloat(s);
      return Value::Float(std::isnan(v) ? 0 : v);
    }
    return unknown();
  }
  if (operand.is_number()) {
    if (name == "abs") {
      return operand.type() == Value::Type::kInt ? Value::Int(std::fabs(operand.number()))
                                                 : Value::Float(std::fabs(operand.number()));
    }
    if (name == "int") return Value::Int(std::trunc(operand.number()) + 0.0);
    if (name == "float") return Value::Float(operand.number());
    if (name == "string") {
      PS_ASSIGN_OR_RETURN(std::string text, ToOutput(operand, at));
      return Value::String(std::move(text));
    }
    return unknown();
  }
  if (operand.is_mapping()) {
    if (name == "items") {
      Args none;
      return MappingMethod(*this, "items", operand, none, at);
    }
    if (name == "length") return Value::Int(static_cast<double>(operand.mapping().entries.size()));
    if (IsMappingMethod(name)) {
      Args none;
      return MappingMethod(*this, name, operand, none, at);
    }
    return unknown();
  }
  if (operand.is_bool()) {
    if (name == "bool") return operand;
    if (name == "int") return Value::Int(operand.boolean() ? 1 : 0);
    if (name == "float") return Value::Float(operand.boolean() ? 1 : 0);
    if (name == "string") return Value::String(operand.boolean() ? "true" : "false");
    return unknown();
  }
  return Error(at, "filter '" + name + "' cannot apply to " + operand.type_name());
}

Result<Value> Interpreter::ApplyCallFilter(const Value& operand, const Node& call,
                                           const std::shared_ptr<Scope>& scope) {
  if (call.a->kind != NodeKind::kIdentifier) return NotSupported(call.pos, "this form of filter");
  const std::string& name = call.a->text;
  const SourcePos at = call.a->pos;
  Args positional;
  Mapping kw;
  const auto apart = [&]() { return EvaluateArgsApart(call.list, scope, &positional, &kw); };
  const auto arg = [&](size_t i, const char* key) -> const Value* {
    if (i < positional.size()) return &positional[i];
    return kw.Find(key);
  };

  if (name == "tojson") {
    PS_RETURN_IF_ERROR(apart());
    JsonFormat f;
    if (const Value* indent = kw.Find("indent")) {
      if (indent->type() != Value::Type::kInt && !indent->is_none()) {
        return Error(at, "tojson's indent must be a number");
      }
      if (indent->type() == Value::Type::kInt) {
        if (indent->number() < 0 || indent->number() > 1000) return Error(at, "tojson's indent is out of range");
        f.indent = static_cast<int>(indent->number());
      }
    }
    if (const Value* ascii = kw.Find("ensure_ascii")) {
      if (!ascii->is_bool()) return Error(at, "tojson's ensure_ascii must be a boolean");
      f.ensure_ascii = ascii->boolean();
    }
    if (const Value* sort_keys = kw.Find("sort_keys")) {
      if (!sort_keys->is_bool()) return Error(at, "tojson's sort_keys must be a boolean");
      if (sort_keys->boolean()) return NotSupported(at, "tojson(sort_keys=true)");
    }
    if (const Value* seps = kw.Find("separators")) {
      if (seps->is_list()) {
        const auto& s = seps->items();
        if (s.size() != 2 || !s[0].is_string() || !s[1].is_string()) {
          return Error(at, "tojson's separators must be two strings");
        }
        f.has_separators = true;
        f.item_separator = s[0].str();
        f.key_separator = s[1].str();
      } else if (!seps->is_none()) {
        return Error(at, "tojson's separators must be two strings");
      }
    }
    PS_ASSIGN_OR_RETURN(std::string json, JsonText(operand, f, at, "tojson: "));
    PS_RETURN_IF_ERROR(ChargeString(json.size()));
    return Value::String(std::move(json));
  }
  if (name == "join") {
    std::vector<Value> items;
    if (operand.is_string()) {
      for (char32_t cp : CodePoints(operand.str())) {
        std::string c;
        AppendUtf8(c, cp);
        items.push_back(Value::String(std::move(c)));
      }
    } else if (operand.is_list()) {
      items = operand.items();
    } else {
      return Error(at, std::string("filter 'join' cannot apply to ") + operand.type_name());
    }
    PS_RETURN_IF_ERROR(apart());
    const Value* sep = arg(0, "separator");
    std::string separator;
    if (sep != nullptr) {
      PS_ASSIGN_OR_RETURN(separator, StringArg(*this, *sep, at, "join's separator"));
    }
    return JoinRaw(*this, items, separator, at);
  }
  if (name == "int" || name == "float") {
    PS_RETURN_IF_ERROR(apart());
    const bool integer = name == "int";
    const Value* fallback = arg(0, "default");
    const Value otherwise = fallback ? *fallback : (integer ? Value::Int(0) : Value::Float(0));
    if (operand.is_string()) {
      const double v = integer ? JsParseInt(operand.str()) : JsParseFloat(operand.str());
      if (std::isnan(v)) return otherwise;
      return integer ? Value::Int(v) : Value::Float(v);
    }
    if (operand.is_number()) {
      return integer ? Value::Int(std::trunc(operand.number()) + 0.0) : Value::Float(operand.number());
    }
    if (operand.is_bool()) return integer ? Value::Int(operand.boolean()) : Value::Float(operand.boolean());
    return Error(at, "filter '" + name + "' cannot apply to " + operand.type_name());
  }
  if (name == "default") {
    PS_RETURN_IF_ERROR(apart());
    const Value fallback = positional.size() > 0 ? positional[0] : Value::String("");
    const Value* boolean = arg(1, "boolean");
    if (boolean != nullptr && !boolean->is_bool()) return Error(at, "default's boolean flag must be a boolean");
    const bool when_false = boolean != nullptr && boolean->boolean();
    if (operand.is_undefined() || (when_false && !operand.Truthy())) return fallback;
    return operand;
  }

  if (operand.is_list()) {
    const auto& items = operand.items();
    if (name == "sort") {
      PS_RETURN_IF_ERROR(apart());
      const Value* reverse = arg(0, "reverse");
      const Value* case_sensitive = arg(1, "case_sensitive");
      const Value* attribute = arg(2, "attribute");
      if ((reverse && !reverse->is_bool()) || (case_sensitive && !case_sensitive->is_bool())) {
        return Error(at, "sort's flags must be booleans");
      }
      std::string path;
      const bool by_attribute = attribute != nullptr && !attribute->is_none();
      if (by_attribute) {
        if (attribute->is_string()) {
          path = attribute->str();
        } else if (attribute->type() == Value::Type::kInt) {
          path = JsNumberToString(attribute->number());
        } else {
          return Error(at, "sort's attribute must be a string or an integer");
        }
      }
      const auto key = [&](const Value& x) { return by_attribute ? AttributePath(x, path) : x; };
      PS_ASSIGN_OR_RETURN(std::vector<Value> sorted, Sorted(*this, items, case_sensitive && case_sensitive->boolean(),
                                                            reverse && reverse->boolean(), key, at));
      return Value::List(std::move(sorted));
    }
    if (name == "selectattr" || name == "rejectattr") {
      const bool select = name == "selectattr";
      for (const Value& item : items) {
        if (!item.is_mapping() && !item.is_namespace()) return Error(at, name + " applies to a list of mappings");
      }
      for (const NodePtr& a : call.list) {
        if (a->kind != NodeKind::kString) return Error(a->pos, name + "'s arguments must be quoted strings");
      }
      if (call.list.empty()) return Error(at, name + " needs an attribute name");
      const std::string& attr = call.list[0]->text;
      const Value compare_with = call.list.size() > 2 ? Value::String(call.list[2]->text) : Value::Undefined();
      PS_RETURN_IF_ERROR(ChargeWork(items.size()));
      std::vector<Value> out;
      for (const Value& item : items) {
        bool result = false;
        if (const Value* a = item.mapping().Find(attr)) {
          if (call.list.size() > 1) {
            PS_ASSIGN_OR_RETURN(const Value r, Test(*a, call.list[1]->text,
                                                    call.list.size() > 2 ? &compare_with : nullptr, call.list[1]->pos));
            result = r.boolean();
          } else {
            result = a->Truthy();
          }
        }
        if (result == select) out.push_back(item);
      }
      return Value::List(std::move(out));
    }
    if (name == "map") {
      PS_RETURN_IF_ERROR(apart());
      const Value* attribute = kw.Find("attribute");
      if (attribute == nullptr) return NotSupported(at, "map() without attribute=");
      if (!attribute->is_string()) return Error(at, "map's attribute must be a string");
      const Value* fallback = kw.Find("default");
      PS_RETURN_IF_ERROR(ChargeWork(items.size()));
      std::vector<Value> out;
      for (const Value& item : items) {
        if (!item.is_mapping() && !item.is_namespace()) {
          return Error(at, "map(attribute=...) applies to a list of mappings");
        }
        Value v = AttributePath(item, attribute->str());
        out.push_back(v.is_undefined() && fallback ? *fallback : v);
      }
      return Value::List(std::move(out));
    }
    return NotSupported(at, "filter '" + name + "(...)' on " + operand.type_name());
  }
  if (operand.is_string()) {
    if (name == "indent") {
      PS_RETURN_IF_ERROR(apart());
      const Value* width = arg(0, "width");
      const Value* first = arg(1, "first");
      const Value* blank = arg(2, "blank");
      return Indent(*this, operand.str(), width ? *width : Value::Int(4), first && RawTruthy(*first),
                    blank && RawTruthy(*blank), at);
    }
    if (name == "replace") {
      PS_RETURN_IF_ERROR(apart());
      Args args = positional;
      args.push_back(Value::Kwargs(kw));
      return StringMethod(*this, "replace", operand.str(), args, at);
    }
    return NotSupported(at, "filter '" + name + "(...)' on a string");
  }
  if (operand.is_mapping() && IsMappingMethod(name)) {
    PS_ASSIGN_OR_RETURN(Args args, EvaluateArgs(call.list, scope));
    return MappingMethod(*this, name, operand, args, at);
  }
  return NotSupported(at, "filter '" + name + "(...)' on " + operand.type_name());
}

namespace {

// raise_exception(message): how a template refuses a conversation.
Result<Value> RaiseException(Interpreter& in, Args& args, SourcePos at) {
  std::string message;  // the reference throws Error(value): none and undefined give no message
  if (!args.empty() && !args[0].is_undefined() && !args[0].is_none()) {
    Result<std::string> text = in.RawString(args[0], at);
    message = text.ok() ? *text : std::string("(") + args[0].type_name() + ")";
  }
  return Status::InvalidArgument("template raised an exception at " + at.ToString() + ": " + message);
}

// range([start,] stop[, step]), as the reference's utils.range.
Result<Value> Range(Interpreter& in, Args& args, SourcePos at) {
  if (args.empty() || args.size() > 3) return in.Error(at, "range() takes 1 to 3 numbers");
  for (const Value& a : args) {
    if (!a.is_number()) return in.Error(at, std::string("range() takes numbers, not ") + a.type_name());
  }
  double start = 0, stop = args[0].number(), step = 1;
  if (args.size() > 1) start = args[0].number(), stop = args[1].number();
  if (args.size() > 2) step = args[2].number();
  if (step == 0) return in.Error(at, "range() step must not be zero");
  std::vector<Value> out;
  for (double i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (out.size() >= in.limits().max_loop_iterations) {
      return Status::ResourceExhausted("template range() longer than " +
                                       std::to_string(in.limits().max_loop_iterations) + " at " + at.ToString());
    }
    out.push_back(i == std::trunc(i) ? Value::Int(i) : Value::Float(i));
  }
  PS_RETURN_IF_ERROR(in.ChargeWork(out.size()));
  return Value::List(std::move(out));
}

Result<Value> StrftimeNowFunction(Interpreter& in, Args& args, SourcePos at) {
  if (args.empty() || !args[0].is_string()) return in.Error(at, "strftime_now() takes a format string");
  return Value::String(StrftimeNow(args[0].str()));
}

// namespace(mapping or [key, value] pairs, **attributes): the one value a template may change.
Result<Value> NamespaceFunction(Interpreter& in, Args& args, SourcePos at) {
  Mapping entries;
  std::optional<Mapping> keywords;
  if (!args.empty() && args.back().type() == Value::Type::kKwargs) {
    keywords = args.back().mapping();
    args.pop_back();
  }
  if (args.size() > 1) return in.Error(at, "namespace() takes at most 1 positional argument");
  if (args.size() == 1) {
    const Value& source = args[0];
    if (source.is_mapping()) {
      entries.entries = source.mapping().entries;
    } else if (source.is_list()) {
      for (const Value& pair : source.items()) {
        std::vector<Value> kv;
        if (pair.is_list()) {
          kv = pair.items();
        } else if (pair.is_string()) {  // a two-character string is a pair too, there
          for (char32_t cp : CodePoints(pair.str())) {
            std::string c;
            AppendUtf8(c, cp);
            kv.push_back(Value::String(std::move(c)));
          }
        }
        if (kv.size() != 2) return in.Error(at, "namespace() takes a mapping or a list of [key, value] pairs");
        if (!kv[0].is_string()) return in.Error(at, "namespace() keys must be strings");
        entries.Set(kv[0].str(), kv[1]);
      }
    } else {
      return in.Error(at, std::string("namespace() cannot take its attributes from ") + source.type_name());
    }
  }
  if (keywords) {
    for (auto& [k, v] : keywords->entries) entries.Set(k, v);
  }
  return in.NewNamespace(std::move(entries));
}

}  // namespace

void Interpreter::DefineGlobals(Scope& scope) {
  scope.Set("false", Value::Bool(false));
  scope.Set("true", Value::Bool(true));
  scope.Set("none", Value::None());
  scope.Set("False", Value::Bool(false));
  scope.Set("True", Value::Bool(true));
  scope.Set("None", Value::None());
  scope.Set("raise_exception", Native(RaiseException));
  scope.Set("range", Native(Range));
  scope.Set("strftime_now", Native(StrftimeNowFunction));
  namespace_fn_ = Native(NamespaceFunction);
}

}  // namespace ps::jinja
