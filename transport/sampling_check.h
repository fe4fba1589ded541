// Validation of the sampler settings that come from outside: a client's GenerateRequest (the
// coordinator checks it before the request is scheduled) and a peer's SequenceStart (the frame
// check, before the last stage builds a sampler from it). One rule set, so a setting the
// coordinator lets through is never refused by a stage, where it would fail the whole
// micro-batch instead of one request.
// Thread-safety: pure function.
#pragma once

#include <string>

#include "common/util/status.h"
#include "proto/inference.pb.h"

namespace ps {

// InvalidArgument naming `field` ("sampling", "frame field starts[0].sampling"), the setting and
// its value: temperature, top_p, min_p or repeat_penalty not finite; top_p or min_p outside
// [0, 1] (the CLI's ranges); repeat_penalty below 0 (0, the wire's default, and 1 both mean
// off). top_k and penalty_last_n take any value (<= 0 is off; a negative window is the whole
// context).
Status CheckSamplingParams(const pipeshard::v1::SamplingParams& p, const std::string& field);

}  // namespace ps
