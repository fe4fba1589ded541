#include "cli/sampling_flags.h"

namespace ps::cli {

void AddSamplingFlags(CLI::App& cmd, SamplingFlags& flags) {
  SamplingParams& p = flags.params;
  cmd.add_option("--temp", p.temperature, "temperature; 0 or less is greedy")->capture_default_str();
  cmd.add_option("--top-k", p.top_k, "keep the k most likely tokens; 0 = off")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd.add_option("--top-p", p.top_p, "nucleus sampling; 1 = off")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd.add_option("--min-p", p.min_p, "drop tokens below min-p times the best; 0 = off")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd.add_option("--repeat-penalty", p.repeat_penalty, "penalty for recent tokens; 1 = off")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd.add_option("--repeat-last-n", p.penalty_last_n, "how many recent tokens the penalty covers")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd.add_option("--presence-penalty", p.presence_penalty,
                 "subtracted once from each token seen in the last --repeat-last-n; 0 = off")
      ->check(CLI::Range(-2.0, 2.0))->capture_default_str();
  cmd.add_option("--frequency-penalty", p.frequency_penalty,
                 "subtracted per occurrence in the last --repeat-last-n; 0 = off")
      ->check(CLI::Range(-2.0, 2.0))->capture_default_str();
  cmd.add_option("--seed", p.seed, "random seed; 4294967295 picks one")->capture_default_str();
  cmd.add_flag("--ignore-eos", flags.ignore_eos, "keep generating past end-of-generation tokens");
}

}  // namespace ps::cli
