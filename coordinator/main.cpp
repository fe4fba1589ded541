// pipeshard-coordinator: parses the command line and runs the coordinator.
#include <CLI/CLI.hpp>
#include <cstdio>

#include <new>

#include "common/log/log_flags.h"
#include "common/util/version.h"
#include "coordinator/service/coordinator_server.h"
#include "transport/allocator_tuning.h"

int main(int argc, char** argv) {
  ps::TuneAllocatorForFrames();  // before any thread starts; see allocator_tuning.h
  ps::coord::CoordinatorOptions options;
  CLI::App app("pipeshard-coordinator: schedules requests over a pipeline of workers");
  app.add_option("--listen", options.listen, "HOST:PORT to serve on (port 0: any free port)")->required();
  app.add_option("-m,--model", options.model, "GGUF model file (config and tokenizer are read here)")->required();
  app.add_option("--stages", options.stages, "workers to wait for, one stage each")->capture_default_str();
  app.add_option("--stage-order", options.stage_order,
                 "worker names in stage order for the first plan (e.g. w0,w1,w2; default: the order they register)")
      ->delimiter(',');
  app.add_option("--ubatch", options.ubatch,
                 "prompt chunk in tokens (0: chosen per prompt from its length and the stage count; give the "
                 "same value to `pipeshard run --ubatch` for the same tokens)")
      ->capture_default_str();
  app.add_option("--max-seqs", options.max_seqs, "sequences (KV slots) running at once")->capture_default_str();
  app.add_option("--ctx", options.ctx, "context length (0: the model's, at most 4096)")->capture_default_str();
  app.add_option("--kv-type", options.kv_type, "KV cache element type (f16 or f32)")->capture_default_str();
  app.add_option("--queue", options.queue, "requests that may wait for a slot")->capture_default_str();
  app.add_option("--heartbeat-timeout", options.heartbeat_timeout,
                 "seconds without a heartbeat after which a stage has failed")->capture_default_str();
  app.add_option("--stage-timeout", options.stage_timeout,
                 "seconds a micro-batch may take to come back before the stage holding it has failed")
      ->capture_default_str();
  app.add_option("--workload-prompt", options.workload.prompt_tokens,
                 "expected prompt tokens per request: the layer split is cut for this workload")
      ->capture_default_str();
  app.add_option("--workload-gen", options.workload.gen_tokens, "expected generated tokens per request")
      ->capture_default_str();
  app.add_option("--workload-concurrency", options.workload.concurrency, "expected requests running at once")
      ->capture_default_str();
  app.add_option("--api-key-file", options.api_key_file,
                 "clients must send 'authorization: Bearer KEY' with a key from this file (one a line)");
  app.add_option("--http-listen", options.http_listen,
                 "HOST:PORT for the OpenAI HTTP API (/v1/completions, /v1/chat/completions, /v1/models, /health)");
  app.add_option("--chat-template", options.chat_template,
                 "chat template for /v1/chat/completions: a built-in name (llama3, chatml, mistral, ...) or a "
                 "Jinja file (default: the model's tokenizer.chat_template)");
  app.add_option("--advertise", options.advertise,
                 "HOST[:PORT] the workers reach this coordinator at, where the last stage returns its frames "
                 "(default: the --listen host; give it when listening on 0.0.0.0 with workers on other hosts)");
  app.add_option("--tls-ca", options.tls.ca, "mutual TLS with the workers: the cluster CA (`pipeshard certs init`)");
  app.add_option("--tls-cert", options.tls.cert,
                 "mutual TLS: the coordinator's certificate (`pipeshard certs issue coordinator`); clients verify it "
                 "with --ca");
  app.add_option("--tls-key", options.tls.key, "mutual TLS: its private key");
  app.add_flag("--insecure", options.insecure,
               "allow a --listen address other hosts can reach without TLS and API keys: what lacks them is then "
               "open to anyone");
  ps::log::LogFlags log_flags;
  ps::log::AddLogFlags(app, &log_flags);
  app.set_version_flag("--version", ps::VersionLine("pipeshard-coordinator"));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "pipeshard-coordinator: %s\n", e.what());
    return 2;
  }
  if (const ps::Status logs = ps::log::ApplyLogFlags("pipeshard-coordinator", log_flags); !logs.ok()) {
    std::fprintf(stderr, "pipeshard-coordinator: %s\n", logs.message().c_str());
    return 2;
  }
  ps::Status status;
  try {
    status = ps::coord::RunCoordinator(options);
  } catch (const std::bad_alloc&) {
    status = ps::Status::ResourceExhausted("out of memory");
  }
  if (status.ok()) return 0;
  ps::log::Error(status.ToString());
  return status.IsBadInput() ? 2 : 1;
}
