#include "cli/server_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "cli/bench_stats.h"
#include "cli/cli_error.h"
#include "cli/grpc_client.h"
#include "proto/inference.grpc.pb.h"

namespace ps::cli {

namespace {

using Stub = pipeshard::v1::Inference::Stub;
using Clock = std::chrono::steady_clock;

// Plain prose: it tokenizes to ordinary words on every vocabulary.
constexpr const char* kSentence =
    "the river ran past the old mill and the children watched the boats go by in the evening light. ";
constexpr double kConnectSeconds = 10;
constexpr double kRpcSeconds = 30;
// A trace response holds at most 8192 micro-batches of a few hundred bytes each.
constexpr int kTraceMessageBytes = 64 << 20;
// Full prefills before the measured ones (see the warm-up below).
constexpr int kPrefillWarmups = 3;

void SetDeadline(grpc::ClientContext* context, double seconds) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
}

double Median(std::vector<double> v) { return Summarize(std::move(v)).median; }

// About `tokens` tokens of prompt (BOS included): the sentence repeated, tokenized by the server,
// cut and turned back into text.
Result<std::string> MakePrompt(Stub& stub, const std::string& server, const std::string& key, int32_t tokens) {
  pipeshard::v1::TokenizeRequest request;
  std::string text;
  while (static_cast<int64_t>(text.size()) < static_cast<int64_t>(tokens) * 8 + 64) text += kSentence;
  request.set_text(text);
  request.set_add_bos(false);
  pipeshard::v1::TokenizeResponse tokenized;
  grpc::ClientContext context;
  SetDeadline(&context, kRpcSeconds);
  AddApiKey(&context, key);
  grpc::Status rpc = stub.Tokenize(&context, request, &tokenized);
  if (!rpc.ok()) return FromGrpcStatus(rpc, server);
  if (tokenized.tokens_size() < tokens) {
    return Status::Internal(server + ": the test text tokenized to only " + std::to_string(tokenized.tokens_size()) +
                            " tokens");
  }
  pipeshard::v1::DetokenizeRequest cut;
  for (int32_t i = 0; i + 1 < tokens; ++i) cut.add_tokens(tokenized.tokens(i));
  pipeshard::v1::DetokenizeResponse detokenized;
  grpc::ClientContext context2;
  SetDeadline(&context2, kRpcSeconds);
  AddApiKey(&context2, key);
  rpc = stub.Detokenize(&context2, cut, &detokenized);
  if (!rpc.ok()) return FromGrpcStatus(rpc, server);
  return detokenized.text();
}

Result<pipeshard::v1::GenerateSummary> Generate(Stub& stub, const ServerBenchArgs& args, const std::string& key,
                                                const std::string& prompt, int32_t n_predict) {
  pipeshard::v1::GenerateRequest request;
  request.set_prompt(prompt);
  request.set_n_predict(n_predict);
  request.set_ignore_eos(true);
  request.mutable_sampling()->set_temperature(0);
  request.mutable_sampling()->set_seed(1);
  grpc::ClientContext context;
  SetDeadline(&context, args.timeout);
  AddApiKey(&context, key);
  auto reader = stub.Generate(&context, request);
  pipeshard::v1::GenerateResponse response;
  pipeshard::v1::GenerateSummary summary;
  bool have_summary = false;
  while (reader->Read(&response)) {
    if (response.has_summary()) {
      summary = response.summary();
      have_summary = true;
    }
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) return FromGrpcStatus(status, args.server);
  if (!have_summary) return Status::Internal(args.server + ": the stream ended without a summary");
  return summary;
}

Result<pipeshard::v1::TraceResponse> FetchTrace(Stub& stub, const std::string& server, const std::string& key) {
  grpc::ClientContext context;
  SetDeadline(&context, kRpcSeconds);
  AddApiKey(&context, key);
  pipeshard::v1::TraceResponse trace;
  const grpc::Status rpc = stub.GetTrace(&context, pipeshard::v1::GetTraceRequest(), &trace);
  if (!rpc.ok()) return FromGrpcStatus(rpc, server);
  return trace;
}

// Fetches of the trace (20 ms apart) that close() waits for a test's micro-batches to be logged.
constexpr int kTraceSettleAttempts = 50;

uint64_t LastId(const pipeshard::v1::TraceResponse& trace) {
  uint64_t id = 0;
  for (const auto& mb : trace.microbatches()) id = std::max(id, mb.id());
  return id;
}

// Whether every micro-batch logged after `after` has come back (its spans are in).
bool AllReturned(const pipeshard::v1::TraceResponse& trace, uint64_t after) {
  for (const auto& mb : trace.microbatches()) {
    if (mb.id() > after && mb.returned_us() == 0) return false;
  }
  return true;
}

// Micro-batches of one test: ids in (after, upto].
struct Window {
  std::string test;
  uint64_t after = 0, upto = 0;
};

// Each stage's compute time over the window's span (first sent to last returned), per stage index.
std::map<int32_t, double> BusyFractions(const pipeshard::v1::TraceResponse& trace, const Window& w) {
  int64_t begin = INT64_MAX, end = INT64_MIN;
  std::map<int32_t, double> busy;
  for (const auto& mb : trace.microbatches()) {
    if (mb.id() <= w.after || mb.id() > w.upto) continue;
    begin = std::min(begin, mb.sent_us());
    end = std::max(end, mb.returned_us());
    for (const auto& s : mb.spans()) busy[s.stage()] += static_cast<double>(s.finished_us() - s.started_us());
  }
  if (end <= begin) return {};
  for (auto& [stage, us] : busy) us /= static_cast<double>(end - begin);
  return busy;
}

// Where a single stream's token time goes: medians over the window's micro-batches, in ms.
struct DecodeBreakdown {
  double step = 0;     // one micro-batch's send to the next one's
  double compute = 0;  // every stage's Forward and sampling
  double queued = 0;   // waiting at the stages for the previous frame
  double links = 0;    // the rest of the round trip: S + 1 hops through gRPC and the threads
  double turn = 0;     // the coordinator: frame back to the next frame sent
  int hops = 0;
  size_t samples = 0;
};

DecodeBreakdown BreakDown(const pipeshard::v1::TraceResponse& trace, const Window& w) {
  std::vector<const pipeshard::v1::MicroBatchTrace*> mbs;
  for (const auto& mb : trace.microbatches()) {
    if (mb.id() > w.after && mb.id() <= w.upto && mb.prompt_rows() == 0) mbs.push_back(&mb);
  }
  std::sort(mbs.begin(), mbs.end(), [](auto* a, auto* b) { return a->id() < b->id(); });
  std::vector<double> step, compute, queued, links, turn;
  DecodeBreakdown d;
  for (size_t i = 0; i + 1 < mbs.size(); ++i) {
    const auto& mb = *mbs[i];
    if (mbs[i + 1]->id() != mb.id() + 1) continue;  // something else ran in between
    double c = 0, q = 0;
    for (const auto& s : mb.spans()) {
      c += static_cast<double>(s.finished_us() - s.started_us());
      q += static_cast<double>(s.started_us() - s.received_us());
    }
    const double rt = static_cast<double>(mb.returned_us() - mb.sent_us());
    step.push_back(static_cast<double>(mbs[i + 1]->sent_us() - mb.sent_us()) / 1e3);
    compute.push_back(c / 1e3);
    queued.push_back(q / 1e3);
    links.push_back((rt - c - q) / 1e3);
    turn.push_back(static_cast<double>(mbs[i + 1]->sent_us() - mb.returned_us()) / 1e3);
    d.hops = mb.spans_size() + 1;
  }
  d.samples = step.size();
  d.step = Median(step);
  d.compute = Median(compute);
  d.queued = Median(queued);
  d.links = Median(links);
  d.turn = Median(turn);
  return d;
}

std::string Kind(const pipeshard::v1::MicroBatchTrace& mb) {
  if (mb.prompt_rows() > 0 && mb.decode_rows() > 0) {
    return "mixed " + std::to_string(mb.prompt_rows()) + "+" + std::to_string(mb.decode_rows());
  }
  if (mb.prompt_rows() > 0) return "prefill " + std::to_string(mb.prompt_rows());
  return "decode " + std::to_string(mb.decode_rows());
}

// Chrome trace-event JSON: pid 1, tid 0 the coordinator, tid 1 + i stage i; times relative to
// the first event, in microseconds.
nlohmann::json ChromeTrace(const pipeshard::v1::TraceResponse& trace, const std::vector<Window>& windows) {
  nlohmann::json events = nlohmann::json::array();
  int64_t origin = INT64_MAX;
  for (const auto& mb : trace.microbatches()) origin = std::min(origin, mb.sent_us());
  auto thread_name = [&](int tid, const std::string& name) {
    events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", 1}, {"tid", tid}, {"args", {{"name", name}}}});
    events.push_back({{"name", "thread_sort_index"}, {"ph", "M"}, {"pid", 1}, {"tid", tid}, {"args", {{"sort_index", tid}}}});
  };
  events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", 1}, {"args", {{"name", "pipeshard cluster"}}}});
  thread_name(0, "coordinator");
  int32_t max_stage = -1;
  for (const auto& mb : trace.microbatches()) {
    for (const auto& s : mb.spans()) max_stage = std::max(max_stage, s.stage());
  }
  for (int32_t i = 0; i <= max_stage; ++i) {
    thread_name(1 + i, i < trace.stage_names_size() ? trace.stage_names(i) : "stage " + std::to_string(i));
  }
  auto test_of = [&](uint64_t id) -> std::string {
    for (const Window& w : windows) {
      if (id > w.after && id <= w.upto) return w.test;
    }
    return "other";
  };
  auto slice = [&](int tid, const std::string& name, const std::string& cat, int64_t from, int64_t to,
                   nlohmann::json args) {
    if (to < from || from == 0) return;
    events.push_back({{"name", name}, {"cat", cat}, {"ph", "X"}, {"pid", 1}, {"tid", tid}, {"ts", from - origin},
                      {"dur", to - from}, {"args", std::move(args)}});
  };
  std::map<int64_t, int64_t> turns;  // handled -> earliest return handled then
  for (const auto& mb : trace.microbatches()) {
    const std::string kind = Kind(mb);
    const nlohmann::json args = {{"microbatch", mb.id()}, {"epoch", mb.epoch()}, {"prompt_rows", mb.prompt_rows()},
                                 {"decode_rows", mb.decode_rows()}, {"test", test_of(mb.id())}};
    for (const auto& s : mb.spans()) {
      slice(1 + s.stage(), "queued", "wait", s.received_us(), s.started_us(), args);
      slice(1 + s.stage(), kind, mb.prompt_rows() > 0 ? "prefill" : "decode", s.started_us(), s.finished_us(), args);
    }
    auto [it, inserted] = turns.emplace(mb.handled_us(), mb.returned_us());
    if (!inserted) it->second = std::min(it->second, mb.returned_us());
  }
  for (const auto& [handled, returned] : turns) slice(0, "turn", "coordinator", returned, handled, nlohmann::json::object());
  return {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
}

Status CheckArgs(const ServerBenchArgs& args) {
  if (args.prompt_tokens < 2) return Status::InvalidArgument("-p must be at least 2 (got " + std::to_string(args.prompt_tokens) + ")");
  if (args.decode_tokens < 1) return Status::InvalidArgument("-n must be at least 1 (got " + std::to_string(args.decode_tokens) + ")");
  if (args.reps < 1) return Status::InvalidArgument("--reps must be at least 1 (got " + std::to_string(args.reps) + ")");
  if (args.streams < 0) return Status::InvalidArgument("--streams must not be negative (got " + std::to_string(args.streams) + ")");
  if (!(args.timeout > 0)) return Status::InvalidArgument("--timeout must be positive (got " + std::to_string(args.timeout) + ")");
  return Status::Ok();
}

}  // namespace

int RunServerBench(const ServerBenchArgs& args) {
  if (Status s = CheckArgs(args); !s.ok()) return ReportError(s);
  auto connected = ConnectToServer(args.server, kConnectSeconds, args.ca, kTraceMessageBytes);
  if (!connected.ok()) return ReportError(connected.status());
  auto stub = pipeshard::v1::Inference::NewStub(*connected);
  const std::string key = ApiKey(args.api_key);

  auto prompt = MakePrompt(*stub, args.server, key, args.prompt_tokens);
  if (!prompt.ok()) return ReportError(prompt.status());
  // Warm-up: every stage pages its weights in, and every hop carries prompt-sized frames: a
  // fresh gRPC link moves large frames several times slower until its flow-control windows have
  // grown (at 16 emulated stages the first 1024-token prefill ran at a quarter of the fourth;
  // docs/benchmarks.md, "Emulated clusters"). Measured here is the warm cluster.
  if (auto warm = Generate(*stub, args, key, "warm up", 4); !warm.ok()) return ReportError(warm.status());
  for (int i = 0; i < kPrefillWarmups; ++i) {
    if (auto warm = Generate(*stub, args, key, *prompt, 1); !warm.ok()) return ReportError(warm.status());
  }

  std::vector<Window> windows;
  auto mark = [&](const std::string& test) -> Result<Window> {
    PS_ASSIGN_OR_RETURN(pipeshard::v1::TraceResponse t, FetchTrace(*stub, args.server, key));
    return Window{test, LastId(t), 0};
  };
  auto close = [&](Window w) -> Status {
    // The answer can reach us before the coordinator has logged the return of the micro-batch
    // that carried it: wait (at most 1 s) until the window holds micro-batches, all returned.
    for (int attempt = 0;; ++attempt) {
      PS_ASSIGN_OR_RETURN(pipeshard::v1::TraceResponse t, FetchTrace(*stub, args.server, key));
      w.upto = LastId(t);
      if ((w.upto > w.after && AllReturned(t, w.after)) || attempt == kTraceSettleAttempts) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    windows.push_back(std::move(w));
    return Status::Ok();
  };

  std::vector<double> prefill, decode, aggregate;
  int32_t prompt_tokens = 0;
  for (int rep = 0; rep < args.reps; ++rep) {
    auto w = mark("prefill");
    if (!w.ok()) return ReportError(w.status());
    auto p = Generate(*stub, args, key, *prompt, 1);
    if (!p.ok()) return ReportError(p.status());
    if (Status s = close(*w); !s.ok()) return ReportError(s);
    prompt_tokens = p->prompt_tokens();
    prefill.push_back(p->prefill_seconds() > 0 ? p->prompt_tokens() / p->prefill_seconds() : 0);

    w = mark("decode");
    if (!w.ok()) return ReportError(w.status());
    auto d = Generate(*stub, args, key, "Once upon a time", args.decode_tokens);
    if (!d.ok()) return ReportError(d.status());
    if (Status s = close(*w); !s.ok()) return ReportError(s);
    decode.push_back(d->decode_seconds() > 0 ? d->decode_steps() / d->decode_seconds() : 0);

    if (args.streams > 0) {
      w = mark("aggregate");
      if (!w.ok()) return ReportError(w.status());
      std::vector<Result<pipeshard::v1::GenerateSummary>> results(static_cast<size_t>(args.streams),
                                                                  Status::Internal("not run"));
      const auto start = Clock::now();
      std::vector<std::thread> threads;
      for (int32_t i = 0; i < args.streams; ++i) {
        threads.emplace_back([&, i] {
          results[static_cast<size_t>(i)] =
              Generate(*stub, args, key, "Story number " + std::to_string(i) + " begins", args.decode_tokens);
        });
      }
      for (std::thread& t : threads) t.join();
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      if (Status s = close(*w); !s.ok()) return ReportError(s);
      int64_t tokens = 0;
      for (const auto& r : results) {
        if (!r.ok()) return ReportError(r.status());
        tokens += r->tokens_size();
      }
      aggregate.push_back(seconds > 0 ? static_cast<double>(tokens) / seconds : 0);
    }
  }

  pipeshard::v1::TraceResponse trace;
  if (auto t = FetchTrace(*stub, args.server, key); t.ok()) {
    trace = std::move(t).value();
  } else {
    return ReportError(t.status());
  }
  // Busy fractions of the last prefill (the warmest).
  std::map<int32_t, double> prefill_busy;
  for (auto it = windows.rbegin(); it != windows.rend(); ++it) {
    if (it->test == "prefill") {
      prefill_busy = BusyFractions(trace, *it);
      break;
    }
  }
  DecodeBreakdown breakdown;
  for (auto it = windows.rbegin(); it != windows.rend(); ++it) {
    if (it->test == "decode") {
      breakdown = BreakDown(trace, *it);
      break;
    }
  }
  if (!args.trace_path.empty()) {
    std::ofstream out(args.trace_path);
    out << ChromeTrace(trace, windows).dump() << "\n";
    if (!out) return ReportError(Status::Unavailable(args.trace_path + ": cannot write the trace"));
  }

  if (args.json) {
    nlohmann::json j;
    j["server"] = args.server;
    j["prompt_tokens"] = prompt_tokens;
    j["decode_tokens"] = args.decode_tokens;
    j["reps"] = args.reps;
    j["prefill_tokens_per_s"] = Median(prefill);
    j["prefill_runs"] = prefill;
    j["decode_tokens_per_s"] = Median(decode);
    j["decode_runs"] = decode;
    if (args.streams > 0) {
      j["streams"] = args.streams;
      j["aggregate_decode_tokens_per_s"] = Median(aggregate);
      j["aggregate_runs"] = aggregate;
    }
    nlohmann::json busy = nlohmann::json::object();
    for (const auto& [stage, f] : prefill_busy) busy[std::to_string(stage)] = f;
    j["prefill_stage_busy"] = busy;
    if (breakdown.samples > 0) {
      j["decode_step_ms"] = {{"step", breakdown.step},     {"compute", breakdown.compute},
                             {"queued", breakdown.queued}, {"links", breakdown.links},
                             {"turn", breakdown.turn},     {"hops", breakdown.hops},
                             {"samples", breakdown.samples}};
    }
    if (!args.trace_path.empty()) j["trace"] = args.trace_path;
    std::printf("%s\n", j.dump().c_str());
    return kExitOk;
  }
  std::printf("server %s, %d reps (medians)\n", args.server.c_str(), args.reps);
  std::printf("prefill   %8.2f tok/s  (%d prompt tokens)\n", Median(prefill), prompt_tokens);
  std::printf("decode    %8.2f tok/s  (1 stream, %d tokens)\n", Median(decode), args.decode_tokens);
  if (args.streams > 0) std::printf("aggregate %8.2f tok/s  (%d streams)\n", Median(aggregate), args.streams);
  if (!prefill_busy.empty()) {
    std::printf("stage busy during the last prefill:");
    for (const auto& [stage, f] : prefill_busy) std::printf(" %d: %.0f%%", stage, f * 100);
    std::printf("\n");
  }
  if (breakdown.samples > 0) {
    std::printf("decode step (median of %zu, last decode): %.3f ms = compute %.3f + links %.3f over %d hops "
                "+ queued %.3f + coordinator %.3f\n",
                breakdown.samples, breakdown.step, breakdown.compute, breakdown.links, breakdown.hops,
                breakdown.queued, breakdown.turn);
  }
  if (!args.trace_path.empty()) std::printf("trace: %s (chrome://tracing or ui.perfetto.dev)\n", args.trace_path.c_str());
  return kExitOk;
}

}  // namespace ps::cli
