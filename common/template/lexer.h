// The template lexer: the text between tags, and the tokens inside {{ }}, {% %} and {# #}.
// It reproduces @huggingface/jinja's tokenizer with the options Hugging Face renders chat templates
// with, trim_blocks and lstrip_blocks: a single trailing newline of the template is dropped, spaces
// and tabs before a block tag at the start of a line are dropped, the first newline after a block
// or comment tag is dropped, and `-` in a tag strips the whitespace on that side. Transformers'
// {% generation %} markers are removed. Every token remembers where it stood in the original text.
// Thread-safety: pure function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/template/value.h"
#include "common/util/status.h"

namespace ps::jinja {

enum class TokenType {
  kText,             // template text between tags
  kNumber,           // 12, 1.5, and -1 where a minus cannot be binary
  kString,           // a quoted literal, escapes resolved
  kIdentifier,       // names and keywords alike (if, for, in, not, true...)
  kEquals,           // =
  kOpenParen,        // (
  kCloseParen,       // )
  kOpenStatement,    // {%
  kCloseStatement,   // %}
  kOpenExpression,   // {{
  kCloseExpression,  // }}
  kOpenSquare,       // [
  kCloseSquare,      // ]
  kOpenCurly,        // {
  kCloseCurly,       // }
  kComma,
  kDot,
  kColon,
  kPipe,
  kAdditive,        // + - ~
  kMultiplicative,  // * / // %
  kPower,           // **
  kComparison,      // < > <= >= == !=
  kUnary,           // a lone + or - that cannot be binary
  kComment,         // {# ... #}
};

struct Token {
  TokenType type;
  std::string value;
  SourcePos pos;
};

// Errors are InvalidArgument naming the line:column and what was found there.
Result<std::vector<Token>> Tokenize(std::string_view source);

}  // namespace ps::jinja
