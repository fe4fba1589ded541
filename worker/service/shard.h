// A loaded shard: the worker's GGUF file mapped read-only, the CPU backend for its layer range
// and the stage executor that runs frames through it. Loading faults in only the range's tensors,
// so resident memory grows with the share of the model this worker holds.
// Thread-safety: Enqueue/FreeSequences/stats go to the executor (any thread); immutable otherwise.
#pragma once

#include <memory>
#include <string>

#include "common/gguf/gguf_file.h"
#include "common/model/llama_config.h"
#include "proto/worker.pb.h"
#include "worker/stage/stage_executor.h"

namespace ps {

struct ShardOptions {
  int threads = 1;
  std::string name;                // the worker's name, in error frames
  std::string model_path_override; // --model: this host's copy of the file
};

class Shard {
 public:
  // Validates the request (errors name the field and value), opens the model, builds the backend
  // and the executor. The link to the next stage opens on the first frame.
  static Result<std::unique_ptr<Shard>> Load(const pipeshard::v1::LoadShardRequest& request,
                                             const ShardOptions& options);
  // Stops the executor before the file is unmapped.
  ~Shard();

  StageExecutor& executor() { return *executor_; }
  const StageExecutor& executor() const { return *executor_; }
  const LlamaConfig& config() const { return config_; }

 private:
  Shard() = default;
  std::unique_ptr<gguf::GgufFile> file_;
  LlamaConfig config_;
  std::unique_ptr<StageExecutor> executor_;
};

}  // namespace ps
