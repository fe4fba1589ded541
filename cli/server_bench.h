// `pipeshard bench --server ADDR`: the same tests as the in-process bench, run against a cluster
// through its Inference API: a prefill of about -p prompt tokens (one token generated), a decode
// of -n tokens from a short prompt, and, with --streams K, K such decodes at once (aggregate
// tokens/s). Repetitions alternate the tests; medians are reported. With --trace FILE it writes
// the cluster's micro-batch timelines over the run as a Chrome trace-event JSON (one track per
// stage plus the coordinator; open it in chrome://tracing or ui.perfetto.dev). From the same
// timelines it reports each stage's busy fraction during the last prefill and where a decode
// step's time goes (compute, the links, waiting at a stage, the coordinator's turn).
// Thread-safety: runs on the calling thread (plus one thread per concurrent stream).
#pragma once

#include <cstdint>
#include <string>

namespace ps::cli {

struct ServerBenchArgs {
  std::string server;
  std::string api_key;      // --api-key (else $PIPESHARD_API_KEY)
  std::string ca;           // --ca: TLS, trusting this CA
  int32_t prompt_tokens = 512;
  int32_t decode_tokens = 128;
  int reps = 5;
  int32_t streams = 0;      // 0: no aggregate test
  std::string trace_path;   // empty: no trace
  double timeout = 600;     // seconds one request may take
  bool json = false;
};

int RunServerBench(const ServerBenchArgs& args);

}  // namespace ps::cli
