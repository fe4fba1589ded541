#include "transport/sampling_check.h"

#include <cmath>

#include "common/sampling/logprobs.h"

namespace ps {

namespace {

Status Refuse(const std::string& field, const char* name, float value, const char* why) {
  return Status::InvalidArgument(field + "." + name + " = " + std::to_string(value) + " " + why);
}

}  // namespace

Status CheckSamplingParams(const pipeshard::v1::SamplingParams& p, const std::string& field) {
  const std::pair<const char*, float> settings[] = {
      {"temperature", p.temperature()},       {"top_p", p.top_p()},
      {"min_p", p.min_p()},                   {"repeat_penalty", p.repeat_penalty()},
      {"presence_penalty", p.presence_penalty()}, {"frequency_penalty", p.frequency_penalty()}};
  for (const auto& [name, value] : settings) {
    if (!std::isfinite(value)) return Refuse(field, name, value, "is not a finite number");
  }
  for (const auto& [name, value] : {settings[1], settings[2]}) {
    if (value < 0.0f || value > 1.0f) return Refuse(field, name, value, "is outside [0, 1]");
  }
  if (p.repeat_penalty() < 0.0f) return Refuse(field, "repeat_penalty", p.repeat_penalty(), "is negative");
  if (p.top_logprobs() < 0 || p.top_logprobs() > kMaxTopLogprobs) {
    return Status::InvalidArgument(field + ".top_logprobs = " + std::to_string(p.top_logprobs()) + " is outside [0, " +
                                   std::to_string(kMaxTopLogprobs) + "]");
  }
  return Status::Ok();
}

}  // namespace ps
