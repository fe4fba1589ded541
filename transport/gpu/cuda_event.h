// An owned CUDA event, and a bounded wait on one: the GPU transports wait for copies and
// transfers that depend on another process, and a peer that died must become an error after a
// timeout, never a hang (cudaEventSynchronize would wait forever).
// Thread-safety: none; one owner.
#pragma once

#include <utility>

#include <cuda_runtime.h>

#include "common/util/status.h"

namespace ps::gpu {

// How long a GPU-hop transfer may wait for the peer before the hop counts as broken.
inline constexpr double kGpuHopTimeoutSeconds = 60.0;

class Event {
 public:
  Event() = default;
  // cudaEventDisableTiming, plus cudaEventInterprocess when another process will open it.
  static Result<Event> Create(bool interprocess);
  // An event another process exported (cudaIpcOpenEventHandle); destroyed like an own one.
  static Result<Event> Open(const cudaIpcEventHandle_t& handle);
  Event(Event&& other) noexcept : event_(std::exchange(other.event_, nullptr)) {}
  Event& operator=(Event&& other) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event();
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// Polls `event` until it completed; Unavailable naming `what` after `timeout_seconds`.
Status WaitEvent(cudaEvent_t event, double timeout_seconds, const char* what);

}  // namespace ps::gpu
