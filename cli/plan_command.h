// `pipeshard plan`: how a model's layers would be cut across N workers, and the predicted speed.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace ps::cli {

struct PlanArgs {
  std::string model;
  int32_t stages = 0;          // 0: one per --speeds entry
  std::vector<double> speeds;  // GFLOP/s per worker in stage order; empty: all equal (1)
  std::string kv_type = "f16";
  bool json = false;
};

CLI::App* AddPlanCommand(CLI::App& app, PlanArgs& args);
int RunPlanCommand(const PlanArgs& args);

}  // namespace ps::cli
