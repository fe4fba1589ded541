#include "worker/backend/cuda/runtime/device_resources.h"

#include <string>

#include "worker/backend/cuda/runtime/cuda_check.h"

namespace ps::cuda {

Result<DeviceBuffer> DeviceBuffer::Allocate(size_t bytes) {
  DeviceBuffer buffer;
  if (bytes == 0) return buffer;
  const cudaError_t error = cudaMalloc(&buffer.ptr_, bytes);
  if (error != cudaSuccess) {
    buffer.ptr_ = nullptr;
    return CudaFailure(error, ("cudaMalloc of " + std::to_string(bytes) + " bytes").c_str(), __FILE__, __LINE__);
  }
  buffer.bytes_ = bytes;
  return buffer;
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    Release();
    ptr_ = std::exchange(other.ptr_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::Release() {
  if (ptr_ != nullptr) static_cast<void>(cudaFree(ptr_));
  ptr_ = nullptr;
  bytes_ = 0;
}

Status EnsureCapacity(DeviceBuffer& buffer, size_t bytes) {
  if (buffer.bytes() >= bytes) return Status::Ok();
  buffer = DeviceBuffer();  // free first so the old and new blocks need not fit together
  PS_ASSIGN_OR_RETURN(buffer, DeviceBuffer::Allocate(bytes));
  return Status::Ok();
}

Result<Stream> Stream::Create() {
  Stream s;
  PS_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream_, cudaStreamNonBlocking));
  return s;
}

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    if (stream_ != nullptr) static_cast<void>(cudaStreamDestroy(stream_));
    stream_ = std::exchange(other.stream_, nullptr);
  }
  return *this;
}

Stream::~Stream() {
  if (stream_ != nullptr) static_cast<void>(cudaStreamDestroy(stream_));
}

Result<CublasHandle> CublasHandle::Create(cudaStream_t stream) {
  CublasHandle h;
  PS_CUBLAS_CHECK(cublasCreate(&h.handle_));
  PS_CUBLAS_CHECK(cublasSetStream(h.handle_, stream));
  return h;
}

CublasHandle& CublasHandle::operator=(CublasHandle&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) static_cast<void>(cublasDestroy(handle_));
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

CublasHandle::~CublasHandle() {
  if (handle_ != nullptr) static_cast<void>(cublasDestroy(handle_));
}

}  // namespace ps::cuda
