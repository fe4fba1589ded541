// A loaded shard: the worker's GGUF file mapped read-only, the backend for its layer range on the
// worker's device (CPU, or CUDA through CreateCudaBackend), the stage executor that runs frames
// through it, and the stage's hops (stage_links.h). On the CPU, loading faults in only the range's
// tensors, so resident memory grows with the share of the model this worker holds; a CUDA stage
// uploads them to the device instead. When the previous hop is a GPU hop, frames pass a
// DevicePayloadReceiver (which brings their activations across) before the executor. Frees go
// straight to the executor: the coordinator frees a sequence only once none of its rows is in
// flight, so none of its frames can still wait in the receiver.
// Thread-safety: OnFrame, executor() calls and link_error may come from any thread; immutable
// otherwise.
#pragma once

#include <memory>
#include <string>

#include "common/gguf/gguf_file.h"
#include "common/model/llama_config.h"
#include "proto/worker.pb.h"
#include "common/plan/hardware_catalog.h"
#include "worker/backend/cuda/device_spec.h"
#include "worker/service/stage_links.h"
#include "worker/stage/stage_executor.h"
#include "transport/device_payload_receiver.h"

namespace ps {

struct ShardOptions {
  int threads = 1;
  std::string name;                // the worker's name, in error frames
  std::string model_path_override; // --model: this host's copy of the file
  DeviceSpec device;               // --device: cpu, cuda:N or sim:NAME
  plan::DeviceProfile sim_profile; // with sim:NAME, the catalog device it emulates
  std::shared_ptr<const LinkSecurity> security;  // how the hop to the next stage is secured
};

// Why a load failed, for the answer's gRPC code: the request or the model file (the caller's
// input), or this worker's device (it cannot host the stage: no CUDA in this build, no driver,
// out of device memory, a tensor type its kernels cannot read, a hop it cannot carry).
enum class LoadFailure { kRequest, kDevice };

class Shard {
 public:
  // Validates the request (errors name the field and value), opens the model, builds the backend
  // and the executor, and sets up the stage's hops: a GPU hop to the next stage writes what that
  // stage needs (NCCL unique id, CUDA IPC ring) into `response`. The link to the next stage opens
  // on the first frame. On error `failure` (if given) says whose the fault is.
  // `previous` (may be null) is the shard loaded so far: when it holds the same file, layer range,
  // context, sequences and KV type, its weights are kept (a re-plan that left this range alone
  // costs no reload): its executor and hops are stopped, every cache is emptied, and only the
  // hops and the executor are new (response->kept_weights). Otherwise it is destroyed before the
  // new file is mapped.
  static Result<std::unique_ptr<Shard>> Load(const pipeshard::v1::LoadShardRequest& request,
                                             const ShardOptions& options, pipeshard::v1::LoadShardResponse* response,
                                             LoadFailure* failure = nullptr, std::unique_ptr<Shard> previous = nullptr);
  // Stops the receiver, then the executor, then the hops, before the file is unmapped.
  ~Shard();

  // A frame from the Stage service: through the receiver when the previous hop is a GPU hop,
  // straight to the executor otherwise. Never blocks.
  void OnFrame(pipeshard::v1::Frame&& frame);
  // The incoming GPU hop's first failure; empty while healthy or when that hop is gRPC.
  std::string link_error() const;

  StageExecutor& executor() { return *executor_; }
  const StageExecutor& executor() const { return *executor_; }
  const LlamaConfig& config() const { return config_; }

 private:
  Shard() = default;
  // What decides whether a later LoadShard can keep this shard's weights.
  struct Identity {
    std::string path;
    int32_t first_layer = 0;
    int32_t last_layer = 0;
    int32_t n_ctx = 0;
    int32_t max_seqs = 0;
    std::string kv_type;
    bool operator==(const Identity&) const = default;
  };
  Identity identity_;
  // Declared in dependency order, so they are destroyed receiver first, file last.
  std::unique_ptr<gguf::GgufFile> file_;
  LlamaConfig config_;
  std::unique_ptr<StageLinks> links_;
  std::unique_ptr<StageExecutor> executor_;
  std::unique_ptr<DevicePayloadReceiver> receiver_;  // null unless the previous hop is a GPU hop
};

}  // namespace ps
