// The coordinator's part of the GPU transports: picks each hop's transport from what the workers
// reported, writes it into every stage's LoadShardRequest, and relays what a sending stage
// created at load time (its NCCL unique id, its CUDA IPC ring) to the receiving stage. Stages are
// loaded in order, so stage i's response is at hand when stage i+1's request is written.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "common/plan/transport_choice.h"
#include "common/util/status.h"
#include "coordinator/cluster/worker_registry.h"
#include "proto/worker.pb.h"

namespace ps::coord {

// A worker's report as the transport choice sees it.
plan::StageEndpoint EndpointOf(const WorkerRecord& worker);

// Fills stage `stage`'s next/prev transport fields from `hops` (plan::ChooseTransports over the
// stages). `previous` is stage-1's LoadShardResponse (ignored for stage 0): its NCCL unique id
// or CUDA IPC ring goes to this stage. Errors (Internal) when the previous stage did not
// return what its hop needs, naming the stage and field.
Status SetHopFields(const std::vector<plan::HopChoice>& hops, size_t stage,
                    const pipeshard::v1::LoadShardResponse& previous, pipeshard::v1::LoadShardRequest* request);

}  // namespace ps::coord
