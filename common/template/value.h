// The values a chat template computes with: undefined, none, booleans, numbers, strings, lists,
// tuples, mappings (ordered as inserted), namespaces and functions. They follow the runtime values of
// @huggingface/jinja, the reference renderer: numbers are doubles with an integer/float tag, and
// lists, mappings and namespaces are shared references, so `==` on them is identity, as there.
// Lists and mappings are freed without recursion (a hostile template can nest them deeply).
// Thread-safety: values are immutable, except that a namespace's attributes change under
// `{% set ns.x = ... %}`; a value belongs to one rendering, on one thread, at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/util/status.h"

namespace ps::jinja {

class Value;
class Callable;

// Entries in insertion order, like the JavaScript Map behind the reference's objects.
struct Mapping {
  std::vector<std::pair<std::string, Value>> entries;

  const Value* Find(std::string_view key) const;
  void Set(std::string key, Value value);  // replaces an existing key in place
};

class Value {
 public:
  enum class Type : uint8_t {
    kUndefined,  // a missing variable or attribute: prints nothing
    kNone,
    kBool,
    kInt,  // a whole number (a double, as in JavaScript)
    kFloat,
    kString,  // UTF-8
    kList,
    kTuple,  // a list written (a, b); the reference treats it apart in places (tojson refuses it)
    kMapping,
    kKwargs,     // the keyword arguments of a call, passed last
    kNamespace,  // namespace(): the one value a template may change
    kFunction,
  };

  Value() = default;  // undefined
  static Value Undefined() { return Value(); }
  static Value None();
  static Value Bool(bool b);
  static Value Int(double v);
  static Value Float(double v);
  static Value String(std::string s);
  static Value List(std::vector<Value> items);
  static Value Tuple(std::vector<Value> items);
  static Value Map(Mapping m);
  static Value Kwargs(Mapping m);
  static Value Namespace(Mapping m);
  static Value Function(std::shared_ptr<const Callable> fn);

  // From JSON as @huggingface/jinja converts JavaScript values: whole numbers become integers
  // (1.0 too), objects keep JavaScript's key order (integer-like keys first, ascending).
  static Value FromJson(const nlohmann::ordered_json& j);

  Type type() const { return type_; }
  bool is_undefined() const { return type_ == Type::kUndefined; }
  bool is_none() const { return type_ == Type::kNone; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kInt || type_ == Type::kFloat; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_list() const { return type_ == Type::kList || type_ == Type::kTuple; }  // a tuple is a list too
  bool is_mapping() const { return type_ == Type::kMapping || type_ == Type::kKwargs; }
  bool is_namespace() const { return type_ == Type::kNamespace; }
  bool is_function() const { return type_ == Type::kFunction; }

  bool boolean() const { return bool_; }
  double number() const { return number_; }
  const std::string& str() const { return *string_; }
  const std::vector<Value>& items() const { return *list_; }
  const Mapping& mapping() const { return *mapping_; }
  Mapping& mutable_mapping() const { return *mapping_; }  // namespaces only
  const Callable& function() const { return *function_; }

  // The container behind a list, mapping or namespace, for identity comparison; null otherwise.
  const void* identity() const;

  // Python truthiness as the reference computes it: empty lists and mappings are false; a
  // namespace is always true.
  bool Truthy() const;

  // "a string", "an integer", "none"... for error messages.
  static const char* TypeName(Type t);
  const char* type_name() const { return TypeName(type_); }

 private:
  Type type_ = Type::kUndefined;
  bool bool_ = false;
  double number_ = 0;
  std::shared_ptr<const std::string> string_;
  std::shared_ptr<const std::vector<Value>> list_;
  std::shared_ptr<Mapping> mapping_;
  std::shared_ptr<const Callable> function_;
};

// Where a construct sits in the template's source text (1-based; columns count characters).
struct SourcePos {
  uint32_t line = 0;
  uint32_t column = 0;
  std::string ToString() const { return std::to_string(line) + ":" + std::to_string(column); }
};

class Interpreter;

// A function a template can call: a built-in (range, namespace, raise_exception, a string method)
// or a macro. `args` holds the positional arguments and, last, a kKwargs value when the call has
// keyword arguments.
class Callable {
 public:
  virtual ~Callable() = default;
  virtual Result<Value> Call(Interpreter& interp, std::vector<Value> args, SourcePos where) const = 0;
};

// JSON text as the reference's tojson writes it: Python's separators (", " and ": ", or "," and
// newlines when indenting), strings escaped as JSON.stringify does, non-ASCII kept unless
// ensure_ascii. `undefined_as_null` false writes undefined as `undefined` (how lists and mappings
// print). Tuples, keyword arguments and functions have no JSON form: an error naming the type.
// A text that grows past `max_bytes` stops with ResourceExhausted as soon as it does (values are
// shared references, so a short template can nest a list in itself a thousand times over).
struct JsonFormat {
  int indent = 0;
  bool ensure_ascii = false;
  bool has_separators = false;
  std::string item_separator, key_separator;
  bool undefined_as_null = true;
  size_t max_bytes = SIZE_MAX;
};
Result<std::string> ToJsonText(const Value& v, const JsonFormat& format);

}  // namespace ps::jinja
