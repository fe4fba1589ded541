// `pipeshard certs`: a cluster's CA and one certificate per process, for mutual TLS between the
// coordinator and the workers (transport/tls).
//   certs init --dir D                          D/ca.pem, D/ca.key
//   certs issue --dir D coordinator [--san H]   D/coordinator.pem/.key (identity pipeshard-coordinator)
//   certs issue --dir D worker NAME [--san H]   D/worker-NAME.pem/.key (pipeshard-worker-NAME; the
//                                               worker's --name must be NAME)
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace ps::cli {

struct CertsArgs {
  std::string dir;
  int days = 0;  // 0: 3650 for the CA, 825 for a leaf
  std::string role;  // coordinator | worker
  std::string name;  // the worker's name
  std::vector<std::string> sans;
};

struct CertsCommands {
  CLI::App* init = nullptr;
  CLI::App* issue = nullptr;
};

CertsCommands AddCertsCommand(CLI::App& app, CertsArgs& args);
int RunCertsInit(const CertsArgs& args);
int RunCertsIssue(const CertsArgs& args);

}  // namespace ps::cli
