#include "cli/status_command.h"

#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "cli/cli_error.h"
#include "cli/grpc_client.h"
#include "proto/inference.grpc.pb.h"

namespace ps::cli {

CLI::App* AddStatusCommand(CLI::App& app, StatusArgs& args) {
  CLI::App* cmd = app.add_subcommand("status", "show a running cluster: stages, health, load, plan");
  cmd->add_option("-s,--server", args.server, "the coordinator, HOST:PORT")->required();
  AddServerAccessOptions(*cmd, args.api_key, args.ca);
  cmd->add_option("--connect-timeout", args.connect_timeout, "seconds to wait for the connection")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_flag("--json", args.json, "print the ClusterStatus message as JSON");
  cmd->add_flag("--watch", args.watch, "refresh every second until Ctrl-C");
  cmd->add_flag("--wide", args.wide,
                "every column (address, memory free, transport, predicted cost); the default table fits 100 columns");
  return cmd;
}

namespace {

using pipeshard::v1::ClusterStatus;
using pipeshard::v1::StageStatus;

std::string Format(const char* fmt, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, value);
  return buf;
}

std::string Mebibytes(uint64_t bytes) { return Format("%.0f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0)); }

std::string Layers(const StageStatus& s) {
  std::string layers = "[" + std::to_string(s.first_layer()) + "," + std::to_string(s.last_layer()) + ")";
  if (s.embedding()) layers += " +emb";
  if (s.head()) layers += " +head";
  return layers;
}

std::string Health(const StageStatus& s) {
  if (s.healthy()) return "ok";
  return s.error().empty() ? "DOWN" : "DOWN: " + s.error();
}

// Columns sized to their widest cell; the last column is left unpadded.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      out += row[c];
      if (c + 1 < row.size()) out += std::string(width[c] - row[c].size() + 2, ' ');
    }
    out += '\n';
  }
  return out;
}

// The default view fits a 100-column terminal: long lines wrap at spaces (indented), and a table's
// last column (health, which may carry an error) is cut with "..." (whole in --wide and --json).
constexpr size_t kColumns = 100;

std::string Wrap(const std::string& line) {
  if (line.size() <= kColumns) return line + "\n";
  std::string out;
  std::string current;
  size_t start = 0;
  while (start < line.size()) {
    size_t end = line.find(' ', start);
    if (end == std::string::npos) end = line.size();
    const std::string word = line.substr(start, end - start);
    if (!current.empty() && current.size() + 1 + word.size() > kColumns) {
      out += current + "\n";
      current = "  ";  // continuation
    } else if (!current.empty() && current != "  ") {
      current += ' ';
    }
    current += word;
    start = end + 1;
  }
  return out + current + "\n";
}

// Cuts each row's last cell so that the table fits kColumns.
void FitLastColumn(std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return;
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c + 1 < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  size_t used = 0;
  for (size_t c = 0; c + 1 < width.size(); ++c) used += width[c] + 2;
  const size_t room = used + 10 < kColumns ? kColumns - used : 10;
  for (auto& row : rows) {
    std::string& last = row.back();
    if (last.size() > room) last = last.substr(0, room - 3) + "...";
  }
}

std::string Render(const ClusterStatus& status, bool wide) {
  std::string out = "model " + status.model() + " (" + std::to_string(status.n_layer()) + " layers), state " +
                    status.state() + ", " + std::to_string(status.active_requests()) + " active, " +
                    std::to_string(status.queued_requests()) + " queued, " +
                    std::to_string(status.tokens_generated()) + " tokens generated\n";
  if (!wide && out.size() > kColumns + 1) out = Wrap(out.substr(0, out.size() - 1));
  if (!status.state_reason().empty()) out += wide ? "why: " + status.state_reason() + "\n" : Wrap("why: " + status.state_reason());
  out += "epoch " + std::to_string(status.epoch()) + ", " + std::to_string(status.standbys_size()) + " standby(s), " +
         std::to_string(status.recoveries()) + " recoveries, " + std::to_string(status.replayed_requests()) +
         " requests replayed";
  if (status.recoveries() > 0) out += Format(", last recovery took %.2f s", status.last_recovery_seconds());
  out += "\n";
  if (!status.last_recovery().empty()) {
    out += wide ? "last recovery: " + status.last_recovery() + "\n" : Wrap("last recovery: " + status.last_recovery());
  }
  out += "\n";
  std::vector<std::vector<std::string>> rows = {{"#", "name", "address", "device", "layers", "mem used", "mem free",
                                                 "tok/s", "in flight", "heartbeat", "transport", "cost", "health"}};
  // The compact view keeps what an operator looks at first.
  const std::vector<size_t> compact = {0, 1, 3, 4, 5, 7, 8, 9, 12};
  for (const StageStatus& s : status.stages()) {
    rows.push_back({std::to_string(s.index()), s.name(), s.address(), s.device(), Layers(s),
                    Mebibytes(s.memory_used_bytes()), Mebibytes(s.memory_free_bytes()),
                    Format("%.1f", s.tokens_per_second()), std::to_string(s.microbatches_in_flight()),
                    Format("%.1f s ago", s.seconds_since_heartbeat()), s.transport(),
                    Format("%.2f", s.predicted_cost()), Health(s)});
  }
  for (const StageStatus& s : status.standbys()) {
    rows.push_back({"standby", s.name(), s.address(), s.device(), "-", Mebibytes(s.memory_used_bytes()),
                    Mebibytes(s.memory_free_bytes()), Format("%.1f", s.tokens_per_second()),
                    std::to_string(s.microbatches_in_flight()), Format("%.1f s ago", s.seconds_since_heartbeat()), "-",
                    "-", Health(s)});
  }
  if (!wide) {
    for (auto& row : rows) {
      std::vector<std::string> kept;
      for (size_t c : compact) kept.push_back(row[c]);
      row = std::move(kept);
    }
    FitLastColumn(rows);
  }
  out += Table(rows);
  auto line = [&](const std::string& text) { out += wide ? text + "\n" : Wrap(text); };
  if (status.stages_size() > 0 && !status.workload().empty()) {
    out += "\n";
    line("workload: " + status.workload());
    line("prompt chunks: " + status.prompt_chunking());
    line(Format("predicted (compute only): prefill %.1f tok/s, ", status.predicted_prefill_tokens_per_s()) +
         Format("decode %.2f tok/s for one stream, ", status.predicted_decode_tokens_per_s()) +
         Format("%.2f tok/s at that concurrency", status.predicted_aggregate_decode_tokens_per_s()));
  }
  if (status.stages_size() > 0) {
    std::string bottleneck = "predicted bottleneck: stage " + std::to_string(status.bottleneck_stage());
    if (!status.plan_explanation().empty()) bottleneck += ": " + status.plan_explanation();
    out += "\n";
    line(bottleneck);
  }
  return out;
}

Result<ClusterStatus> Fetch(pipeshard::v1::Inference::Stub& stub, const std::string& server, const std::string& key) {
  grpc::ClientContext context;
  AddApiKey(&context, key);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  ClusterStatus status;
  const grpc::Status rpc = stub.GetStatus(&context, pipeshard::v1::GetStatusRequest(), &status);
  if (!rpc.ok()) return FromGrpcStatus(rpc, server);
  return status;
}

Result<std::string> ToJson(const ClusterStatus& status) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;  // a healthy=false or 0 in flight is information
  options.preserve_proto_field_names = true;     // snake_case, like every other --json
  std::string json;
  const auto converted = google::protobuf::util::MessageToJsonString(status, &json, options);
  if (!converted.ok()) return Status::Internal("status as JSON: " + converted.ToString());
  return json;
}

Result<std::string> Show(pipeshard::v1::Inference::Stub& stub, const StatusArgs& args) {
  PS_ASSIGN_OR_RETURN(ClusterStatus status, Fetch(stub, args.server, ApiKey(args.api_key)));
  if (args.json) {
    PS_ASSIGN_OR_RETURN(std::string json, ToJson(status));
    return json + "\n";
  }
  return Render(status, args.wide);
}

}  // namespace

int RunStatusCommand(const StatusArgs& args) {
  auto channel = ConnectToServer(args.server, args.connect_timeout, args.ca);
  if (!channel.ok()) return ReportError(channel.status());
  auto stub = pipeshard::v1::Inference::NewStub(*channel);
  if (!args.watch) {
    auto shown = Show(*stub, args);
    if (!shown.ok()) return ReportError(shown.status());
    std::fputs(shown->c_str(), stdout);
    return kExitOk;
  }
  // Watching: a failure is shown in place of the table and retried; only Ctrl-C ends it.
  const bool redraw = !args.json && isatty(STDOUT_FILENO);
  for (;;) {
    auto shown = Show(*stub, args);
    std::string screen = shown.ok() ? *shown : "pipeshard: " + shown.status().message() + "\n";
    if (redraw) screen = "\033[H\033[2J" + screen;  // home, clear
    std::fputs(screen.c_str(), stdout);
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace ps::cli
