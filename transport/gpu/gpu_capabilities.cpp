#include "transport/gpu/gpu_capabilities.h"

#include <cstdio>

#include <nccl.h>

#include "worker/backend/cuda/runtime/cuda_check.h"
#include "transport/host_identity.h"

namespace ps::gpu {

namespace {

// "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", the form nvidia-smi prints.
std::string UuidText(const cudaUUID_t& uuid) {
  const auto* b = reinterpret_cast<const unsigned char*>(uuid.bytes);
  char text[64];
  std::snprintf(text, sizeof text, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return text;
}

}  // namespace

Result<pipeshard::v1::TransportCapabilities> ProbeGpuTransport(int device) {
  pipeshard::v1::TransportCapabilities caps;
  caps.set_host_id(HostId());
  PS_CUDA_CHECK(cudaSetDevice(device));
  cudaDeviceProp prop;
  PS_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  caps.set_has_cuda(true);
  caps.set_gpu_uuid(UuidText(prop.uuid));
  char bus_id[32] = {};
  PS_CUDA_CHECK(cudaDeviceGetPCIBusId(bus_id, sizeof bus_id, device));
  caps.set_pci_bus_id(bus_id);
  int version = 0;
  caps.set_nccl(ncclGetVersion(&version) == ncclSuccess && version > 0);
  // Exclusive-process or prohibited compute mode keeps a second process off the device, and IPC
  // handles need the receiving process to have a context on the sender's device.
  int mode = cudaComputeModeDefault;
  PS_CUDA_CHECK(cudaDeviceGetAttribute(&mode, cudaDevAttrComputeMode, device));
  caps.set_cuda_ipc(mode == cudaComputeModeDefault);
  return caps;
}

}  // namespace ps::gpu
