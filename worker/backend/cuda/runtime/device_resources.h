// Owners of device resources: a block of device memory, a stream, a cuBLAS handle. Move-only;
// each frees its resource when destroyed (errors on release are ignored: a failing release
// means the context is already broken, and the next checked call reports it).
// Thread-safety: none; a backend owns its resources and uses them from one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "common/util/status.h"

namespace ps::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // ResourceExhausted naming the size when the device is out of memory. bytes == 0 gives an
  // empty buffer.
  static Result<DeviceBuffer> Allocate(size_t bytes);
  DeviceBuffer(DeviceBuffer&& other) noexcept { *this = std::move(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { Release(); }

  size_t bytes() const { return bytes_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void Release();
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Grows `buffer` to at least `bytes` (contents are not kept).
Status EnsureCapacity(DeviceBuffer& buffer, size_t bytes);

class Stream {
 public:
  Stream() = default;
  static Result<Stream> Create();
  Stream(Stream&& other) noexcept : stream_(std::exchange(other.stream_, nullptr)) {}
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream();
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

class CublasHandle {
 public:
  CublasHandle() = default;
  // A handle whose calls run on `stream`.
  static Result<CublasHandle> Create(cudaStream_t stream);
  CublasHandle(CublasHandle&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  CublasHandle& operator=(CublasHandle&& other) noexcept;
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  ~CublasHandle();
  cublasHandle_t get() const { return handle_; }

 private:
  cublasHandle_t handle_ = nullptr;
};

}  // namespace ps::cuda
