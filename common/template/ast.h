// The syntax tree of a template, with the node kinds of @huggingface/jinja's ast.ts. One node type
// with a kind tag; which fields a kind uses is listed beside it. Every node keeps its source
// position for error messages, and its depth, which the parser bounds (deep trees would exhaust
// the stack when evaluated or freed).
// Thread-safety: immutable once parsed; any number of renderings may read one tree.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/template/value.h"

namespace ps::jinja {

enum class NodeKind {
  // Statements.
  kProgram,  // body
  kIf,       // a = test, body, alt (an elif is a single kIf in alt)
  kFor,      // a = loop target (identifier or tuple), b = iterable (a kSelect for `for x in y if c`), body, alt = else
  kSet,      // a = target (identifier, tuple or member), b = value; b null: a block set, its text from body
  kMacro,    // text = name, list = parameters (identifiers or keyword arguments), body
  kCallBlock,    // {% call %}: a = call, list = caller parameters, body (parsed, not run)
  kFilterBlock,  // {% filter f %}: a = the filter (identifier or call), body
  kBreak,
  kContinue,
  kComment,
  // Expressions. Template text is a kString too.
  kString,         // text
  kInt,            // number
  kFloat,          // number
  kIdentifier,     // text
  kList,           // list
  kTuple,          // list
  kMap,            // list = key, value, key, value...
  kMember,         // a = object, b = property; flag: computed (a[b]) rather than a.b
  kSlice,          // a = start, b = stop, c = step, each may be null
  kCall,           // a = callee, list = arguments
  kFilter,         // a = operand, b = filter (identifier or call)
  kTest,           // a = operand, text = test name; flag: negated (is not)
  kUnary,          // text = operator (not, -, +), a = operand
  kBinary,         // text = operator, a = left, b = right
  kTernary,        // a = condition, b = value if true, c = value if false
  kSelect,         // `a if b` without else: a = value, b = condition
  kKeywordArg,     // text = name, a = value
  kSpread,         // *a
  kKeywordSpread,  // **a
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using NodeList = std::vector<NodePtr>;

struct Node {
  Node(NodeKind k, SourcePos p) : kind(k), pos(p) {}

  NodeKind kind;
  SourcePos pos;
  std::string text;
  double number = 0;
  bool flag = false;
  NodePtr a, b, c;
  NodeList list, body, alt;
  int depth = 1;  // 1 + the deepest child, expression or statement
};

}  // namespace ps::jinja
