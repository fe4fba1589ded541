// A Jinja template, parsed once and rendered as @huggingface/jinja (the renderer of Hugging Face's
// JavaScript libraries) renders it, with the trim_blocks and lstrip_blocks that chat templates are
// written for. It covers what chat templates use:
//   text, {{ }}, {% %}, {# #}, whitespace control with '-', {% generation %} markers (dropped);
//   if / elif / else, for (else, `for x in y if cond`, tuple targets, loop.index, index0, revindex,
//   revindex0, first, last, length, previtem, nextitem), break, continue, set (names, tuples,
//   ns.attr, block set), macro (positional, keyword and default arguments), {% filter %} blocks;
//   literals (numbers, strings, lists, tuples, mappings, true/false/none), + - * / // % ** ~,
//   comparisons, and / or / not, in / not in, `a if b else c`, subscripts, slices ([1:], [::-1]),
//   attributes, calls with keyword arguments and * / ** unpacking;
//   filters: safe, tojson (indent, ensure_ascii, separators), string, list, first, last, length,
//   reverse, sort, unique, join, trim, upper, lower, title, capitalize, indent, int, float, abs,
//   bool, default, items, keys, values, dictsort, replace, selectattr, rejectattr, map(attribute=);
//   tests: defined, undefined, none, boolean, true, false, string, number, integer, iterable,
//   mapping, sequence, callable, odd, even, lower, upper, equalto / eq (in selectattr);
//   string methods strip, lstrip, rstrip, split, startswith, endswith, upper, lower, title,
//   capitalize, replace and .length; mapping methods get, items, keys, values, dictsort;
//   globals namespace(), range(), raise_exception(), strftime_now().
// Not covered (an Unsupported error naming the construct and its line:column): {% call %} blocks,
// include / import / extends / block / raw / with, tests with arguments (`is divisibleby(3)`),
// macros using caller / varargs / kwargs, other filters and methods (list.append, str.format...),
// tojson(sort_keys=true), a {% break %} / {% continue %} leaving a macro or a block set.
// Where the reference's JavaScript shows through, it is followed, not Python's Jinja: strip('x')
// strips whitespace whatever its argument, capitalize() and title() leave other letters as they
// are, lengths and indices count UTF-16 units, none is JavaScript's undefined (none == undefined),
// a mapping joined to text with ~ or + is "[object Map]".
// Known differences from the reference, all outside what chat templates do: `**` may differ in the
// last digit (the C library's pow, not V8's); half of a UTF-16 surrogate pair ('😀'[0]) is U+FFFD,
// as node writes it; `first` / `last` of an empty list are errors (the reference's value there is
// not a template value and fails in most uses); strftime_now() names months in English.
// Thread-safety: a Template is immutable once parsed; Render may run on many threads at once.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/template/value.h"
#include "common/util/status.h"

namespace ps::jinja {

struct Node;

// Bounds on what a template may ask for; a template is input from a file.
struct TemplateLimits {
  size_t max_template_bytes = 1u << 20;
  int max_nesting = 200;                     // blocks within blocks, operands within operands
  size_t max_output_bytes = 8u << 20;        // the rendered text, and any string built on the way
  uint64_t max_loop_iterations = 1'000'000;  // all loops of one rendering together
  int max_call_depth = 64;                   // macros calling macros
  int max_eval_depth = 600;                  // nested evaluations, macro calls included: bounds the stack
  uint64_t max_work = 256'000'000;           // nodes evaluated plus bytes of strings built
};

class Template {
 public:
  // Syntax errors are InvalidArgument, constructs outside the subset Unsupported, both with the
  // line:column; a template over the size or nesting limit is ResourceExhausted.
  static Result<Template> Parse(std::string_view text, const TemplateLimits& limits = {});

  // Renders with these variables (beside the globals true, false, none, namespace, range,
  // raise_exception, strftime_now). raise_exception() and template errors are InvalidArgument,
  // unsupported constructs met on the way Unsupported, exceeded limits ResourceExhausted.
  Result<std::string> Render(std::vector<std::pair<std::string, Value>> variables) const;
  // The same with the variables of a JSON object, converted as Hugging Face's JavaScript does.
  Result<std::string> Render(const nlohmann::ordered_json& variables) const;

 private:
  Template(std::shared_ptr<const Node> root, const TemplateLimits& limits) : root_(std::move(root)), limits_(limits) {}

  std::shared_ptr<const Node> root_;
  TemplateLimits limits_;
};

}  // namespace ps::jinja
