// The check macro for NCCL calls: a failure returns a ps::Status from the enclosing function
// naming the call, file and line and NCCL's error (like PS_CUDA_CHECK for the runtime).
// Thread-safety: stateless.
#pragma once

#include <nccl.h>

#include "worker/backend/cuda/cuda_status.h"

namespace ps::gpu {

inline const char* NcclResultName(ncclResult_t result) {
  switch (result) {
    case ncclSuccess: return "ncclSuccess";
    case ncclUnhandledCudaError: return "ncclUnhandledCudaError";
    case ncclSystemError: return "ncclSystemError";
    case ncclInternalError: return "ncclInternalError";
    case ncclInvalidArgument: return "ncclInvalidArgument";
    case ncclInvalidUsage: return "ncclInvalidUsage";
    case ncclRemoteError: return "ncclRemoteError";
    case ncclInProgress: return "ncclInProgress";
    default: return "ncclResult_t(unknown)";
  }
}

inline Status NcclFailure(ncclResult_t result, const char* call, const char* file, int line) {
  // A peer that went away shows as a remote or system error: the hop is down, not our bug.
  const cuda::FailureKind kind = cuda::FailureKind::kOther;
  Status s = cuda::CallFailure("NCCL", call, NcclResultName(result), ncclGetErrorString(result), kind, file, line);
  if (result == ncclRemoteError || result == ncclSystemError) return Status::Unavailable(s.message());
  return s;
}

}  // namespace ps::gpu

#define PS_NCCL_CHECK(call)                                                        \
  do {                                                                             \
    const ncclResult_t ps_nccl_result_ = (call);                                   \
    if (ps_nccl_result_ != ncclSuccess) {                                          \
      return ::ps::gpu::NcclFailure(ps_nccl_result_, #call, __FILE__, __LINE__);   \
    }                                                                              \
  } while (0)
