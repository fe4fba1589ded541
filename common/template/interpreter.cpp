// Statements, expressions and operators, following @huggingface/jinja's Interpreter
// (src/runtime.ts) case by case; filters, tests and built-in methods are in filters.cpp.
#include "common/template/interpreter.h"

#include <cmath>
#include <cstdio>

#include "common/template/text.h"

namespace ps::jinja {

Value* Scope::Find(std::string_view name) {
  for (auto& [k, v] : vars) {
    if (k == name) return &v;
  }
  return nullptr;
}

void Scope::Set(const std::string& name, Value v) {
  if (Value* p = Find(name)) {
    *p = std::move(v);
  } else {
    vars.emplace_back(name, std::move(v));
  }
}

namespace {

// A macro bound to the scope it was defined in (macros see the variables around their
// definition, as the reference's do, not those of the caller).
class MacroCallable : public Callable {
 public:
  MacroCallable(const Node* node, std::shared_ptr<Scope> scope) : node_(node), scope_(std::move(scope)) {}
  Result<Value> Call(Interpreter& interp, std::vector<Value> args, SourcePos where) const override {
    return interp.CallMacro(*node_, scope_, std::move(args), where);
  }

 private:
  const Node* node_;
  std::shared_ptr<Scope> scope_;
};

class DepthGuard {
 public:
  explicit DepthGuard(int* depth) : depth_(depth) { ++*depth_; }
  ~DepthGuard() { --*depth_; }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;

 private:
  int* depth_;
};

// RuntimeValue.toString() of a float: whole numbers keep ".0" (toFixed(1)), -0 is "-0.0".
std::string FloatToString(double x) {
  if (x == 0 && std::signbit(x)) return "-0.0";
  if (std::isfinite(x) && x == std::trunc(x)) {
    if (std::fabs(x) >= 1e21) return JsNumberToString(x);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.0f.0", x);
    return buf;
  }
  return JsNumberToString(x);
}

bool IsStatementKind(NodeKind k) {
  switch (k) {
    case NodeKind::kProgram:
    case NodeKind::kIf:
    case NodeKind::kFor:
    case NodeKind::kSet:
    case NodeKind::kMacro:
    case NodeKind::kCallBlock:
    case NodeKind::kFilterBlock:
    case NodeKind::kBreak:
    case NodeKind::kContinue:
    case NodeKind::kComment: return true;
    default: return false;
  }
}

}  // namespace

Interpreter::~Interpreter() {
  // Break the cycles a rendering may leave: a namespace holding itself, a macro held in the
  // scope it closes over.
  for (Value& ns : namespaces_) ns.mutable_mapping().entries.clear();
  for (auto& scope : macro_scopes_) scope->vars.clear();
}

Status Interpreter::Error(SourcePos at, const std::string& what) const {
  return Status::InvalidArgument("template error at " + at.ToString() + ": " + what);
}

Status Interpreter::NotSupported(SourcePos at, const std::string& what) const {
  return Status::Unsupported("template uses " + what + " at " + at.ToString() + ", which is not supported");
}

Status Interpreter::ChargeWork(uint64_t units) {
  work_ += units;
  if (work_ > limits_.max_work) {
    return Status::ResourceExhausted("template rendering took more than " + std::to_string(limits_.max_work) +
                                     " steps");
  }
  return Status::Ok();
}

Status Interpreter::CheckEvalDepth(SourcePos at) const {
  if (eval_depth_ <= limits_.max_eval_depth) return Status::Ok();
  return Status::ResourceExhausted("template evaluation nested deeper than " + std::to_string(limits_.max_eval_depth) +
                                   " levels at " + at.ToString());
}

Status Interpreter::StringTooLong() const {
  return Status::ResourceExhausted("template built a string of more than " + std::to_string(limits_.max_output_bytes) +
                                   " bytes");
}

Status Interpreter::ChargeString(size_t bytes) {
  if (bytes > limits_.max_output_bytes) return StringTooLong();
  return ChargeWork(bytes);
}

Status Interpreter::Append(std::string& out, std::string_view text) {
  PS_RETURN_IF_ERROR(ChargeWork(text.size()));
  if (out.size() + text.size() > limits_.max_output_bytes) {
    return Status::ResourceExhausted("template output exceeds " + std::to_string(limits_.max_output_bytes) + " bytes");
  }
  out.append(text);
  return Status::Ok();
}

Value Interpreter::NewNamespace(Mapping m) {
  Value v = Value::Namespace(std::move(m));
  namespaces_.push_back(v);
  return v;
}

Result<std::string> Interpreter::Run(const Node& program, std::vector<std::pair<std::string, Value>> variables) {
  auto global = std::make_shared<Scope>(nullptr);
  DefineGlobals(*global);
  for (auto& [name, value] : variables) global->Set(name, std::move(value));
  macro_scopes_.push_back(global);  // the globals may hold macros that hold them
  std::string out;
  PS_ASSIGN_OR_RETURN(const Flow flow, RenderBlock(program.body, global, out));
  if (flow != Flow::kNormal) return Error(flow_pos_, "{% break %} or {% continue %} outside a loop");
  return out;
}

Result<std::string> Interpreter::ToOutput(const Value& v, SourcePos at) const {
  switch (v.type()) {
    case Value::Type::kUndefined:
    case Value::Type::kNone: return std::string("undefined");
    case Value::Type::kBool: return std::string(v.boolean() ? "true" : "false");
    case Value::Type::kInt: return JsNumberToString(v.number());
    case Value::Type::kFloat: return FloatToString(v.number());
    case Value::Type::kString: return v.str();
    case Value::Type::kList:
    case Value::Type::kMapping:
    case Value::Type::kNamespace: {
      JsonFormat f;
      f.undefined_as_null = false;
      return JsonText(v, f, at, "cannot print this value: ");
    }
    case Value::Type::kTuple:
    case Value::Type::kKwargs: return Error(at, std::string(v.type_name()) + " cannot be printed");
    case Value::Type::kFunction: return NotSupported(at, "printing a function");
  }
  return std::string();
}

Result<std::string> Interpreter::JsonText(const Value& v, JsonFormat format, SourcePos at,
                                          const std::string& what) const {
  format.max_bytes = limits_.max_output_bytes;
  Result<std::string> text = ToJsonText(v, format);
  if (text.ok() || text.status().code() == StatusCode::kResourceExhausted) return text;
  return Error(at, what + text.status().message());
}

Result<std::string> Interpreter::RawString(const Value& v, SourcePos at) const {
  switch (v.type()) {
    case Value::Type::kUndefined:
    case Value::Type::kNone:  // the reference's none holds JavaScript's undefined
      return std::string("undefined");
    case Value::Type::kBool: return std::string(v.boolean() ? "true" : "false");
    case Value::Type::kInt:
    case Value::Type::kFloat: return JsNumberToString(v.number());
    case Value::Type::kString: return v.str();
    case Value::Type::kList:
    case Value::Type::kTuple: {
      // Array.prototype.toString: the items' own text (as {{ }} prints them), joined by commas.
      std::string out;
      for (size_t i = 0; i < v.items().size(); ++i) {
        if (i > 0) out += ',';
        const Value& item = v.items()[i];
        if (item.is_none() || item.is_undefined()) {
          out += "undefined";
          continue;
        }
        PS_ASSIGN_OR_RETURN(const std::string text, ToOutput(item, at));
        out += text;
        if (out.size() > limits_.max_output_bytes) return StringTooLong();  // [big, big, big...]
      }
      return out;
    }
    case Value::Type::kMapping:
    case Value::Type::kKwargs:
    case Value::Type::kNamespace:
      return std::string("[object Map]");  // what the reference writes for a mapping joined to text
    case Value::Type::kFunction: break;
  }
  return NotSupported(at, "a function joined to a string with + or ~");
}

bool Interpreter::StrictEquals(const Value& a, const Value& b) {
  // The reference's none holds JavaScript's undefined, so none === undefined.
  const auto nullish = [](const Value& v) { return v.is_none() || v.is_undefined(); };
  if (nullish(a) || nullish(b)) return nullish(a) && nullish(b);
  if (a.is_number() && b.is_number()) return a.number() == b.number();
  if (a.is_bool() && b.is_bool()) return a.boolean() == b.boolean();
  if (a.is_string() && b.is_string()) return a.str() == b.str();
  return a.identity() != nullptr && a.identity() == b.identity();
}

bool Interpreter::LooseEquals(const Value& a, const Value& b) const {
  const auto nullish = [](const Value& v) { return v.is_none() || v.is_undefined(); };
  if (nullish(a) || nullish(b)) return nullish(a) && nullish(b);
  if (a.is_bool() && b.is_bool()) return a.boolean() == b.boolean();
  if (a.is_bool()) return LooseEquals(Value::Int(a.boolean() ? 1 : 0), b);
  if (b.is_bool()) return LooseEquals(a, Value::Int(b.boolean() ? 1 : 0));
  if (a.is_number() && b.is_number()) return a.number() == b.number();
  if (a.is_string() && b.is_string()) return a.str() == b.str();
  if (a.is_number() && b.is_string()) return a.number() == JsStringToNumber(b.str());
  if (a.is_string() && b.is_number()) return JsStringToNumber(a.str()) == b.number();
  // Containers: the same list, mapping or function; against a string or number, a container
  // compares by its text as JavaScript converts it ("1,2" for a list, "[object Map]" for a mapping).
  if (a.identity() != nullptr && b.identity() != nullptr) return a.identity() == b.identity();
  const Value& container = a.identity() != nullptr ? a : b;
  const Value& other = a.identity() != nullptr ? b : a;
  if (container.is_function()) return false;
  Result<std::string> text = RawString(container, SourcePos{});
  return text.ok() && LooseEquals(Value::String(*text), other);
}

Value Interpreter::Lookup(const std::shared_ptr<Scope>& scope, const std::string& name) const {
  // Every scope of the reference starts with its own `namespace`: the innermost one answers.
  if (name == "namespace") {
    if (Value* v = scope->Find(name)) return *v;
    return namespace_fn_;
  }
  for (Scope* s = scope.get(); s != nullptr; s = s->parent.get()) {
    if (Value* v = s->Find(name)) return *v;
  }
  return Value::Undefined();
}

Result<Flow> Interpreter::RenderBlock(const NodeList& body, const std::shared_ptr<Scope>& scope, std::string& out) {
  DepthGuard guard(&eval_depth_);
  if (!body.empty()) PS_RETURN_IF_ERROR(CheckEvalDepth(body.front()->pos));
  for (const NodePtr& node : body) {
    const Node& s = *node;
    PS_RETURN_IF_ERROR(ChargeWork(1));
    switch (s.kind) {
      case NodeKind::kString: PS_RETURN_IF_ERROR(Append(out, s.text)); break;
      case NodeKind::kComment: break;
      case NodeKind::kIf: {
        PS_ASSIGN_OR_RETURN(const Value test, Evaluate(*s.a, scope));
        PS_ASSIGN_OR_RETURN(const Flow flow, RenderBlock(test.Truthy() ? s.body : s.alt, scope, out));
        if (flow != Flow::kNormal) return flow;
        break;
      }
      case NodeKind::kFor: {
        PS_ASSIGN_OR_RETURN(const Flow flow, RenderFor(s, scope, out));
        if (flow != Flow::kNormal) return flow;
        break;
      }
      case NodeKind::kSet: PS_RETURN_IF_ERROR(ExecuteSet(s, scope)); break;
      case NodeKind::kBreak:
      case NodeKind::kContinue: flow_pos_ = s.pos; return s.kind == NodeKind::kBreak ? Flow::kBreak : Flow::kContinue;
      case NodeKind::kMacro:
        scope->Set(s.text, Value::Function(std::make_shared<MacroCallable>(&s, scope)));
        macro_scopes_.push_back(scope);
        break;
      case NodeKind::kCallBlock: return NotSupported(s.pos, "a {% call %} block");
      case NodeKind::kFilterBlock: {
        PS_ASSIGN_OR_RETURN(std::string text, RenderToString(s.body, scope, "a {% filter %} block"));
        PS_ASSIGN_OR_RETURN(const Value v, ApplyFilter(Value::String(std::move(text)), *s.a, scope));
        if (!v.is_none() && !v.is_undefined()) {
          PS_ASSIGN_OR_RETURN(const std::string printed, ToOutput(v, s.pos));
          PS_RETURN_IF_ERROR(Append(out, printed));
        }
        break;
      }
      default: {
        PS_ASSIGN_OR_RETURN(const Value v, Evaluate(s, scope));
        if (!v.is_none() && !v.is_undefined()) {
          if (v.is_string()) {
            PS_RETURN_IF_ERROR(Append(out, v.str()));
          } else {
            PS_ASSIGN_OR_RETURN(const std::string printed, ToOutput(v, s.pos));
            PS_RETURN_IF_ERROR(Append(out, printed));
          }
        }
      }
    }
  }
  return Flow::kNormal;
}

Result<std::string> Interpreter::RenderToString(const NodeList& body, const std::shared_ptr<Scope>& scope,
                                                const char* what) {
  std::string text;
  PS_ASSIGN_OR_RETURN(const Flow flow, RenderBlock(body, scope, text));
  if (flow != Flow::kNormal) {
    return NotSupported(flow_pos_, std::string("{% break %} or {% continue %} leaving ") + what);
  }
  return text;
}

namespace {

// Binds a loop or set target: a name, or names taking the items of a list in turn.
Status Bind(Interpreter& in, const Node& target, const Value& v, Scope& scope) {
  if (target.kind == NodeKind::kIdentifier) {
    scope.Set(target.text, v);
    return Status::Ok();
  }
  const auto& items = v.items();
  for (size_t j = 0; j < target.list.size(); ++j) {
    const Node& t = *target.list[j];
    if (t.kind != NodeKind::kIdentifier) return in.Error(t.pos, "only names can take the items of a list");
    scope.Set(t.text, j < items.size() ? items[j] : Value::Undefined());
  }
  return Status::Ok();
}

}  // namespace

Result<Flow> Interpreter::RenderFor(const Node& n, const std::shared_ptr<Scope>& scope, std::string& out) {
  auto loop_scope = std::make_shared<Scope>(scope);
  const Node* test = nullptr;
  Value iterable;
  if (n.b->kind == NodeKind::kSelect) {  // for x in items if condition
    PS_ASSIGN_OR_RETURN(iterable, Evaluate(*n.b->a, loop_scope));
    test = n.b->b.get();
  } else {
    PS_ASSIGN_OR_RETURN(iterable, Evaluate(*n.b, loop_scope));
  }
  std::vector<Value> candidates;
  if (iterable.is_list()) {
    candidates = iterable.items();
  } else if (iterable.is_mapping()) {
    for (const auto& entry : iterable.mapping().entries) candidates.push_back(Value::String(entry.first));
  } else {
    return Error(n.b->pos, std::string("a for loop needs a list or a mapping, not ") + iterable.type_name());
  }
  PS_RETURN_IF_ERROR(ChargeWork(candidates.size()));

  const Node& target = *n.a;
  std::vector<Value> items;
  if (target.kind == NodeKind::kIdentifier && test == nullptr) {
    items = std::move(candidates);
  } else {
    for (const Value& current : candidates) {
      if (target.kind == NodeKind::kTuple) {
        if (current.type() != Value::Type::kList) {
          return Error(target.pos, std::string("cannot unpack ") + current.type_name() + " into " +
                                       std::to_string(target.list.size()) + " names");
        }
        if (current.items().size() != target.list.size()) {
          return Error(target.pos, std::string("too ") +
                                       (target.list.size() > current.items().size() ? "few" : "many") +
                                       " items to unpack");
        }
      }
      if (test != nullptr) {
        auto test_scope = std::make_shared<Scope>(loop_scope);
        PS_RETURN_IF_ERROR(Bind(*this, target, current, *test_scope));
        PS_ASSIGN_OR_RETURN(const Value keep, Evaluate(*test, test_scope));
        if (!keep.Truthy()) continue;
      }
      items.push_back(current);
    }
  }

  bool no_iteration = true;
  const size_t length = items.size();
  for (size_t i = 0; i < length; ++i) {
    if (++iterations_ > limits_.max_loop_iterations) {
      return Status::ResourceExhausted("template loops ran more than " + std::to_string(limits_.max_loop_iterations) +
                                       " iterations");
    }
    Mapping loop;
    loop.entries.reserve(9);
    loop.entries.emplace_back("index", Value::Int(static_cast<double>(i + 1)));
    loop.entries.emplace_back("index0", Value::Int(static_cast<double>(i)));
    loop.entries.emplace_back("revindex", Value::Int(static_cast<double>(length - i)));
    loop.entries.emplace_back("revindex0", Value::Int(static_cast<double>(length - i - 1)));
    loop.entries.emplace_back("first", Value::Bool(i == 0));
    loop.entries.emplace_back("last", Value::Bool(i + 1 == length));
    loop.entries.emplace_back("length", Value::Int(static_cast<double>(length)));
    loop.entries.emplace_back("previtem", i > 0 ? items[i - 1] : Value::Undefined());
    loop.entries.emplace_back("nextitem", i + 1 < length ? items[i + 1] : Value::Undefined());
    loop_scope->Set("loop", Value::Map(std::move(loop)));
    PS_RETURN_IF_ERROR(Bind(*this, target, items[i], *loop_scope));
    // As the reference, an iteration left by break or continue keeps none of its text.
    const size_t mark = out.size();
    PS_ASSIGN_OR_RETURN(const Flow flow, RenderBlock(n.body, loop_scope, out));
    if (flow == Flow::kContinue) {
      out.resize(mark);
      continue;
    }
    if (flow == Flow::kBreak) {
      out.resize(mark);
      break;
    }
    no_iteration = false;
  }
  if (no_iteration) return RenderBlock(n.alt, loop_scope, out);  // a break there leaves the loop outside
  return Flow::kNormal;
}

Status Interpreter::ExecuteSet(const Node& n, const std::shared_ptr<Scope>& scope) {
  Value rhs;
  if (n.b) {
    PS_ASSIGN_OR_RETURN(rhs, Evaluate(*n.b, scope));
  } else {
    PS_ASSIGN_OR_RETURN(std::string text, RenderToString(n.body, scope, "a {% set %} block"));
    rhs = Value::String(std::move(text));
  }
  const Node& target = *n.a;
  switch (target.kind) {
    case NodeKind::kIdentifier: scope->Set(target.text, std::move(rhs)); return Status::Ok();
    case NodeKind::kTuple: {
      if (!rhs.is_list()) return Error(target.pos, std::string("cannot unpack ") + rhs.type_name() + " in set");
      if (rhs.items().size() != target.list.size()) {
        return Error(target.pos, std::string("too ") + (target.list.size() > rhs.items().size() ? "few" : "many") +
                                     " items to unpack in set");
      }
      return Bind(*this, target, rhs, *scope);
    }
    case NodeKind::kMember: {
      PS_ASSIGN_OR_RETURN(const Value object, Evaluate(*target.a, scope));
      if (!object.is_namespace()) {
        return Error(target.pos,
                     std::string("cannot set an attribute of ") + object.type_name() + " (only of a namespace())");
      }
      if (target.flag || target.b->kind != NodeKind::kIdentifier) {
        return Error(target.pos, "a namespace attribute is set as ns.name");
      }
      object.mutable_mapping().Set(target.b->text, std::move(rhs));
      return Status::Ok();
    }
    default: return Error(target.pos, "cannot assign to this expression");
  }
}

Result<Value> Interpreter::CallMacro(const Node& macro, const std::shared_ptr<Scope>& defined_in,
                                     std::vector<Value> args, SourcePos at) {
  DepthGuard guard(&call_depth_);
  if (call_depth_ > limits_.max_call_depth) {
    return Status::ResourceExhausted("template macros nested deeper than " + std::to_string(limits_.max_call_depth) +
                                     " calls at " + at.ToString());
  }
  if (macro.flag) return NotSupported(macro.pos, "caller, varargs or kwargs in a macro");
  auto scope = std::make_shared<Scope>(defined_in);
  Mapping keywords;
  if (!args.empty() && args.back().type() == Value::Type::kKwargs) {
    keywords = args.back().mapping();
    args.pop_back();
  }
  std::vector<const Node*> pending;  // parameters left to their defaults, evaluated once all are bound
  for (size_t i = 0; i < macro.list.size(); ++i) {
    const Node& param = *macro.list[i];
    Value value;
    bool given = i < args.size();
    if (given) {
      value = args[i];
    } else {
      for (auto it = keywords.entries.begin(); it != keywords.entries.end(); ++it) {
        if (it->first == param.text) {
          value = it->second;
          keywords.entries.erase(it);
          given = true;
          break;
        }
      }
    }
    if (!given && param.kind == NodeKind::kKeywordArg) pending.push_back(&param);
    scope->Set(param.text, value);
  }
  if (!keywords.entries.empty()) {
    return Error(at, "macro '" + macro.text + "' takes no keyword argument '" + keywords.entries[0].first + "'");
  }
  if (args.size() > macro.list.size()) {
    return Error(
        at, "macro '" + macro.text + "' takes not more than " + std::to_string(macro.list.size()) + " argument(s)");
  }
  for (const Node* param : pending) {
    PS_ASSIGN_OR_RETURN(Value v, Evaluate(*param->a, scope));
    scope->Set(param->text, std::move(v));
  }
  PS_ASSIGN_OR_RETURN(std::string text, RenderToString(macro.body, scope, "a macro"));
  return Value::String(std::move(text));
}

Result<Value> Interpreter::Evaluate(const Node& n, const std::shared_ptr<Scope>& scope) {
  DepthGuard guard(&eval_depth_);
  PS_RETURN_IF_ERROR(CheckEvalDepth(n.pos));
  PS_RETURN_IF_ERROR(ChargeWork(1));
  switch (n.kind) {
    case NodeKind::kIdentifier: return Lookup(scope, n.text);
    case NodeKind::kInt: return Value::Int(n.number);
    case NodeKind::kFloat: return Value::Float(n.number);
    case NodeKind::kString: PS_RETURN_IF_ERROR(ChargeWork(n.text.size())); return Value::String(n.text);
    case NodeKind::kBinary: return EvaluateBinary(n, scope);
    case NodeKind::kMember: return EvaluateMember(n, scope);
    case NodeKind::kCall: return EvaluateCall(n, scope);
    case NodeKind::kFilter: {
      PS_ASSIGN_OR_RETURN(const Value operand, Evaluate(*n.a, scope));
      return ApplyFilter(operand, *n.b, scope);
    }
    case NodeKind::kTest: {
      PS_ASSIGN_OR_RETURN(const Value operand, Evaluate(*n.a, scope));
      PS_ASSIGN_OR_RETURN(const Value result, Test(operand, n.text, nullptr, n.pos));
      return Value::Bool(n.flag ? !result.boolean() : result.boolean());
    }
    case NodeKind::kTernary: {
      PS_ASSIGN_OR_RETURN(const Value cond, Evaluate(*n.a, scope));
      return Evaluate(cond.Truthy() ? *n.b : *n.c, scope);
    }
    case NodeKind::kSelect: {
      PS_ASSIGN_OR_RETURN(const Value cond, Evaluate(*n.b, scope));
      if (!cond.Truthy()) return Value::Undefined();
      return Evaluate(*n.a, scope);
    }
    case NodeKind::kUnary: {
      PS_ASSIGN_OR_RETURN(const Value arg, Evaluate(*n.a, scope));
      if (n.text == "not") return Value::Bool(!arg.Truthy());
      const double sign = n.text == "-" ? -1 : 1;
      if (arg.is_number()) {
        const double r = sign * arg.number();
        return arg.type() == Value::Type::kFloat ? Value::Float(r) : Value::Int(r);
      }
      if (arg.is_bool()) return Value::Int(sign * (arg.boolean() ? 1 : 0));
      return Error(n.pos, "unary " + n.text + " needs a number, not " + arg.type_name());
    }
    case NodeKind::kList:
    case NodeKind::kTuple: {
      std::vector<Value> items;
      items.reserve(n.list.size());
      for (const NodePtr& e : n.list) {
        PS_ASSIGN_OR_RETURN(Value v, Evaluate(*e, scope));
        items.push_back(std::move(v));
      }
      return n.kind == NodeKind::kList ? Value::List(std::move(items)) : Value::Tuple(std::move(items));
    }
    case NodeKind::kMap: {
      Mapping m;
      for (size_t i = 0; i + 1 < n.list.size(); i += 2) {
        PS_ASSIGN_OR_RETURN(const Value key, Evaluate(*n.list[i], scope));
        if (!key.is_string()) {
          return Error(n.list[i]->pos, std::string("mapping keys must be strings, not ") + key.type_name());
        }
        PS_ASSIGN_OR_RETURN(Value value, Evaluate(*n.list[i + 1], scope));
        m.Set(key.str(), std::move(value));
      }
      return Value::Map(std::move(m));
    }
    default: break;
  }
  if (IsStatementKind(n.kind)) return Error(n.pos, "a statement where a value is expected");
  return Error(n.pos, "unexpected argument syntax outside a call");
}

Result<Value> Interpreter::EvaluateBinary(const Node& n, const std::shared_ptr<Scope>& scope) {
  const std::string& op = n.text;
  PS_ASSIGN_OR_RETURN(const Value left, Evaluate(*n.a, scope));
  if (op == "and") return left.Truthy() ? Evaluate(*n.b, scope) : Result<Value>(left);
  if (op == "or") return left.Truthy() ? Result<Value>(left) : Evaluate(*n.b, scope);
  PS_ASSIGN_OR_RETURN(const Value right, Evaluate(*n.b, scope));
  if (op == "==") return Value::Bool(LooseEquals(left, right));
  if (op == "!=") return Value::Bool(!LooseEquals(left, right));

  const auto operands = [&] { return std::string(" between ") + left.type_name() + " and " + right.type_name(); };
  const auto concat = [&]() -> Result<Value> {
    std::string text;
    if (!left.is_undefined()) {
      PS_ASSIGN_OR_RETURN(text, RawString(left, n.pos));
    }
    if (!right.is_undefined()) {
      PS_ASSIGN_OR_RETURN(const std::string r, RawString(right, n.pos));
      text += r;
    }
    PS_RETURN_IF_ERROR(ChargeString(text.size()));
    return Value::String(std::move(text));
  };

  if (left.is_number() && right.is_number() && op != "~" && op != "**") {
    const double a = left.number(), b = right.number();
    const bool is_float = left.type() == Value::Type::kFloat || right.type() == Value::Type::kFloat;
    const auto number = [&](double r) { return is_float ? Value::Float(r) : Value::Int(r); };
    if (op == "+") return number(a + b);
    if (op == "-") return number(a - b);
    if (op == "*") return number(a * b);
    if (op == "/") return Value::Float(a / b);
    if (op == "//") return number(std::floor(a / b));
    if (op == "%") return number(std::fmod(a, b));  // JavaScript's %: the sign of the dividend
    if (op == "<") return Value::Bool(a < b);
    if (op == ">") return Value::Bool(a > b);
    if (op == "<=") return Value::Bool(a <= b);
    if (op == ">=") return Value::Bool(a >= b);
  } else if (left.is_undefined() || right.is_undefined()) {
    if (right.is_undefined() && (op == "in" || op == "not in")) return Value::Bool(op == "not in");
    if (op == "~" && !left.is_none() && !right.is_none()) return concat();  // undefined joins as ""
    return Error(n.pos, "'" + op + "' on an undefined value" + operands());
  } else if (left.is_none() || right.is_none()) {
    return Error(n.pos, "'" + op + "' on none" + operands());
  } else if (op == "~") {
    return concat();
  } else if (op == "**" && (left.is_number() || left.is_bool()) && (right.is_number() || right.is_bool())) {
    const double a = left.is_bool() ? left.boolean() : left.number();
    const double b = right.is_bool() ? right.boolean() : right.number();
    if (a == 0 && b < 0) return Error(n.pos, "0 cannot be raised to a negative power");
    const double r = std::pow(a, b);
    if (!std::isfinite(r)) return Error(n.pos, "the power is not a finite real number");
    const bool is_float = left.type() == Value::Type::kFloat || right.type() == Value::Type::kFloat || b < 0;
    return is_float ? Value::Float(r) : Value::Int(r);
  } else if (left.is_list() && right.is_list()) {
    if (op == "+") {
      const size_t total = left.items().size() + right.items().size();
      if (total > limits_.max_loop_iterations) {
        return Status::ResourceExhausted("template built a list of more than " +
                                         std::to_string(limits_.max_loop_iterations) + " items");
      }
      PS_RETURN_IF_ERROR(ChargeWork(total));
      std::vector<Value> items = left.items();
      items.insert(items.end(), right.items().begin(), right.items().end());
      return Value::List(std::move(items));
    }
  } else if (right.is_list()) {
    if (op == "in" || op == "not in") {
      PS_RETURN_IF_ERROR(ChargeWork(right.items().size()));
      bool member = false;
      for (const Value& item : right.items()) member = member || StrictEquals(item, left);
      return Value::Bool(op == "in" ? member : !member);
    }
  }
  if ((left.is_string() || right.is_string()) && op == "+") return concat();
  if (left.is_string() && right.is_string() && (op == "in" || op == "not in")) {
    PS_RETURN_IF_ERROR(ChargeWork(right.str().size()));
    const bool found = right.str().find(left.str()) != std::string::npos;
    return Value::Bool(op == "in" ? found : !found);
  }
  if (left.is_string() && right.is_mapping() && (op == "in" || op == "not in")) {
    const bool found = right.mapping().Find(left.str()) != nullptr;
    return Value::Bool(op == "in" ? found : !found);
  }
  return Error(n.pos, "operator '" + op + "' is not defined" + operands());
}

Result<Value> Interpreter::EvaluateMember(const Node& n, const std::shared_ptr<Scope>& scope) {
  PS_ASSIGN_OR_RETURN(const Value object, Evaluate(*n.a, scope));
  if (n.flag && n.b->kind == NodeKind::kSlice) return EvaluateSlice(object, *n.b, scope);
  Value property;
  if (n.flag) {
    PS_ASSIGN_OR_RETURN(property, Evaluate(*n.b, scope));
  } else if (n.b->kind == NodeKind::kInt) {
    property = Value::Int(n.b->number);
  } else {
    property = Value::String(n.b->text);
  }
  return Attribute(object, property, n.pos);
}

Result<Value> Interpreter::EvaluateSlice(const Value& object, const Node& slice, const std::shared_ptr<Scope>& scope) {
  if (!object.is_list() && !object.is_string()) {
    return Error(slice.pos, std::string("only lists and strings can be sliced, not ") + object.type_name());
  }
  double bounds[3] = {0, 0, 1};
  bool given[3] = {false, false, false};
  const Node* parts[3] = {slice.a.get(), slice.b.get(), slice.c.get()};
  for (int i = 0; i < 3; ++i) {
    if (parts[i] == nullptr) continue;
    PS_ASSIGN_OR_RETURN(const Value v, Evaluate(*parts[i], scope));
    if (v.is_undefined()) continue;
    if (v.type() != Value::Type::kInt) return Error(parts[i]->pos, "slice bounds must be integers");
    bounds[i] = v.number();
    given[i] = true;
  }
  std::vector<char32_t> chars;
  if (object.is_string()) chars = CodePoints(object.str());
  const double len = static_cast<double>(object.is_string() ? chars.size() : object.items().size());
  // The reference's slice() (src/utils.ts), which differs from Python for negative steps.
  const double step = given[2] ? bounds[2] : 1;
  const double direction = step > 0 ? 1 : (step < 0 ? -1 : 0);
  double start, stop;
  if (direction >= 0) {
    start = given[0] ? bounds[0] : 0;
    start = start < 0 ? std::max(len + start, 0.0) : std::min(start, len);
    stop = given[1] ? bounds[1] : len;
    stop = stop < 0 ? std::max(len + stop, 0.0) : std::min(stop, len);
  } else {
    start = given[0] ? bounds[0] : len - 1;
    start = start < 0 ? std::max(len + start, -1.0) : std::min(start, len - 1);
    stop = given[1] ? bounds[1] : -1;
    stop = stop < -1 ? std::max(len + stop, -1.0) : std::min(stop, len - 1);
  }
  std::vector<size_t> picks;
  if (direction != 0) {
    for (double i = start; direction * i < direction * stop; i += step) picks.push_back(static_cast<size_t>(i));
  }
  PS_RETURN_IF_ERROR(ChargeWork(picks.size()));
  if (object.is_string()) {
    std::string out;
    for (size_t i : picks) AppendUtf8(out, chars[i]);
    return Value::String(std::move(out));
  }
  std::vector<Value> items;
  items.reserve(picks.size());
  for (size_t i : picks) items.push_back(object.items()[i]);
  return Value::List(std::move(items));
}

Status Interpreter::EvaluateArgsApart(const NodeList& args, const std::shared_ptr<Scope>& scope,
                                      std::vector<Value>* positional, Mapping* keywords) {
  for (const NodePtr& arg : args) {
    if (arg->kind == NodeKind::kSpread) {
      PS_ASSIGN_OR_RETURN(const Value v, Evaluate(*arg->a, scope));
      if (!v.is_list()) return Error(arg->pos, std::string("cannot unpack ") + v.type_name() + " with *");
      positional->insert(positional->end(), v.items().begin(), v.items().end());
    } else if (arg->kind != NodeKind::kKeywordArg && arg->kind != NodeKind::kKeywordSpread) {
      PS_ASSIGN_OR_RETURN(Value v, Evaluate(*arg, scope));
      positional->push_back(std::move(v));
    }
  }
  const auto add = [&](const std::string& key, Value v, SourcePos at) -> Status {
    if (keywords->Find(key) != nullptr) return Error(at, "keyword argument '" + key + "' given twice");
    keywords->entries.emplace_back(key, std::move(v));
    return Status::Ok();
  };
  for (const NodePtr& arg : args) {
    if (arg->kind == NodeKind::kKeywordArg) {
      PS_ASSIGN_OR_RETURN(Value v, Evaluate(*arg->a, scope));
      PS_RETURN_IF_ERROR(add(arg->text, std::move(v), arg->pos));
    } else if (arg->kind == NodeKind::kKeywordSpread) {
      PS_ASSIGN_OR_RETURN(const Value v, Evaluate(*arg->a, scope));
      if (!v.is_mapping()) return Error(arg->pos, std::string("** needs a mapping, not ") + v.type_name());
      for (const auto& [key, value] : v.mapping().entries) PS_RETURN_IF_ERROR(add(key, value, arg->pos));
    }
  }
  return Status::Ok();
}

Result<std::vector<Value>> Interpreter::EvaluateArgs(const NodeList& args, const std::shared_ptr<Scope>& scope) {
  std::vector<Value> positional;
  bool plain = true;
  for (const NodePtr& arg : args) {
    plain = plain && arg->kind != NodeKind::kKeywordArg && arg->kind != NodeKind::kSpread &&
            arg->kind != NodeKind::kKeywordSpread;
  }
  if (plain) {
    for (const NodePtr& arg : args) {
      PS_ASSIGN_OR_RETURN(Value v, Evaluate(*arg, scope));
      positional.push_back(std::move(v));
    }
    return positional;
  }
  Mapping keywords;
  PS_RETURN_IF_ERROR(EvaluateArgsApart(args, scope, &positional, &keywords));
  if (!keywords.entries.empty()) positional.push_back(Value::Kwargs(std::move(keywords)));
  return positional;
}

Result<Value> Interpreter::EvaluateCall(const Node& n, const std::shared_ptr<Scope>& scope) {
  PS_ASSIGN_OR_RETURN(std::vector<Value> args, EvaluateArgs(n.list, scope));
  const Node& callee = *n.a;
  Value fn;
  if (callee.kind == NodeKind::kMember && !callee.flag) {
    // A method call: evaluated here to name the method and its object if there is no such method.
    PS_ASSIGN_OR_RETURN(const Value object, Evaluate(*callee.a, scope));
    const Value property =
        callee.b->kind == NodeKind::kInt ? Value::Int(callee.b->number) : Value::String(callee.b->text);
    PS_ASSIGN_OR_RETURN(fn, Attribute(object, property, callee.pos));
    if (fn.is_undefined() && callee.b->kind == NodeKind::kIdentifier) {
      return NotSupported(callee.pos, "method '" + callee.b->text + "' of " + object.type_name());
    }
  } else {
    PS_ASSIGN_OR_RETURN(fn, Evaluate(callee, scope));
    if (fn.is_undefined() && callee.kind == NodeKind::kIdentifier) {
      return NotSupported(callee.pos, "function '" + callee.text + "'");
    }
  }
  if (!fn.is_function()) return Error(n.pos, std::string(fn.type_name()) + " cannot be called");
  return fn.function().Call(*this, std::move(args), n.pos);
}

}  // namespace ps::jinja
