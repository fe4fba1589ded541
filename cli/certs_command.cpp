#include "cli/certs_command.h"

#include <cstdio>

#include "cli/cli_error.h"
#include "transport/tls/certificates.h"
#include "transport/tls/identities.h"

namespace ps::cli {

namespace {

constexpr int kAuthorityDays = 3650;
constexpr int kLeafDays = 825;  // the longest validity browsers accepted for a leaf; renew by re-issuing

}  // namespace

CertsCommands AddCertsCommand(CLI::App& app, CertsArgs& args) {
  CLI::App* certs = app.add_subcommand("certs", "make a cluster CA and certificates for mutual TLS");
  certs->require_subcommand(1);
  CertsCommands commands;
  commands.init = certs->add_subcommand("init", "make the cluster CA: DIR/ca.pem and DIR/ca.key (mode 0600)");
  commands.init->add_option("--dir", args.dir, "folder for the CA and the certificates")->required();
  commands.init->add_option("--days", args.days, "validity in days (default 3650)")->check(CLI::PositiveNumber);
  commands.issue = certs->add_subcommand(
      "issue", "issue a certificate signed by DIR's CA: 'coordinator', or 'worker NAME' (the worker's --name)");
  commands.issue->add_option("--dir", args.dir, "folder holding ca.pem and ca.key; the new files go there")
      ->required();
  commands.issue->add_option("role", args.role, "coordinator or worker")
      ->required()
      ->check(CLI::IsMember({"coordinator", "worker"}));
  commands.issue->add_option("name", args.name, "the worker's name (its --name)");
  commands.issue->add_option("--san", args.sans,
                             "another host name or IP address clients dial this process by (repeatable)");
  commands.issue->add_option("--days", args.days, "validity in days (default 825)")->check(CLI::PositiveNumber);
  return commands;
}

int RunCertsInit(const CertsArgs& args) {
  const Status made = tls::MakeAuthority(args.dir, args.days > 0 ? args.days : kAuthorityDays);
  if (!made.ok()) return ReportError(made);
  std::printf("made the cluster CA: %s (keep %s secret: it can issue identities)\n",
              tls::AuthorityCertPath(args.dir).c_str(), tls::AuthorityKeyPath(args.dir).c_str());
  return kExitOk;
}

int RunCertsIssue(const CertsArgs& args) {
  std::string stem;
  std::string identity;
  std::vector<std::string> names = args.sans;
  if (args.role == "coordinator") {
    if (!args.name.empty()) {
      return ReportError(Status::InvalidArgument("certs issue coordinator takes no name (got '" + args.name + "')"));
    }
    stem = "coordinator";
    identity = tls::kCoordinatorIdentity;
    // Clients on the coordinator's own host dial it as localhost or 127.0.0.1.
    names.insert(names.begin(), {"localhost", "127.0.0.1"});
  } else {
    if (args.name.empty()) return ReportError(Status::InvalidArgument("certs issue worker needs the worker's NAME"));
    if (const Status ok = tls::CheckCertificateName(args.name, "worker name"); !ok.ok()) return ReportError(ok);
    stem = "worker-" + args.name;
    identity = tls::WorkerIdentity(args.name);
  }
  const Status issued = tls::IssueCertificate(args.dir, stem, identity, names, args.days > 0 ? args.days : kLeafDays);
  if (!issued.ok()) return ReportError(issued);
  std::printf("issued %s for '%s': %s, key %s\n", args.role.c_str(), identity.c_str(),
              tls::LeafCertPath(args.dir, stem).c_str(), tls::LeafKeyPath(args.dir, stem).c_str());
  return kExitOk;
}

}  // namespace ps::cli
