#include "coordinator/service/http/openai_request.h"

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "common/sampling/logprobs.h"
#include "common/sampling/sampler.h"

namespace ps::coord::http {

namespace {

using nlohmann::json;

// Reads one optional field; every error names it.
class Fields {
 public:
  Fields(const json& body, std::string* param) : body_(body), param_(param) {}

  bool Has(const char* name) const { return body_.contains(name) && !body_[name].is_null(); }

  Status Number(const char* name, double low, double high, float* out) {
    if (!Has(name)) return Status::Ok();
    const json& v = body_[name];
    if (!v.is_number()) return Bad(name, "must be a number");
    const double d = v.get<double>();
    if (!std::isfinite(d) || d < low || d > high) {
      return Bad(name, "= " + v.dump() + " is outside [" + Text(low) + ", " + Text(high) + "]");
    }
    *out = static_cast<float>(d);
    return Status::Ok();
  }

  Status Integer(const char* name, int64_t low, int64_t high, int64_t* out) {
    if (!Has(name)) return Status::Ok();
    const json& v = body_[name];
    if (!v.is_number_integer()) return Bad(name, "must be an integer");
    // Compared as a double too: an unsigned value above int64's range must not wrap.
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(high)) {
      return Bad(name, "= " + v.dump() + " is outside [" + std::to_string(low) + ", " + std::to_string(high) + "]");
    }
    const int64_t i = v.get<int64_t>();
    if (i < low || i > high) {
      return Bad(name, "= " + v.dump() + " is outside [" + std::to_string(low) + ", " + std::to_string(high) + "]");
    }
    *out = i;
    return Status::Ok();
  }

  Status Bool(const char* name, bool* out) {
    if (!Has(name)) return Status::Ok();
    if (!body_[name].is_boolean()) return Bad(name, "must be true or false");
    *out = body_[name].get<bool>();
    return Status::Ok();
  }

  Status Bad(const std::string& name, const std::string& why) {
    *param_ = name;
    return Status::InvalidArgument("'" + name + "' " + why);
  }
  Status NotYet(const std::string& name, const std::string& why) {
    *param_ = name;
    return Status::Unsupported("'" + name + "': " + why);
  }

 private:
  static std::string Text(double d) {
    json j = d;
    return j.dump();
  }
  const json& body_;
  std::string* param_;
};

// A message's content: a string, or a list of {"type": "text", "text": ...} parts.
Status ReadContent(const json& content, const std::string& where, Fields& fields, std::string* out) {
  if (content.is_string()) {
    *out = content.get<std::string>();
    return Status::Ok();
  }
  if (content.is_null()) return Status::Ok();
  if (!content.is_array()) return fields.Bad(where, "must be a string or a list of text parts");
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
      return fields.Bad(at, "must be an object with a 'type'");
    }
    if (part["type"] != "text") {
      return fields.NotYet(at + ".type", "only text parts are supported, got " + part["type"].dump());
    }
    if (!part.contains("text") || !part["text"].is_string()) return fields.Bad(at + ".text", "must be a string");
    *out += part["text"].get<std::string>();
  }
  return Status::Ok();
}

}  // namespace

Result<OpenAiRequest> ParseOpenAiRequest(std::string_view text, bool chat, std::string* param) {
  param->clear();
  json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return Status::InvalidArgument("the request body is not valid JSON");
  if (!body.is_object()) return Status::InvalidArgument("the request body must be a JSON object");
  Fields fields(body, param);
  OpenAiRequest r;
  r.chat = chat;
  if (fields.Has("model")) {
    if (!body["model"].is_string()) return fields.Bad("model", "must be a string");
    r.model = body["model"].get<std::string>();
  }
  if (chat) {
    if (!fields.Has("messages") || !body["messages"].is_array() || body["messages"].empty()) {
      return fields.Bad("messages", "must be a non-empty list of {role, content}");
    }
    const json& messages = body["messages"];
    for (size_t i = 0; i < messages.size(); ++i) {
      const std::string at = "messages[" + std::to_string(i) + "]";
      const json& m = messages[i];
      if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
        return fields.Bad(at + ".role", "must be a string");
      }
      ChatMessage message;
      message.role = m["role"].get<std::string>();
      if (m.contains("content")) PS_RETURN_IF_ERROR(ReadContent(m["content"], at + ".content", fields, &message.content));
      r.messages.push_back(std::move(message));
    }
  } else {
    if (!fields.Has("prompt")) return fields.Bad("prompt", "is required");
    const json& prompt = body["prompt"];
    if (prompt.is_string()) {
      r.prompt = prompt.get<std::string>();
    } else if (prompt.is_array() && prompt.size() == 1 && prompt[0].is_string()) {
      r.prompt = prompt[0].get<std::string>();
    } else if (prompt.is_array() && !prompt.empty() && prompt[0].is_string()) {
      return fields.NotYet("prompt", "one prompt per request (a list of " + std::to_string(prompt.size()) +
                                         " prompts would need n > 1 choices)");
    } else {
      return fields.Bad("prompt", "must be a string");
    }
  }

  int64_t integer = -1;
  // max_completion_tokens is the newer name of max_tokens in OpenAI's chat API.
  for (const char* name : {"max_tokens", "max_completion_tokens", "n_predict"}) {
    if (!fields.Has(name)) continue;
    PS_RETURN_IF_ERROR(fields.Integer(name, -1, std::numeric_limits<int32_t>::max(), &integer));
    r.max_tokens = static_cast<int32_t>(integer);
  }
  integer = 1;
  PS_RETURN_IF_ERROR(fields.Integer("n", 1, 1, &integer));

  // llama.cpp's defaults, as `pipeshard run` uses them.
  const SamplingParams defaults;
  float temperature = defaults.temperature, top_p = defaults.top_p, min_p = defaults.min_p;
  float repeat_penalty = defaults.repeat_penalty;
  PS_RETURN_IF_ERROR(fields.Number("temperature", 0, 1e6, &temperature));
  PS_RETURN_IF_ERROR(fields.Number("top_p", 0, 1, &top_p));
  PS_RETURN_IF_ERROR(fields.Number("min_p", 0, 1, &min_p));
  PS_RETURN_IF_ERROR(fields.Number("repeat_penalty", 0, 1e6, &repeat_penalty));
  int64_t top_k = defaults.top_k, last_n = defaults.penalty_last_n, seed = -1;
  PS_RETURN_IF_ERROR(fields.Integer("top_k", 0, std::numeric_limits<int32_t>::max(), &top_k));
  PS_RETURN_IF_ERROR(fields.Integer("repeat_last_n", -1, std::numeric_limits<int32_t>::max(), &last_n));
  PS_RETURN_IF_ERROR(fields.Integer("seed", -1, 0xFFFFFFFEll, &seed));
  r.sampling.set_temperature(temperature);
  r.sampling.set_top_p(top_p);
  r.sampling.set_min_p(min_p);
  r.sampling.set_repeat_penalty(repeat_penalty);
  r.sampling.set_top_k(static_cast<int32_t>(top_k));
  r.sampling.set_penalty_last_n(static_cast<int32_t>(last_n));
  r.sampling.set_seed(seed < 0 ? 0xFFFFFFFFu : static_cast<uint32_t>(seed));
  PS_RETURN_IF_ERROR(fields.Bool("ignore_eos", &r.ignore_eos));

  // OpenAI's range for both.
  float presence = 0, frequency = 0;
  PS_RETURN_IF_ERROR(fields.Number("presence_penalty", -2, 2, &presence));
  PS_RETURN_IF_ERROR(fields.Number("frequency_penalty", -2, 2, &frequency));
  r.sampling.set_presence_penalty(presence);
  r.sampling.set_frequency_penalty(frequency);
  // Chat: `logprobs` true, with `top_logprobs` alternatives (0..20). Legacy completions:
  // `logprobs` N, the chosen token's log-probability and N alternatives.
  if (chat) {
    bool logprobs = false;
    PS_RETURN_IF_ERROR(fields.Bool("logprobs", &logprobs));
    int64_t top = 0;
    PS_RETURN_IF_ERROR(fields.Integer("top_logprobs", 0, kMaxTopLogprobs, &top));
    if (top > 0 && !logprobs) return fields.Bad("top_logprobs", "needs \"logprobs\": true");
    r.sampling.set_logprobs(logprobs);
    r.sampling.set_top_logprobs(static_cast<int32_t>(top));
  } else if (fields.Has("logprobs") && body["logprobs"].is_boolean()) {
    r.sampling.set_logprobs(body["logprobs"].get<bool>());  // lenient: chat's form, no alternatives
  } else if (fields.Has("logprobs")) {
    int64_t top = 0;
    PS_RETURN_IF_ERROR(fields.Integer("logprobs", 0, kMaxTopLogprobs, &top));
    r.sampling.set_logprobs(true);
    r.sampling.set_top_logprobs(static_cast<int32_t>(top));
  }

  if (fields.Has("stop")) {
    const json& stop = body["stop"];
    if (stop.is_string()) {
      r.stop.push_back(stop.get<std::string>());
    } else if (stop.is_array()) {
      for (size_t i = 0; i < stop.size(); ++i) {
        if (!stop[i].is_string()) return fields.Bad("stop[" + std::to_string(i) + "]", "must be a string");
        r.stop.push_back(stop[i].get<std::string>());
      }
    } else {
      return fields.Bad("stop", "must be a string or a list of strings");
    }
    if (r.stop.size() > kMaxStopStrings) {
      return fields.Bad("stop", "has " + std::to_string(r.stop.size()) + " strings, more than " +
                                    std::to_string(kMaxStopStrings));
    }
    for (size_t i = 0; i < r.stop.size(); ++i) {
      if (r.stop[i].size() > kMaxStopBytes) {
        return fields.Bad("stop[" + std::to_string(i) + "]", "is longer than " + std::to_string(kMaxStopBytes) + " bytes");
      }
    }
  }
  PS_RETURN_IF_ERROR(fields.Bool("stream", &r.stream));
  if (fields.Has("stream_options")) {
    const json& options = body["stream_options"];
    if (!options.is_object()) return fields.Bad("stream_options", "must be an object");
    if (options.contains("include_usage") && !options["include_usage"].is_null()) {
      if (!options["include_usage"].is_boolean()) return fields.Bad("stream_options.include_usage", "must be true or false");
      r.include_usage = options["include_usage"].get<bool>();
    }
  }
  return r;
}

}  // namespace ps::coord::http
