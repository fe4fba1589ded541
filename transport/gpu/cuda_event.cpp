#include "transport/gpu/cuda_event.h"

#include <chrono>
#include <string>
#include <thread>

#include "worker/backend/cuda/runtime/cuda_check.h"

namespace ps::gpu {

Result<Event> Event::Create(bool interprocess) {
  Event e;
  const unsigned flags = cudaEventDisableTiming | (interprocess ? cudaEventInterprocess : 0u);
  PS_CUDA_CHECK(cudaEventCreateWithFlags(&e.event_, flags));
  return e;
}

Result<Event> Event::Open(const cudaIpcEventHandle_t& handle) {
  Event e;
  PS_CUDA_CHECK(cudaIpcOpenEventHandle(&e.event_, handle));
  return e;
}

Event& Event::operator=(Event&& other) noexcept {
  if (this != &other) {
    if (event_ != nullptr) (void)cudaEventDestroy(event_);
    event_ = std::exchange(other.event_, nullptr);
  }
  return *this;
}

Event::~Event() {
  if (event_ != nullptr) (void)cudaEventDestroy(event_);
}

Status WaitEvent(cudaEvent_t event, double timeout_seconds, const char* what) {
  const auto start = std::chrono::steady_clock::now();
  while (true) {
    const cudaError_t done = cudaEventQuery(event);
    if (done == cudaSuccess) return Status::Ok();
    if (done != cudaErrorNotReady) return cuda::CudaFailure(done, "cudaEventQuery", __FILE__, __LINE__);
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > timeout_seconds) {
      return Status::Unavailable(std::string(what) + " did not complete within " + std::to_string(timeout_seconds) +
                                 " s (is the peer stage alive?)");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

}  // namespace ps::gpu
