// The template parser: tokens to a syntax tree, with @huggingface/jinja's grammar and operator
// precedence (src/parser.ts), so that a template means here what it means there. Syntax errors are
// InvalidArgument; statements Jinja has but the reference does not (include, extends, block, raw,
// with...) are Unsupported; both name the construct and its line:column.
// Thread-safety: pure function.
#pragma once

#include <vector>

#include "common/template/ast.h"
#include "common/template/lexer.h"
#include "common/util/status.h"

namespace ps::jinja {

// `max_depth` bounds the nesting of the tree (blocks in blocks, operands of operands): a template
// comes from a file, and a deep one would exhaust the stack.
Result<NodePtr> Parse(const std::vector<Token>& tokens, int max_depth);

}  // namespace ps::jinja
