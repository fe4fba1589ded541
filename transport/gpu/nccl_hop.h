// One NCCL hop's communicator: two ranks, the sending stage (rank 0, which creates the unique id
// at load time) and the receiving stage (rank 1, which gets the id through the coordinator). A
// communicator per hop, not one for the pipeline, because a stage sends and receives on two
// different threads and an NCCL communicator must not be used from two threads at once; and a
// broken hop then breaks nothing else. The communicator is non-blocking: LoadShard starts the
// initialisation and returns (the peer may not be loaded yet), and the first send or receive
// waits for it, so a peer that never comes is an error after a timeout rather than a hang.
// Thread-safety: none; one thread at a time (the hop's sender or its receiver).
#pragma once

#include <memory>
#include <string>

#include <cuda_runtime.h>
#include <nccl.h>

#include "common/util/status.h"

namespace ps::gpu {

class NcclHop {
 public:
  // Rank 0 on `device`: creates the unique id (written to `unique_id`, NCCL_UNIQUE_ID_BYTES) and
  // starts joining.
  static Result<std::unique_ptr<NcclHop>> CreateAsSender(int device, std::string* unique_id);
  // Rank 1 on `device` with the sender's id (already checked by CheckHopSetup).
  static Result<std::unique_ptr<NcclHop>> JoinAsReceiver(int device, const std::string& unique_id);
  ~NcclHop();  // aborts the communicator: operations still pending are the dead hop's
  NcclHop(const NcclHop&) = delete;
  NcclHop& operator=(const NcclHop&) = delete;

  // Waits until the communicator is initialised (both ranks joined), up to `timeout_seconds`.
  Status WaitReady(double timeout_seconds);
  // A non-blocking communicator may answer ncclInProgress: waits for the outcome of `result`,
  // then turns a failure into a Status naming `call`, `file` and `line`.
  Status Settle(ncclResult_t result, const char* call, const char* file, int line);
  // Waits for `event` while watching the communicator, so that a dead peer is an error after
  // `timeout_seconds` instead of a stream that never completes.
  Status WaitEvent(cudaEvent_t event, double timeout_seconds, const char* what);

  ncclComm_t comm() const { return comm_; }
  int device() const { return device_; }
  int peer() const { return peer_; }

 private:
  NcclHop(int device, int peer) : device_(device), peer_(peer) {}
  static Result<std::unique_ptr<NcclHop>> Join(int device, int rank, const ncclUniqueId& id);

  const int device_;
  const int peer_;  // the other rank
  ncclComm_t comm_ = nullptr;
  bool ready_ = false;
};

}  // namespace ps::gpu

// For calls on a hop's communicator: PS_NCCL_HOP_CHECK(hop, ncclSend(...)).
#define PS_NCCL_HOP_CHECK(hop, call) PS_RETURN_IF_ERROR((hop).Settle((call), #call, __FILE__, __LINE__))
