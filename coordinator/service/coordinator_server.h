// The pipeshard-coordinator process: opens the model (config and tokenizer only), listens, and
// hands the cluster to the ClusterController (wait for workers, plan, load, serve, recover) until
// SIGINT or SIGTERM.
// Thread-safety: call once per process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/plan/partition_planner.h"
#include "common/util/status.h"
#include "transport/tls/link_security.h"

namespace ps::coord {

struct CoordinatorOptions {
  std::string listen;        // HOST:PORT; port 0 picks a free one
  std::string model;
  int32_t stages = 1;
  std::vector<std::string> stage_order;  // worker names in stage order for the first plan (others after)
  int32_t ubatch = 0;        // prompt chunk; 0: chosen per prompt from its length and the stages
  int32_t max_seqs = 8;
  int32_t ctx = 0;           // 0: the model's, capped at 4096
  std::string kv_type = "f16";
  int32_t queue = 64;
  double heartbeat_timeout = 3.0;  // a stage silent this long has failed
  double stage_timeout = 30.0;     // a micro-batch not back this long has failed at a stage
  plan::Workload workload;         // what the layer split is cut for
  std::string api_key_file;        // keys clients must present on the Inference service; empty: none
  bool insecure = false;           // allow a --listen other hosts can reach without TLS and keys
  TlsFiles tls;  // --tls-ca/--tls-cert/--tls-key: mutual TLS with the workers
  std::string http_listen;  // HOST:PORT of the OpenAI HTTP API; empty: none
  std::string chat_template;  // NAME (built-in) or FILE for chat completions; empty: the model's own
  std::string advertise;  // HOST[:PORT] the workers reach us at (the last stage's frames); empty: --listen's host
};

// Prints "listening on HOST:PORT" on stdout once bound. Returns OK after a clean shutdown;
// InvalidArgument-like errors for bad options or model, others for cluster failures.
Status RunCoordinator(const CoordinatorOptions& options);

}  // namespace ps::coord
