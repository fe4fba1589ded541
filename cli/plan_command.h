// `pipeshard plan`: how a model's layers would be cut across N workers for an expected workload,
// and the speed each phase is predicted to get.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "common/plan/partition_planner.h"

namespace ps::cli {

struct PlanArgs {
  std::string model;
  int32_t stages = 0;          // 0: one per --speeds entry
  std::vector<double> speeds;  // GFLOP/s per worker in stage order; empty: all equal (1)
  std::string kv_type = "f16";
  plan::Workload workload;  // what the split is cut for
  bool json = false;
  // plan --simulate: a what-if over a catalog cluster (cli/plan_simulate.cpp).
  bool simulate = false;
  std::string cluster;  // "4xP40 pcie3", or a file holding such a spec
  std::string catalog;  // a catalog file (a measured profile) whose entries join the built-in ones
  std::string preset;   // a make-model shape instead of --model
  std::string type = "q8_0";
  int64_t ctx = 4096;
  int32_t prompt_tokens = 512;
  int32_t gen_tokens = 128;
  int32_t concurrency = 1;
  std::string ubatch;  // rows, "auto" (the coordinator's default cut), or empty: the fastest
};

// --workload-prompt, --workload-gen, --workload-concurrency (shared with the coordinator).
void AddWorkloadOptions(CLI::App& cmd, plan::Workload& workload);

CLI::App* AddPlanCommand(CLI::App& app, PlanArgs& args);
int RunPlanCommand(const PlanArgs& args);
// plan --simulate.
int RunPlanSimulate(const PlanArgs& args);

}  // namespace ps::cli
