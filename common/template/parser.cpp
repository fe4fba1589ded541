// A port of @huggingface/jinja's recursive-descent parser (src/parser.ts). Precedence, lowest
// first: `a if b else c`, or, and, not, comparisons and (not) in, + - ~, * / // %, **, `is` tests,
// `|` filters, unary + -, calls / attributes / subscripts, primaries.
#include "common/template/parser.h"

#include <algorithm>
#include <initializer_list>
#include <set>
#include <string_view>

#include "common/template/text.h"

namespace ps::jinja {

namespace {

const char* TokenName(TokenType t) {
  switch (t) {
    case TokenType::kText: return "text";
    case TokenType::kNumber: return "a number";
    case TokenType::kString: return "a string";
    case TokenType::kIdentifier: return "a name";
    case TokenType::kEquals: return "'='";
    case TokenType::kOpenParen: return "'('";
    case TokenType::kCloseParen: return "')'";
    case TokenType::kOpenStatement: return "'{%'";
    case TokenType::kCloseStatement: return "'%}'";
    case TokenType::kOpenExpression: return "'{{'";
    case TokenType::kCloseExpression: return "'}}'";
    case TokenType::kOpenSquare: return "'['";
    case TokenType::kCloseSquare: return "']'";
    case TokenType::kOpenCurly: return "'{'";
    case TokenType::kCloseCurly: return "'}'";
    case TokenType::kComma: return "','";
    case TokenType::kDot: return "'.'";
    case TokenType::kColon: return "':'";
    case TokenType::kPipe: return "'|'";
    case TokenType::kAdditive: return "an operator";
    case TokenType::kMultiplicative: return "an operator";
    case TokenType::kPower: return "'**'";
    case TokenType::kComparison: return "a comparison";
    case TokenType::kUnary: return "a sign";
    case TokenType::kComment: return "a comment";
  }
  return "a token";
}

// Statements of Jinja that the reference renderer does not have either.
bool IsUnsupportedJinjaStatement(const std::string& name) {
  static const std::set<std::string, std::less<>> kNames = {"include", "import",     "from", "extends", "block", "raw",
                                                            "with",    "autoescape", "do",   "trans",   "print"};
  return kNames.count(name) > 0;
}

// Whether a macro body names caller, varargs or kwargs, the special arguments of Jinja macros
// (which this interpreter does not provide).
bool UsesSpecialNames(const NodeList& body) {
  std::vector<const Node*> stack;
  for (const NodePtr& n : body) stack.push_back(n.get());
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    if (n == nullptr) continue;
    if (n->kind == NodeKind::kIdentifier && (n->text == "caller" || n->text == "varargs" || n->text == "kwargs")) {
      return true;
    }
    for (const NodePtr* c : {&n->a, &n->b, &n->c}) stack.push_back(c->get());
    for (const NodeList* l : {&n->list, &n->body, &n->alt}) {
      for (const NodePtr& c : *l) stack.push_back(c.get());
    }
  }
  return false;
}

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, int max_depth) : t_(tokens), max_depth_(max_depth) {}

  Result<NodePtr> Program() {
    auto program = std::make_unique<Node>(NodeKind::kProgram, SourcePos{1, 1});
    while (i_ < t_.size()) {
      PS_ASSIGN_OR_RETURN(NodePtr n, Any());
      program->body.push_back(std::move(n));
    }
    return Finish(std::move(program));
  }

 private:
  // Guards each recursive descent: input like "((((((" nests calls before any node exists.
  class DepthGuard {
   public:
    explicit DepthGuard(Parser* p) : p_(p) { ++p_->depth_; }
    ~DepthGuard() { --p_->depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    Parser* p_;
  };
  Status CheckDepth() const {
    if (depth_ <= max_depth_) return Status::Ok();
    return Status::ResourceExhausted("template nested deeper than " + std::to_string(max_depth_) + " levels at " +
                                     Here().ToString());
  }

  bool AtEnd() const { return i_ >= t_.size(); }
  SourcePos Here() const {
    if (i_ < t_.size()) return t_[i_].pos;
    return t_.empty() ? SourcePos{1, 1} : t_.back().pos;
  }
  bool Is(TokenType type, size_t ahead = 0) const { return i_ + ahead < t_.size() && t_[i_ + ahead].type == type; }
  bool IsName(std::string_view name, size_t ahead = 0) const {
    return Is(TokenType::kIdentifier, ahead) && t_[i_ + ahead].value == name;
  }
  bool IsStatement(std::initializer_list<std::string_view> names) const {
    if (!Is(TokenType::kOpenStatement) || !Is(TokenType::kIdentifier, 1)) return false;
    return std::find(names.begin(), names.end(), t_[i_ + 1].value) != names.end();
  }

  Status SyntaxError(SourcePos at, const std::string& what) const {
    return Status::InvalidArgument("template syntax error at " + at.ToString() + ": " + what);
  }
  Status Unexpected(const std::string& wanted) const {
    if (AtEnd()) return SyntaxError(Here(), "the template ends where " + wanted + " should follow");
    const Token& t = t_[i_];
    std::string found = TokenName(t.type);
    if (t.type == TokenType::kIdentifier || t.type == TokenType::kAdditive || t.type == TokenType::kMultiplicative ||
        t.type == TokenType::kComparison) {
      found = "'" + t.value + "'";
    }
    return SyntaxError(t.pos, "expected " + wanted + ", found " + found);
  }
  Status Expect(TokenType type, const std::string& wanted) {
    if (!Is(type)) return Unexpected(wanted);
    ++i_;
    return Status::Ok();
  }
  Status ExpectName(std::string_view name) {
    if (!IsName(name)) return Unexpected("'" + std::string(name) + "'");
    ++i_;
    return Status::Ok();
  }
  // {% end... %} closing the block opened at `open`.
  Status ExpectEnd(std::string_view end_name, SourcePos open) {
    if (AtEnd()) {
      return SyntaxError(open, "this block is never closed with {% " + std::string(end_name) + " %}");
    }
    PS_RETURN_IF_ERROR(Expect(TokenType::kOpenStatement, "{% " + std::string(end_name) + " %}"));
    PS_RETURN_IF_ERROR(ExpectName(end_name));
    return Expect(TokenType::kCloseStatement, "'%}'");
  }

  NodePtr Make(NodeKind kind, SourcePos pos) const { return std::make_unique<Node>(kind, pos); }
  Result<NodePtr> Finish(NodePtr n) const {
    int d = 0;
    for (const NodePtr* c : {&n->a, &n->b, &n->c}) {
      if (*c) d = std::max(d, (*c)->depth);
    }
    for (const NodeList* l : {&n->list, &n->body, &n->alt}) {
      for (const NodePtr& c : *l) {
        if (c) d = std::max(d, c->depth);
      }
    }
    n->depth = d + 1;
    if (n->depth > max_depth_) {
      return Status::ResourceExhausted("template nested deeper than " + std::to_string(max_depth_) + " levels at " +
                                       n->pos.ToString());
    }
    return n;
  }

  // Statements up to (not including) one of `ends`; the template ending first is an error naming
  // the block that was opened at `open`.
  Status BodyUntil(std::initializer_list<std::string_view> ends, SourcePos open, NodeList* out) {
    while (!IsStatement(ends)) {
      if (AtEnd()) {
        return SyntaxError(open, "this block is never closed with {% " + std::string(*(ends.end() - 1)) + " %}");
      }
      PS_ASSIGN_OR_RETURN(NodePtr n, Any());
      out->push_back(std::move(n));
    }
    return Status::Ok();
  }

  Result<NodePtr> Any() {
    DepthGuard guard(this);
    PS_RETURN_IF_ERROR(CheckDepth());
    const Token& t = t_[i_];
    switch (t.type) {
      case TokenType::kComment: {
        ++i_;
        return Make(NodeKind::kComment, t.pos);
      }
      case TokenType::kText: {
        ++i_;
        NodePtr n = Make(NodeKind::kString, t.pos);
        n->text = t.value;
        return n;
      }
      case TokenType::kOpenStatement: return Statement();
      case TokenType::kOpenExpression: {
        ++i_;
        PS_ASSIGN_OR_RETURN(NodePtr e, Expression());
        PS_RETURN_IF_ERROR(Expect(TokenType::kCloseExpression, "'}}'"));
        return e;
      }
      default: return Unexpected("text or a tag");
    }
  }

  Result<NodePtr> Statement() {
    const SourcePos open = Here();
    ++i_;  // {%
    if (!Is(TokenType::kIdentifier)) return Unexpected("a statement name");
    const std::string name = t_[i_].value;
    ++i_;
    if (name == "set") return Set(open);
    if (name == "if") {
      PS_ASSIGN_OR_RETURN(NodePtr n, If(open));
      PS_RETURN_IF_ERROR(ExpectEnd("endif", open));
      return n;
    }
    if (name == "for") {
      PS_ASSIGN_OR_RETURN(NodePtr n, For(open));
      PS_RETURN_IF_ERROR(ExpectEnd("endfor", open));
      return n;
    }
    if (name == "macro") {
      PS_ASSIGN_OR_RETURN(NodePtr n, Macro(open));
      PS_RETURN_IF_ERROR(ExpectEnd("endmacro", open));
      return n;
    }
    if (name == "break" || name == "continue") {
      PS_RETURN_IF_ERROR(Expect(TokenType::kCloseStatement, "'%}'"));
      return Make(name == "break" ? NodeKind::kBreak : NodeKind::kContinue, open);
    }
    if (name == "call") return CallBlock(open);
    if (name == "filter") return FilterBlock(open);
    if (IsUnsupportedJinjaStatement(name)) {
      return Status::Unsupported("template statement {% " + name + " %} at " + open.ToString() + " is not supported");
    }
    return SyntaxError(open, "unexpected statement {% " + name + " %}");
  }

  Result<NodePtr> Set(SourcePos open) {
    NodePtr n = Make(NodeKind::kSet, open);
    PS_ASSIGN_OR_RETURN(n->a, Sequence(false));
    if (Is(TokenType::kEquals)) {
      ++i_;
      PS_ASSIGN_OR_RETURN(n->b, Sequence(false));
    } else {
      PS_RETURN_IF_ERROR(Expect(TokenType::kCloseStatement, "'=' or '%}'"));
      PS_RETURN_IF_ERROR(BodyUntil({"endset"}, open, &n->body));
      ++i_;  // {%
      PS_RETURN_IF_ERROR(ExpectName("endset"));
    }
    PS_RETURN_IF_ERROR(Expect(TokenType::kCloseStatement, "'%}'"));
    return Finish(std::move(n));
  }

  Result<NodePtr> If(SourcePos open) {
    DepthGuard guard(this);
    PS_RETURN_IF_ERROR(CheckDepth());
    NodePtr n = Make(NodeKind::kIf, open);
    PS_ASSIGN_OR_RETURN(n->a, Expression());
    PS_RETURN_IF_ERROR(Expect(TokenType::kCloseStatement, "'%}'"));
    PS_RETURN_IF_ERROR(BodyUntil({"elif", "else", "endif"}, open, &n->body));
    if (IsStatement({"elif"})) {
      const SourcePos elif = Here();
      i_ += 2;
      PS_ASSIGN_OR_RETURN(NodePtr nested, If(elif));
      n->alt.push_back(std::move(nested));
    } else if (IsStatement({"else"})) {
      i_ += 2;
      PS_RETURN_IF_ERROR(Expect(TokenType::kCloseStatement, "'%}'"));
      PS_RETURN_IF_ERROR(BodyUntil({"endif"}, open, &n->alt));
    }
    return Finish(std::move(n));
  }

  Result<NodePtr> For(SourcePos open) {
    NodePtr n = Make(NodeKind::kFor, open);
    PS_ASSIGN_OR_RETURN(n->a, Sequence(true));
    if (n->a->kind != NodeKind::kIdentifier && n->a->kind != NodeKind::kTuple) {
      return SyntaxError(n->a->pos, "a for loop's target must be a name or names separated by commas");
    }
    PS_RETURN_IF_ERROR(ExpectName("in"));
    PS_ASSIGN_OR_RETURN(n->b, Expression());
    PS_RETURN_IF_ERROR(Expect(TokenType::kCloseStatement, "'%}'"));
    PS_RETURN_IF_ERROR(BodyUntil({"else", "endfor"}, open, &n->body));
    if (IsStatement({"else"})) {
      i_ += 2;
      PS_RETURN_IF_ERROR(Expect(TokenType::kCloseStatement, "'%}'"));
      PS_RETURN_IF_ERROR(BodyUntil({"endfor"}, open, &n->alt));
    }
    return Finish(std::move(n));
  }

  Result<NodePtr> Macro(SourcePos open) {
    NodePtr n = Make(NodeKind::kMacro, open);
    PS_ASSIGN_OR_RETURN(NodePtr name, Primary());
    if (name->kind != NodeKind::kIdentifier) return SyntaxError(name->pos, "a macro needs a name");
    n->text = name->text;
    PS_RETURN_IF_ERROR(Args(/*parameters=*/true, &n->list));
    PS_RETURN_IF_ERROR(Expect(TokenType::kCloseStatement, "'%}'"));
    PS_RETURN_IF_ERROR(BodyUntil({"endmacro"}, open, &n->body));
    n->flag = UsesSpecialNames(n->body);
    return Finish(std::move(n));
  }

  Result<NodePtr> CallBlock(SourcePos open) {
    NodePtr n = Make(NodeKind::kCallBlock, open);
    if (Is(TokenType::kOpenParen)) PS_RETURN_IF_ERROR(Args(/*parameters=*/true, &n->list));
    PS_ASSIGN_OR_RETURN(NodePtr callee, Primary());
    if (callee->kind != NodeKind::kIdentifier) return SyntaxError(callee->pos, "{% call %} needs a macro name");
    NodePtr call = Make(NodeKind::kCall, callee->pos);
    call->a = std::move(callee);
    PS_RETURN_IF_ERROR(Args(/*parameters=*/false, &call->list));
    PS_ASSIGN_OR_RETURN(n->a, Finish(std::move(call)));
    PS_RETURN_IF_ERROR(Expect(TokenType::kCloseStatement, "'%}'"));
    PS_RETURN_IF_ERROR(BodyUntil({"endcall"}, open, &n->body));
    PS_RETURN_IF_ERROR(ExpectEnd("endcall", open));
    return Finish(std::move(n));
  }

  Result<NodePtr> FilterBlock(SourcePos open) {
    NodePtr n = Make(NodeKind::kFilterBlock, open);
    PS_ASSIGN_OR_RETURN(n->a, Primary());
    if (n->a->kind == NodeKind::kIdentifier && Is(TokenType::kOpenParen)) {
      PS_ASSIGN_OR_RETURN(n->a, CallOn(std::move(n->a)));
    }
    PS_RETURN_IF_ERROR(Expect(TokenType::kCloseStatement, "'%}'"));
    PS_RETURN_IF_ERROR(BodyUntil({"endfilter"}, open, &n->body));
    PS_RETURN_IF_ERROR(ExpectEnd("endfilter", open));
    return Finish(std::move(n));
  }

  // a, b, c as a tuple, or a single expression; `primary` for a loop target.
  Result<NodePtr> Sequence(bool primary) {
    const SourcePos pos = Here();
    std::vector<NodePtr> items;
    PS_ASSIGN_OR_RETURN(NodePtr first, primary ? Primary() : Expression());
    items.push_back(std::move(first));
    const bool tuple = Is(TokenType::kComma);
    while (tuple) {
      ++i_;
      PS_ASSIGN_OR_RETURN(NodePtr next, primary ? Primary() : Expression());
      items.push_back(std::move(next));
      if (!Is(TokenType::kComma)) break;
    }
    if (!tuple) return std::move(items[0]);
    NodePtr n = Make(NodeKind::kTuple, pos);
    n->list = std::move(items);
    return Finish(std::move(n));
  }

  Result<NodePtr> Expression() {
    DepthGuard guard(this);
    PS_RETURN_IF_ERROR(CheckDepth());
    return IfExpression();
  }

  Result<NodePtr> IfExpression() {
    PS_ASSIGN_OR_RETURN(NodePtr value, Or());
    if (!IsName("if")) return value;
    const SourcePos pos = Here();
    ++i_;
    PS_ASSIGN_OR_RETURN(NodePtr test, Or());
    if (IsName("else")) {
      ++i_;
      DepthGuard guard(this);
      PS_RETURN_IF_ERROR(CheckDepth());
      NodePtr n = Make(NodeKind::kTernary, pos);
      n->a = std::move(test);
      n->b = std::move(value);
      PS_ASSIGN_OR_RETURN(n->c, IfExpression());
      return Finish(std::move(n));
    }
    NodePtr n = Make(NodeKind::kSelect, pos);
    n->a = std::move(value);
    n->b = std::move(test);
    return Finish(std::move(n));
  }

  Result<NodePtr> Binary(std::string op, SourcePos pos, NodePtr left, NodePtr right) {
    NodePtr n = Make(NodeKind::kBinary, pos);
    n->text = std::move(op);
    n->a = std::move(left);
    n->b = std::move(right);
    return Finish(std::move(n));
  }

  Result<NodePtr> Or() {
    PS_ASSIGN_OR_RETURN(NodePtr left, And());
    while (IsName("or")) {
      const SourcePos pos = Here();
      ++i_;
      PS_ASSIGN_OR_RETURN(NodePtr right, And());
      PS_ASSIGN_OR_RETURN(left, Binary("or", pos, std::move(left), std::move(right)));
    }
    return left;
  }

  Result<NodePtr> And() {
    PS_ASSIGN_OR_RETURN(NodePtr left, Not());
    while (IsName("and")) {
      const SourcePos pos = Here();
      ++i_;
      PS_ASSIGN_OR_RETURN(NodePtr right, Not());
      PS_ASSIGN_OR_RETURN(left, Binary("and", pos, std::move(left), std::move(right)));
    }
    return left;
  }

  Result<NodePtr> Not() {
    DepthGuard guard(this);
    PS_RETURN_IF_ERROR(CheckDepth());
    NodePtr result;
    // As the reference: each `not` takes what follows, and a later `not` replaces the result.
    while (IsName("not")) {
      const SourcePos pos = Here();
      ++i_;
      NodePtr n = Make(NodeKind::kUnary, pos);
      n->text = "not";
      PS_ASSIGN_OR_RETURN(n->a, Not());
      PS_ASSIGN_OR_RETURN(result, Finish(std::move(n)));
    }
    if (result) return result;
    return Comparison();
  }

  Result<NodePtr> Comparison() {
    PS_ASSIGN_OR_RETURN(NodePtr left, Additive());
    for (;;) {
      const SourcePos pos = Here();
      std::string op;
      if (IsName("not") && IsName("in", 1)) {
        op = "not in";
        i_ += 2;
      } else if (IsName("in")) {
        op = "in";
        ++i_;
      } else if (Is(TokenType::kComparison)) {
        op = t_[i_++].value;
      } else {
        break;
      }
      PS_ASSIGN_OR_RETURN(NodePtr right, Additive());
      PS_ASSIGN_OR_RETURN(left, Binary(std::move(op), pos, std::move(left), std::move(right)));
    }
    return left;
  }

  Result<NodePtr> Additive() {
    PS_ASSIGN_OR_RETURN(NodePtr left, Multiplicative());
    while (Is(TokenType::kAdditive)) {
      const Token& op = t_[i_++];
      PS_ASSIGN_OR_RETURN(NodePtr right, Multiplicative());
      PS_ASSIGN_OR_RETURN(left, Binary(op.value, op.pos, std::move(left), std::move(right)));
    }
    return left;
  }

  Result<NodePtr> Multiplicative() {
    PS_ASSIGN_OR_RETURN(NodePtr left, Power());
    while (Is(TokenType::kMultiplicative)) {
      const Token& op = t_[i_++];
      PS_ASSIGN_OR_RETURN(NodePtr right, Power());
      PS_ASSIGN_OR_RETURN(left, Binary(op.value, op.pos, std::move(left), std::move(right)));
    }
    return left;
  }

  Result<NodePtr> Power() {
    PS_ASSIGN_OR_RETURN(NodePtr left, Test());
    while (Is(TokenType::kPower)) {
      const Token& op = t_[i_++];
      PS_ASSIGN_OR_RETURN(NodePtr right, Test());
      PS_ASSIGN_OR_RETURN(left, Binary(op.value, op.pos, std::move(left), std::move(right)));
    }
    return left;
  }

  Result<NodePtr> Test() {
    PS_ASSIGN_OR_RETURN(NodePtr operand, Filter());
    while (IsName("is")) {
      ++i_;
      const bool negate = IsName("not");
      if (negate) ++i_;
      PS_ASSIGN_OR_RETURN(NodePtr name, Primary());
      if (name->kind != NodeKind::kIdentifier) return SyntaxError(name->pos, "expected a test name after 'is'");
      if (Is(TokenType::kOpenParen)) {
        return Status::Unsupported("template test '" + name->text + "(...)' at " + name->pos.ToString() +
                                   ": tests with arguments are not supported");
      }
      NodePtr n = Make(NodeKind::kTest, name->pos);
      n->text = name->text;
      n->flag = negate;
      n->a = std::move(operand);
      PS_ASSIGN_OR_RETURN(operand, Finish(std::move(n)));
    }
    return operand;
  }

  Result<NodePtr> Filter() {
    PS_ASSIGN_OR_RETURN(NodePtr operand, UnarySign());
    while (Is(TokenType::kPipe)) {
      ++i_;
      PS_ASSIGN_OR_RETURN(NodePtr filter, Primary());
      if (filter->kind != NodeKind::kIdentifier) return SyntaxError(filter->pos, "expected a filter name after '|'");
      if (Is(TokenType::kOpenParen)) {
        PS_ASSIGN_OR_RETURN(filter, CallOn(std::move(filter)));
      }
      NodePtr n = Make(NodeKind::kFilter, filter->pos);
      n->a = std::move(operand);
      n->b = std::move(filter);
      PS_ASSIGN_OR_RETURN(operand, Finish(std::move(n)));
    }
    return operand;
  }

  Result<NodePtr> UnarySign() {
    if ((Is(TokenType::kUnary) || Is(TokenType::kAdditive)) && (t_[i_].value == "-" || t_[i_].value == "+")) {
      DepthGuard guard(this);
      PS_RETURN_IF_ERROR(CheckDepth());
      NodePtr n = Make(NodeKind::kUnary, Here());
      n->text = t_[i_++].value;
      PS_ASSIGN_OR_RETURN(n->a, UnarySign());
      return Finish(std::move(n));
    }
    PS_ASSIGN_OR_RETURN(NodePtr primary, Primary());
    PS_ASSIGN_OR_RETURN(NodePtr member, Members(std::move(primary)));
    if (Is(TokenType::kOpenParen)) return CallOn(std::move(member));
    return member;
  }

  // callee(args), then any .x / [y] / (z) that follow.
  Result<NodePtr> CallOn(NodePtr callee) {
    for (;;) {
      NodePtr call = Make(NodeKind::kCall, callee->pos);
      call->a = std::move(callee);
      PS_RETURN_IF_ERROR(Args(/*parameters=*/false, &call->list));
      PS_ASSIGN_OR_RETURN(NodePtr finished, Finish(std::move(call)));
      PS_ASSIGN_OR_RETURN(callee, Members(std::move(finished)));
      if (!Is(TokenType::kOpenParen)) return callee;
    }
  }

  // (a, b=1, *c, **d): call arguments, or a macro's parameters (names with optional defaults).
  Status Args(bool parameters, NodeList* out) {
    const SourcePos open = Here();
    PS_RETURN_IF_ERROR(Expect(TokenType::kOpenParen, "'('"));
    std::set<std::string, std::less<>> names;
    bool saw_keyword = false, saw_spread = false;
    while (!Is(TokenType::kCloseParen)) {
      if (AtEnd()) return SyntaxError(open, "'(' is never closed");
      const bool keyword_spread = Is(TokenType::kPower);
      const bool spread = Is(TokenType::kMultiplicative) && t_[i_].value == "*";
      if (parameters && (keyword_spread || spread)) {
        return SyntaxError(Here(), "a macro's parameters cannot unpack with * or **");
      }
      if (keyword_spread) {
        NodePtr n = Make(NodeKind::kKeywordSpread, Here());
        ++i_;
        PS_ASSIGN_OR_RETURN(n->a, Expression());
        PS_ASSIGN_OR_RETURN(n, Finish(std::move(n)));
        out->push_back(std::move(n));
        if (Is(TokenType::kComma)) ++i_;
        if (!Is(TokenType::kCloseParen)) return SyntaxError(Here(), "** must unpack the last argument");
        break;
      }
      NodePtr arg;
      if (spread) {
        if (saw_spread) return SyntaxError(Here(), "only one * unpacking is allowed");
        saw_spread = true;
        arg = Make(NodeKind::kSpread, Here());
        ++i_;
        PS_ASSIGN_OR_RETURN(arg->a, Expression());
        PS_ASSIGN_OR_RETURN(arg, Finish(std::move(arg)));
      } else {
        PS_ASSIGN_OR_RETURN(arg, Expression());
        if (Is(TokenType::kEquals)) {
          ++i_;
          if (arg->kind != NodeKind::kIdentifier) {
            return SyntaxError(arg->pos, parameters ? "expected a parameter name" : "expected a keyword argument name");
          }
          NodePtr kw = Make(NodeKind::kKeywordArg, arg->pos);
          kw->text = arg->text;
          PS_ASSIGN_OR_RETURN(kw->a, Expression());
          PS_ASSIGN_OR_RETURN(arg, Finish(std::move(kw)));
        }
        if (parameters) {
          if (arg->kind != NodeKind::kIdentifier && arg->kind != NodeKind::kKeywordArg) {
            return SyntaxError(arg->pos, "expected a parameter name");
          }
          if (!names.insert(arg->text).second) return SyntaxError(arg->pos, "parameter '" + arg->text + "' repeated");
        }
        if (arg->kind == NodeKind::kKeywordArg) {
          saw_keyword = true;
        } else if (saw_keyword) {
          return SyntaxError(arg->pos, parameters ? "a parameter without a default follows one with a default"
                                                  : "a positional argument follows a keyword argument");
        } else if (saw_spread) {
          return SyntaxError(arg->pos, "a positional argument follows * unpacking");
        }
      }
      out->push_back(std::move(arg));
      if (Is(TokenType::kComma)) ++i_;
    }
    ++i_;  // )
    return Status::Ok();
  }

  // What is inside [ ]: an index, or a slice start:stop:step with any part left out.
  Result<NodePtr> Subscript(SourcePos open) {
    std::vector<NodePtr> parts;
    bool slice = false;
    while (!Is(TokenType::kCloseSquare)) {
      if (AtEnd()) return SyntaxError(open, "'[' is never closed");
      if (Is(TokenType::kColon)) {
        parts.push_back(nullptr);
        ++i_;
        slice = true;
      } else {
        PS_ASSIGN_OR_RETURN(NodePtr e, Expression());
        parts.push_back(std::move(e));
        if (Is(TokenType::kColon)) {
          ++i_;
          slice = true;
        }
      }
    }
    if (parts.empty()) return SyntaxError(open, "[] needs an index or a slice");
    if (!slice) return std::move(parts[0]);
    if (parts.size() > 3) return SyntaxError(open, "a slice has at most start:stop:step");
    NodePtr n = Make(NodeKind::kSlice, open);
    n->a = std::move(parts[0]);
    if (parts.size() > 1) n->b = std::move(parts[1]);
    if (parts.size() > 2) n->c = std::move(parts[2]);
    return Finish(std::move(n));
  }

  Result<NodePtr> Members(NodePtr object) {
    while (Is(TokenType::kDot) || Is(TokenType::kOpenSquare)) {
      const Token& op = t_[i_++];
      NodePtr n = Make(NodeKind::kMember, op.pos);
      n->flag = op.type == TokenType::kOpenSquare;
      if (n->flag) {
        PS_ASSIGN_OR_RETURN(n->b, Subscript(op.pos));
        PS_RETURN_IF_ERROR(Expect(TokenType::kCloseSquare, "']'"));
      } else {
        PS_ASSIGN_OR_RETURN(n->b, Primary());
        if (n->b->kind != NodeKind::kIdentifier && n->b->kind != NodeKind::kInt) {
          return SyntaxError(n->b->pos, "expected an attribute name after '.'");
        }
      }
      n->a = std::move(object);
      PS_ASSIGN_OR_RETURN(object, Finish(std::move(n)));
    }
    return object;
  }

  Result<NodePtr> Primary() {
    DepthGuard guard(this);
    PS_RETURN_IF_ERROR(CheckDepth());
    if (AtEnd()) return Unexpected("an expression");
    const Token& t = t_[i_++];
    switch (t.type) {
      case TokenType::kNumber: {
        NodePtr n = Make(t.value.find('.') != std::string::npos ? NodeKind::kFloat : NodeKind::kInt, t.pos);
        n->number = JsStringToNumber(t.value);
        return n;
      }
      case TokenType::kString: {
        NodePtr n = Make(NodeKind::kString, t.pos);
        n->text = t.value;
        while (Is(TokenType::kString)) n->text += t_[i_++].value;  // 'a' 'b' is 'ab'
        return n;
      }
      case TokenType::kIdentifier: {
        NodePtr n = Make(NodeKind::kIdentifier, t.pos);
        n->text = t.value;
        return n;
      }
      case TokenType::kOpenParen: {
        PS_ASSIGN_OR_RETURN(NodePtr e, Sequence(false));
        PS_RETURN_IF_ERROR(Expect(TokenType::kCloseParen, "')'"));
        return e;
      }
      case TokenType::kOpenSquare: {
        NodePtr n = Make(NodeKind::kList, t.pos);
        while (!Is(TokenType::kCloseSquare)) {
          if (AtEnd()) return SyntaxError(t.pos, "'[' is never closed");
          PS_ASSIGN_OR_RETURN(NodePtr e, Expression());
          n->list.push_back(std::move(e));
          if (Is(TokenType::kComma)) ++i_;
        }
        ++i_;
        return Finish(std::move(n));
      }
      case TokenType::kOpenCurly: {
        NodePtr n = Make(NodeKind::kMap, t.pos);
        while (!Is(TokenType::kCloseCurly)) {
          if (AtEnd()) return SyntaxError(t.pos, "'{' is never closed");
          PS_ASSIGN_OR_RETURN(NodePtr key, Expression());
          PS_RETURN_IF_ERROR(Expect(TokenType::kColon, "':' between a key and its value"));
          PS_ASSIGN_OR_RETURN(NodePtr value, Expression());
          n->list.push_back(std::move(key));
          n->list.push_back(std::move(value));
          if (Is(TokenType::kComma)) ++i_;
        }
        ++i_;
        return Finish(std::move(n));
      }
      default: --i_; return Unexpected("an expression");
    }
  }

  const std::vector<Token>& t_;
  const int max_depth_;
  size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace

Result<NodePtr> Parse(const std::vector<Token>& tokens, int max_depth) { return Parser(tokens, max_depth).Program(); }

}  // namespace ps::jinja
