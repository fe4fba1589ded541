#include "cli/generate_command.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/cli_error.h"
#include "cli/grpc_client.h"
#include "cli/model_loader.h"
#include "common/util/printable.h"
#include "proto/inference.grpc.pb.h"
#include "worker/stage/sequence_samplers.h"

namespace ps::cli {

CLI::App* AddGenerateCommand(CLI::App& app, GenerateArgs& args) {
  CLI::App* cmd = app.add_subcommand("generate", "generate text from a prompt on a running cluster");
  cmd->add_option("-s,--server", args.server, "the coordinator, HOST:PORT")->required();
  AddServerAccessOptions(*cmd, args.api_key, args.ca);
  cmd->add_option("-p,--prompt", args.prompt, "prompt text");
  cmd->add_option("-f,--file", args.prompt_file, "read the prompt from a file");
  cmd->add_option("-n,--n-predict", args.n_predict, "tokens to generate (-1: until end of generation)")
      ->capture_default_str();
  AddSamplingFlags(*cmd, args.sampling);
  cmd->add_option("--connect-timeout", args.connect_timeout, "seconds to wait for the connection")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--timeout", args.timeout,
                  "seconds the whole generation may take before it fails with DEADLINE_EXCEEDED (0: no limit)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_flag("--json", args.json,
                "print one JSON object (as `run --json`) instead of streaming text; on a failure midway it "
                "holds the text received so far and the error");
  return cmd;
}

namespace {

pipeshard::v1::GenerateRequest MakeRequest(const GenerateArgs& args, const std::string& prompt) {
  pipeshard::v1::GenerateRequest request;
  request.set_prompt(prompt);
  request.set_n_predict(args.n_predict);
  request.set_ignore_eos(args.sampling.ignore_eos);
  *request.mutable_sampling() = SamplingParamsToProto(args.sampling.params);
  return request;
}

double Rate(double count, double seconds) { return seconds > 0 ? count / seconds : 0.0; }

const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    default: return "INTERNAL";
  }
}

}  // namespace

int RunGenerateCommand(const GenerateArgs& args, bool prompt_given) {
  auto prompt = ReadPrompt(args.prompt, args.prompt_file, prompt_given);
  if (!prompt.ok()) return ReportError(prompt.status());
  auto channel = ConnectToServer(args.server, args.connect_timeout, args.ca);
  if (!channel.ok()) return ReportError(channel.status());
  auto stub = pipeshard::v1::Inference::NewStub(*channel);

  grpc::ClientContext context;
  AddApiKey(&context, ApiKey(args.api_key));
  if (args.timeout > 0) {
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(static_cast<int64_t>(args.timeout * 1000)));
  }
  auto reader = stub->Generate(&context, MakeRequest(args, *prompt));
  pipeshard::v1::GenerateResponse response;
  pipeshard::v1::GenerateSummary summary;
  bool have_summary = false;
  std::string text;
  bool streamed_any = false;
  while (reader->Read(&response)) {
    if (response.has_summary()) {
      summary = response.summary();
      have_summary = true;
    } else if (args.json) {
      text += response.text();
    } else {
      std::fwrite(response.text().data(), 1, response.text().size(), stdout);
      std::fflush(stdout);
      streamed_any = true;
    }
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    const Status failure = FromGrpcStatus(status, args.server);
    if (args.json) {
      // A script keeps what was generated before the failure, and learns why it stopped.
      nlohmann::json j;
      j["text"] = text;
      j["error"] = failure.message();
      j["error_code"] = StatusCodeName(status.error_code());
      std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      std::fflush(stdout);
    } else if (streamed_any) {
      std::printf("\n");  // end the partial text before the error line
    }
    return ReportError(failure);
  }
  if (!have_summary) return ReportError(Status::Internal(args.server + ": the stream ended without a summary"));

  const double prefill_tps = Rate(summary.prompt_tokens(), summary.prefill_seconds());
  const double decode_tps = Rate(summary.decode_steps(), summary.decode_seconds());
  if (args.json) {
    nlohmann::json j;
    j["text"] = text;
    j["tokens"] = std::vector<int32_t>(summary.tokens().begin(), summary.tokens().end());
    j["prompt_tokens"] = summary.prompt_tokens();
    j["prompt_chunk"] = summary.prompt_chunk();
    j["prefill_tokens_per_s"] = prefill_tps;
    j["decode_tokens_per_s"] = decode_tps;
    j["stop_reason"] = summary.stop_reason();
    j["request_id"] = summary.request_id();
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("\n");
    std::fflush(stdout);  // the text ends before the timing line on a shared terminal
    std::fprintf(stderr, "prompt: %d tokens, %.2f tok/s; generation: %d tokens, %.2f tok/s (%s, seed %u, request %s)\n",
                 summary.prompt_tokens(), prefill_tps, summary.tokens_size(), decode_tps,
                 summary.stop_reason().c_str(), summary.seed(), Printable(summary.request_id(), 80).c_str());
  }
  return kExitOk;
}

}  // namespace ps::cli
