// `pipeshard bench`: single-process CPU speed in the manner of llama-bench. Loads the model once,
// then repeats a prefill of p random tokens and a decode of n tokens, and reports medians. With
// --ref-binary it also runs llama.cpp (llama-bench or llama-cli, see ref_bench.h) once after each
// of its own repetitions, and reports both side by side with the ratio pipeshard / llama.cpp.
// With --server it runs the tests through a cluster instead (server_bench.h).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace ps::cli {

struct BenchArgs {
  std::string model;
  int32_t prompt_tokens = 512;   // -p
  int32_t decode_tokens = 128;   // -n
  int threads = 0;               // 0: all hardware threads
  int reps = 5;
  int32_t ubatch = 512;
  std::string kv_type = "f16";
  std::string device = "cpu";    // cpu or cuda:N
  double bandwidth_gbs = 0;      // --bandwidth: the roofline's GB/s instead of measuring (0: measure)
  bool roofline = false;
  bool json = false;
  std::string ref_binary;     // a llama.cpp program to compare with; empty: none
  std::string ref_kind = "auto";
  double ref_timeout = 600;  // seconds one reference run may take
  std::string server;        // run against this coordinator (server_bench.h) instead
  std::string api_key;       // with server: --api-key
  std::string ca;            // with server: --ca
  int32_t streams = 0;       // with server: concurrent decode streams
  std::string trace_path;    // with server: Chrome trace output
  bool profile = false;      // measure this host as a catalog device (device_profile.h)
  std::string profile_name = "this-host";
  std::vector<std::string> profile_types;  // empty: ProfileArgs' defaults
  std::string out_path;      // with profile: write the catalog here instead of stdout
  int profile_stream_mib = 0;    // with profile: MiB the 1-8 row products stream (0: ProfileArgs' default)
  double profile_min_ms = 200;   // with profile: milliseconds per timed run
};

CLI::App* AddBenchCommand(CLI::App& app, BenchArgs& args);
int RunBenchCommand(const BenchArgs& args);

}  // namespace ps::cli
