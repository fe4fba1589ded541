#include "common/template/template.h"

#include "common/template/ast.h"
#include "common/template/interpreter.h"
#include "common/template/lexer.h"
#include "common/template/parser.h"

namespace ps::jinja {

Result<Template> Template::Parse(std::string_view text, const TemplateLimits& limits) {
  if (text.size() > limits.max_template_bytes) {
    return Status::ResourceExhausted("template of " + std::to_string(text.size()) + " bytes is larger than the " +
                                     std::to_string(limits.max_template_bytes) + " allowed");
  }
  PS_ASSIGN_OR_RETURN(const std::vector<Token> tokens, Tokenize(text));
  PS_ASSIGN_OR_RETURN(NodePtr root, jinja::Parse(tokens, limits.max_nesting));
  return Template(std::shared_ptr<const Node>(std::move(root)), limits);
}

Result<std::string> Template::Render(std::vector<std::pair<std::string, Value>> variables) const {
  RenderLimits r;
  r.max_output_bytes = limits_.max_output_bytes;
  r.max_loop_iterations = limits_.max_loop_iterations;
  r.max_call_depth = limits_.max_call_depth;
  r.max_eval_depth = limits_.max_eval_depth;
  r.max_work = limits_.max_work;
  Interpreter interpreter(r);
  return interpreter.Run(*root_, std::move(variables));
}

Result<std::string> Template::Render(const nlohmann::ordered_json& variables) const {
  if (!variables.is_object()) return Status::InvalidArgument("template variables must be a JSON object");
  std::vector<std::pair<std::string, Value>> vars;
  for (const auto& [key, value] : variables.items()) vars.emplace_back(key, Value::FromJson(value));
  return Render(std::move(vars));
}

}  // namespace ps::jinja
