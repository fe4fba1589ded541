#include "cli/typo_hint.h"

#include <algorithm>

#include "common/util/printable.h"

namespace ps::cli {

namespace {

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
// neighbours ("rnu" is one edit from "run").
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

std::string DidYouMean(const std::string& closest) {
  return closest.empty() ? "" : " (did you mean '" + closest + "'?)";
}

}  // namespace

std::string ClosestName(std::string_view word, const std::vector<std::string>& candidates) {
  if (word.size() > 64) return "";  // no typo is that long; and the distance is quadratic
  std::string best;
  size_t best_distance = 3;
  for (const std::string& c : candidates) {
    const size_t d = EditDistance(word, c);
    if (d < best_distance && 2 * d < std::max<size_t>(word.size(), 2)) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

std::string TypoHint(const CLI::App& app, int argc, const char* const* argv) {
  if (argc < 2) return "";
  std::vector<std::string> commands;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) commands.push_back(sub->get_name());
  const std::string first = argv[1];
  if (first.empty() || first[0] == '-') return "";
  const CLI::App* command = nullptr;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name() == first) command = sub;
  }
  if (command == nullptr) {
    std::string all;
    for (const std::string& c : commands) all += (all.empty() ? "" : ", ") + c;
    return "unknown command '" + Printable(first, 64) + "'" + DidYouMean(ClosestName(first, commands)) +
           "; commands: " + all;
  }
  // A command with commands of its own (`certs init|issue`): the second word must be one of them.
  const auto nested = command->get_subcommands([](const CLI::App*) { return true; });
  if (!nested.empty()) {
    if (argc < 3 || argv[2][0] == '-') return "";
    std::vector<std::string> names;
    for (const CLI::App* sub : nested) names.push_back(sub->get_name());
    if (std::find(names.begin(), names.end(), argv[2]) != names.end()) return "";
    std::string all;
    for (const std::string& n : names) all += (all.empty() ? "" : ", ") + n;
    return "unknown command '" + first + " " + Printable(argv[2], 64) + "'" +
           DidYouMean(ClosestName(argv[2], names)) + "; " + first + " commands: " + all;
  }
  // Flags the command does not know.
  std::vector<std::string> flags;
  for (const CLI::Option* opt : command->get_options()) {
    for (const std::string& name : opt->get_lnames()) flags.push_back("--" + name);
  }
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.rfind("--", 0) != 0) continue;
    arg = arg.substr(0, arg.find('='));
    if (std::find(flags.begin(), flags.end(), arg) != flags.end()) continue;
    return "unknown flag '" + Printable(arg, 64) + "' for " + first + DidYouMean(ClosestName(arg, flags)) +
           " (pipeshard " + first + " --help lists them)";
  }
  return "";
}

}  // namespace ps::cli
