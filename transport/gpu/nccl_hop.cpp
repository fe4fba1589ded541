#include "transport/gpu/nccl_hop.h"

#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "worker/backend/cuda/runtime/cuda_check.h"
#include "transport/hop_setup_check.h"
#include "transport/gpu/nccl_check.h"

namespace ps::gpu {

static_assert(NCCL_UNIQUE_ID_BYTES == kNcclUniqueIdBytes, "hop_setup_check.h's NCCL id size differs from nccl.h");

namespace {

constexpr auto kPoll = std::chrono::microseconds(50);

bool Expired(std::chrono::steady_clock::time_point start, double timeout_seconds) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > timeout_seconds;
}

}  // namespace

Result<std::unique_ptr<NcclHop>> NcclHop::Join(int device, int rank, const ncclUniqueId& id) {
  std::unique_ptr<NcclHop> hop(new NcclHop(device, rank == kNcclSenderRank ? kNcclReceiverRank : kNcclSenderRank));
  PS_CUDA_CHECK(cudaSetDevice(device));
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  const ncclResult_t started = ncclCommInitRankConfig(&hop->comm_, kNcclHopRanks, id, rank, &config);
  if (started != ncclSuccess && started != ncclInProgress) {
    return NcclFailure(started, "ncclCommInitRankConfig", __FILE__, __LINE__);
  }
  return hop;
}

Result<std::unique_ptr<NcclHop>> NcclHop::CreateAsSender(int device, std::string* unique_id) {
  ncclUniqueId id;
  PS_NCCL_CHECK(ncclGetUniqueId(&id));
  unique_id->assign(id.internal, NCCL_UNIQUE_ID_BYTES);
  return Join(device, kNcclSenderRank, id);
}

Result<std::unique_ptr<NcclHop>> NcclHop::JoinAsReceiver(int device, const std::string& unique_id) {
  PS_RETURN_IF_ERROR(CheckNcclUniqueId(unique_id, "NCCL unique id"));
  ncclUniqueId id;
  std::memcpy(id.internal, unique_id.data(), NCCL_UNIQUE_ID_BYTES);
  return Join(device, kNcclReceiverRank, id);
}

NcclHop::~NcclHop() {
  if (comm_ != nullptr) (void)ncclCommAbort(comm_);
}

Status NcclHop::WaitReady(double timeout_seconds) {
  if (ready_) return Status::Ok();
  const auto start = std::chrono::steady_clock::now();
  ncclResult_t state = ncclInProgress;
  while (true) {
    PS_NCCL_CHECK(ncclCommGetAsyncError(comm_, &state));
    if (state != ncclInProgress) break;
    if (Expired(start, timeout_seconds)) {
      return Status::Unavailable("NCCL hop to rank " + std::to_string(peer_) + ": the peer did not join within " +
                                 std::to_string(timeout_seconds) + " s");
    }
    std::this_thread::sleep_for(kPoll);
  }
  if (state != ncclSuccess) return NcclFailure(state, "ncclCommInitRankConfig (asynchronous)", __FILE__, __LINE__);
  ready_ = true;
  return Status::Ok();
}

Status NcclHop::Settle(ncclResult_t result, const char* call, const char* file, int line) {
  while (result == ncclInProgress) {
    std::this_thread::sleep_for(kPoll);
    const ncclResult_t polled = ncclCommGetAsyncError(comm_, &result);
    if (polled != ncclSuccess) return NcclFailure(polled, "ncclCommGetAsyncError", file, line);
  }
  if (result != ncclSuccess) return NcclFailure(result, call, file, line);
  return Status::Ok();
}

Status NcclHop::WaitEvent(cudaEvent_t event, double timeout_seconds, const char* what) {
  const auto start = std::chrono::steady_clock::now();
  while (true) {
    const cudaError_t done = cudaEventQuery(event);
    if (done == cudaSuccess) return Status::Ok();
    if (done != cudaErrorNotReady) return cuda::CudaFailure(done, "cudaEventQuery", __FILE__, __LINE__);
    ncclResult_t async = ncclSuccess;
    PS_NCCL_CHECK(ncclCommGetAsyncError(comm_, &async));
    if (async != ncclSuccess && async != ncclInProgress) {
      return NcclFailure(async, "ncclCommGetAsyncError", __FILE__, __LINE__);
    }
    if (Expired(start, timeout_seconds)) {
      return Status::Unavailable(std::string(what) + " did not complete within " + std::to_string(timeout_seconds) +
                                 " s (the NCCL peer, rank " + std::to_string(peer_) + ", is not progressing)");
    }
    std::this_thread::sleep_for(kPoll);
  }
}

}  // namespace ps::gpu
