// The evaluator behind Template::Render: walks the syntax tree with @huggingface/jinja's semantics
// (src/runtime.ts) so that output matches it byte for byte: JavaScript number formatting, its
// scoping (a for loop has its own scope; if and set do not), its operators, filters, tests and
// string methods, and its quirks (a {% continue %} drops what the iteration wrote so far).
// What the reference cannot do either is an error here too; what it does that is outside the
// subset below is an Unsupported error naming the construct and its line:column, never a guess.
// Limits bound the work a hostile template can ask for: output size (and every string built),
// loop iterations, macro call depth and total work.
// Thread-safety: one Interpreter renders once, on one thread; it reads the tree without changing it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/template/ast.h"
#include "common/template/value.h"
#include "common/util/status.h"

namespace ps::jinja {

struct RenderLimits {
  size_t max_output_bytes = 8u << 20;        // the rendered text, and any one string built on the way
  uint64_t max_loop_iterations = 1'000'000;  // all loops of a rendering together, and range() lengths
  int max_call_depth = 64;                   // macros calling macros
  int max_eval_depth = 600;                  // nested evaluations, macro calls included: bounds the stack
  uint64_t max_work = 256'000'000;           // nodes evaluated plus bytes of strings built
};

// Variables of one scope. A for loop and a macro call open a child scope.
struct Scope {
  explicit Scope(std::shared_ptr<Scope> up) : parent(std::move(up)) {}
  std::shared_ptr<Scope> parent;
  std::vector<std::pair<std::string, Value>> vars;

  Value* Find(std::string_view name);
  void Set(const std::string& name, Value v);
};

// How a block ended: normally, or at a {% break %} / {% continue %} its loop must handle.
enum class Flow { kNormal, kBreak, kContinue };

class Interpreter {
 public:
  explicit Interpreter(const RenderLimits& limits) : limits_(limits) {}
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  Result<std::string> Run(const Node& program, std::vector<std::pair<std::string, Value>> variables);

  // For built-in functions and macros (filters.cpp, interpreter.cpp).
  Status Error(SourcePos at, const std::string& what) const;         // InvalidArgument: the template failed
  Status NotSupported(SourcePos at, const std::string& what) const;  // Unsupported: beyond this interpreter
  Status ChargeString(size_t bytes);  // a string of `bytes` is being built: size limit and work
  Status ChargeWork(uint64_t units);
  Status CheckEvalDepth(SourcePos at) const;
  Result<Value> CallMacro(const Node& macro, const std::shared_ptr<Scope>& defined_in, std::vector<Value> args,
                          SourcePos at);
  Value NewNamespace(Mapping m);  // remembered, so that cycles through namespaces are broken at the end
  const RenderLimits& limits() const { return limits_; }

  // Conversions the reference makes implicitly.
  Result<std::string> ToOutput(const Value& v, SourcePos at) const;   // RuntimeValue.toString(): what {{ }} prints
  Result<std::string> RawString(const Value& v, SourcePos at) const;  // value.toString() of + and ~
  // ToJsonText within the string limit (ResourceExhausted past it); its other errors name `at`,
  // after `what` ("tojson: ").
  Result<std::string> JsonText(const Value& v, JsonFormat format, SourcePos at, const std::string& what) const;
  bool LooseEquals(const Value& a, const Value& b) const;             // JavaScript ==
  static bool StrictEquals(const Value& a, const Value& b);           // JavaScript ===

 private:
  Result<Flow> RenderBlock(const NodeList& body, const std::shared_ptr<Scope>& scope, std::string& out);
  Result<Flow> RenderFor(const Node& n, const std::shared_ptr<Scope>& scope, std::string& out);
  Status ExecuteSet(const Node& n, const std::shared_ptr<Scope>& scope);
  // A block rendered on its own (a macro, a block set, a filter block); a break or continue
  // leaving it is refused (the reference would carry it to an enclosing loop).
  Result<std::string> RenderToString(const NodeList& body, const std::shared_ptr<Scope>& scope, const char* what);
  Status Append(std::string& out, std::string_view text);
  Status StringTooLong() const;  // ResourceExhausted: a string over max_output_bytes

  Result<Value> Evaluate(const Node& n, const std::shared_ptr<Scope>& scope);
  Result<Value> EvaluateBinary(const Node& n, const std::shared_ptr<Scope>& scope);
  Result<Value> EvaluateMember(const Node& n, const std::shared_ptr<Scope>& scope);
  Result<Value> EvaluateCall(const Node& n, const std::shared_ptr<Scope>& scope);
  Result<Value> EvaluateSlice(const Value& object, const Node& slice, const std::shared_ptr<Scope>& scope);
  Result<std::vector<Value>> EvaluateArgs(const NodeList& args, const std::shared_ptr<Scope>& scope);
  // Positional arguments and keyword arguments apart (a filter's arguments).
  Status EvaluateArgsApart(const NodeList& args, const std::shared_ptr<Scope>& scope, std::vector<Value>* positional,
                           Mapping* keywords);
  Value Lookup(const std::shared_ptr<Scope>& scope, const std::string& name) const;

  // filters.cpp
  Result<Value> ApplyFilter(const Value& operand, const Node& filter, const std::shared_ptr<Scope>& scope);
  Result<Value> ApplyCallFilter(const Value& operand, const Node& call, const std::shared_ptr<Scope>& scope);
  Result<Value> Test(const Value& operand, const std::string& name, const Value* argument, SourcePos at);
  Result<Value> Attribute(const Value& object, const Value& property, SourcePos at);  // builtins and indexing
  void DefineGlobals(Scope& scope);

  const RenderLimits limits_;
  uint64_t work_ = 0;
  uint64_t iterations_ = 0;
  int call_depth_ = 0;
  int eval_depth_ = 0;
  SourcePos flow_pos_;                                // where the last {% break %} / {% continue %} was
  Value namespace_fn_;                                // namespace(), which every scope has (see Lookup)
  std::vector<Value> namespaces_;                     // emptied at the end: a namespace may hold itself
  std::vector<std::shared_ptr<Scope>> macro_scopes_;  // emptied at the end: a macro holds its scope
};

}  // namespace ps::jinja
