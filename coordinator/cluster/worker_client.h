// The coordinator's calls to one worker's Worker service: LoadShard (blocking, for start-up) and
// FreeSequence (asynchronous, so the pipeline thread never waits on the network).
// Thread-safety: every method may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/util/status.h"
#include "proto/worker.grpc.pb.h"
#include "transport/tls/link_security.h"

namespace ps::coord {

class WorkerClient {
 public:
  // `worker_name`: with TLS the worker at `address` must prove that worker's identity.
  WorkerClient(const std::string& address, const std::string& worker_name,
               const std::shared_ptr<const LinkSecurity>& security);

  // Blocks until the worker answers, `timeout_seconds` pass, or `give_up` (asked every 200 ms)
  // says the wait is pointless (the worker stopped heartbeating, the coordinator stops): then the
  // call is cancelled and Unavailable returned.
  Result<pipeshard::v1::LoadShardResponse> LoadShard(const pipeshard::v1::LoadShardRequest& request,
                                                     double timeout_seconds,
                                                     const std::function<std::string()>& give_up = nullptr);
  // `done` runs on a gRPC thread with the call's outcome.
  void FreeSequenceAsync(std::vector<int32_t> seq_ids, uint64_t epoch, double timeout_seconds,
                         std::function<void(Status)> done);

  const std::string& address() const { return address_; }

 private:
  std::string address_;
  std::unique_ptr<pipeshard::v1::Worker::Stub> stub_;
};

}  // namespace ps::coord
