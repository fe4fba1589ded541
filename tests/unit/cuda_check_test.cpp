// The CUDA and cuBLAS check macros turn a failed call into a Status naming the call, the file
// and line, and the library's error, with a code callers can act on; nothing aborts. The macros
// are exercised with failing error values directly, so no GPU is needed.
#include <gtest/gtest.h>

#include <string>

#include "worker/backend/cuda/cuda_status.h"
#if PIPESHARD_HAVE_CUDA
#include "worker/backend/cuda/runtime/cuda_check.h"
#endif

namespace ps::cuda {
namespace {

TEST(CudaStatus, NamesLibraryCallPlaceAndError) {
  const Status s = CallFailure("CUDA", "cudaMalloc(&p, 64)", "cudaErrorLaunchFailure", "unspecified launch failure",
                               FailureKind::kOther, "/home/ci/src/worker/backend/cuda/runtime/x.cpp", 42);
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_EQ(s.message(),
            "CUDA call cudaMalloc(&p, 64) failed at worker/backend/cuda/runtime/x.cpp:42: cudaErrorLaunchFailure "
            "(unspecified launch failure)");
}

TEST(CudaStatus, KeepsPathsOutsideTheSourceTreeAndOmitsEmptyText) {
  const Status s = CallFailure("cuBLAS", "cublasCreate(&h)", "CUBLAS_STATUS_NOT_INITIALIZED", "",
                               FailureKind::kOther, "/tmp/x.cu", 7);
  EXPECT_EQ(s.message(), "cuBLAS call cublasCreate(&h) failed at /tmp/x.cu:7: CUBLAS_STATUS_NOT_INITIALIZED");
}

TEST(CudaStatus, MapsKindsToCodes) {
  EXPECT_EQ(CallFailure("CUDA", "c", "e", "t", FailureKind::kOutOfMemory, "f", 1).code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(CallFailure("CUDA", "c", "e", "t", FailureKind::kNoDevice, "f", 1).code(), StatusCode::kUnavailable);
  EXPECT_EQ(CallFailure("CUDA", "c", "e", "t", FailureKind::kOther, "f", 1).code(), StatusCode::kInternal);
}

#if PIPESHARD_HAVE_CUDA

Status FailingCudaCall(cudaError_t error, int* line) {
  *line = __LINE__ + 1;
  PS_CUDA_CHECK(error);
  return Status::Ok();
}

Result<int> FailingCublasCall(cublasStatus_t status, int* line) {
  *line = __LINE__ + 1;
  PS_CUBLAS_CHECK(status);
  return 1;
}

TEST(CudaCheckMacro, SuccessPassesThrough) {
  int line = 0;
  EXPECT_TRUE(FailingCudaCall(cudaSuccess, &line).ok());
  EXPECT_TRUE(FailingCublasCall(CUBLAS_STATUS_SUCCESS, &line).ok());
}

TEST(CudaCheckMacro, OutOfMemoryBecomesResourceExhausted) {
  int line = 0;
  const Status s = FailingCudaCall(cudaErrorMemoryAllocation, &line);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("CUDA call error failed at"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("cuda_check_test.cpp:" + std::to_string(line)), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("cudaErrorMemoryAllocation"), std::string::npos) << s.message();
}

TEST(CudaCheckMacro, MissingDriverOrDeviceBecomesUnavailable) {
  int line = 0;
  EXPECT_EQ(FailingCudaCall(cudaErrorNoDevice, &line).code(), StatusCode::kUnavailable);
  EXPECT_EQ(FailingCudaCall(cudaErrorInsufficientDriver, &line).code(), StatusCode::kUnavailable);
  EXPECT_EQ(FailingCudaCall(cudaErrorIllegalAddress, &line).code(), StatusCode::kInternal);
}

TEST(CudaCheckMacro, CublasFailuresNameTheStatus) {
  int line = 0;
  const Result<int> r = FailingCublasCall(CUBLAS_STATUS_EXECUTION_FAILED, &line);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_NE(r.status().message().find("cuBLAS call status failed at"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("cuda_check_test.cpp:" + std::to_string(line)), std::string::npos);
  EXPECT_NE(r.status().message().find("CUBLAS_STATUS_EXECUTION_FAILED"), std::string::npos);
  EXPECT_EQ(FailingCublasCall(CUBLAS_STATUS_ALLOC_FAILED, &line).status().code(), StatusCode::kResourceExhausted);
}

#endif  // PIPESHARD_HAVE_CUDA

}  // namespace
}  // namespace ps::cuda
