// The order workers take the stages in when a plan is made from scratch: the names the operator
// listed (`--stage-order w0,w1,w2`) first, in that order, then everyone else in the order they
// registered. Without it the order is the registration order, which races when several workers
// start at once (stage 0 could land on w1).
// Thread-safety: a pure function.
#pragma once

#include <string>
#include <vector>

#include "coordinator/cluster/worker_registry.h"

namespace ps::coord {

// Reorders `workers` (given in registration order) in place; stable.
void OrderForStages(const std::vector<std::string>& stage_order, std::vector<WorkerRecord>* workers);

}  // namespace ps::coord
