// pipeshard-worker: hosts one pipeline stage. Parses arguments, starts the worker's server,
// prints the bound address, and runs until SIGINT or SIGTERM.
#include <csignal>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>

#include "common/log/log_flags.h"
#include "common/plan/hardware_catalog.h"
#include "common/util/version.h"
#include "transport/allocator_tuning.h"
#include "transport/exposure.h"
#include "transport/tls/certificates.h"
#include "transport/tls/identities.h"
#include "transport/tls/link_security.h"
#include "worker/backend/cuda/cuda_backend_factory.h"
#include "worker/backend/cuda/device_spec.h"
#include "worker/service/worker_server.h"

namespace {

// Ok when this build has the CUDA backend and the runtime sees device `index`.
ps::Status CheckCudaDevice(int index) {
  if (!ps::CudaBackendBuilt()) return ps::CudaDeviceCount().status();  // names -DPIPESHARD_CUDA
  const auto count = ps::CudaDeviceCount();
  if (!count.ok()) return count.status();
  if (index >= *count) {
    return ps::Status::InvalidArgument("no such device (" + std::to_string(*count) + " CUDA devices)");
  }
  return ps::Status::Ok();
}

// The catalog device a sim:NAME worker emulates: from --sim-catalog FILE, then the built-in one.
ps::Result<ps::plan::DeviceProfile> FindSimDevice(const std::string& name, const std::string& catalog_file) {
  auto loaded = ps::plan::HardwareCatalog::BuiltInWith(catalog_file);
  if (!loaded.ok()) return loaded.status().WithContext("--sim-catalog");
  const ps::plan::HardwareCatalog& catalog = *loaded;
  if (const ps::plan::DeviceProfile* d = catalog.FindDevice(name)) return *d;
  std::string known;
  for (const ps::plan::DeviceProfile& d : catalog.devices()) known += (known.empty() ? "" : ", ") + d.name;
  return ps::Status::InvalidArgument("'" + name + "' is not a catalog device (known: " + known + ")");
}

}  // namespace

int main(int argc, char** argv) {
  ps::TuneAllocatorForFrames();  // before any thread starts; see allocator_tuning.h
  CLI::App app{"pipeshard-worker: one stage of a pipeshard cluster"};
  ps::WorkerServerOptions options;
  std::string device = "cpu";
  options.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  app.add_option("--coordinator", options.coordinator, "the coordinator's HOST:PORT")->required();
  app.add_option("--listen", options.listen, "HOST:PORT for this worker's services (port 0: any free port)")
      ->required();
  app.add_option("--device", device,
                 "cpu, cuda:N, or sim:NAME: an emulated catalog device (e.g. sim:P40) that computes nothing and "
                 "waits the modelled time of each micro-batch (plan --simulate's cost model)")
      ->required();
  std::string sim_catalog;
  app.add_option("--sim-catalog", sim_catalog, "with --device sim:NAME: a catalog file (bench --profile) to find NAME in");
  app.add_option("--threads", options.threads, "compute threads")->check(CLI::PositiveNumber);
  app.add_option("--name", options.name, "name shown in status (default: the listen address)");
  app.add_option("--model", options.model_path_override, "this host's copy of the model (overrides LoadShard's path)");
  ps::TlsFiles tls;
  app.add_option("--tls-ca", tls.ca, "mutual TLS: the cluster CA (PEM; `pipeshard certs init`)");
  app.add_option("--tls-cert", tls.cert,
                 "mutual TLS: this worker's certificate (`pipeshard certs issue worker NAME`; --name must be NAME)");
  app.add_option("--tls-key", tls.key, "mutual TLS: its private key");
  bool insecure = false;
  app.add_flag("--insecure", insecure,
               "allow a --listen address other hosts can reach without TLS: everything on it is then open to them");
  ps::log::LogFlags log_flags;
  ps::log::AddLogFlags(app, &log_flags);
  app.set_version_flag("--version", ps::VersionLine("pipeshard-worker"));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (const ps::Status logs = ps::log::ApplyLogFlags("pipeshard-worker", log_flags); !logs.ok()) {
    std::cerr << "pipeshard-worker: " << logs.message() << "\n";
    return 2;
  }
  const auto spec = ps::ParseDeviceSpec(device);
  if (!spec.ok()) {
    ps::log::Error(spec.status().message());
    return 2;
  }
  if (spec->kind == ps::DeviceSpec::Kind::kCuda) {
    const ps::Status cuda = CheckCudaDevice(spec->index);
    if (!cuda.ok()) {
      ps::log::Error("--device " + spec->ToString() + ": " + cuda.message() + "; use --device cpu without a GPU");
      return cuda.IsBadInput() ? 2 : 1;
    }
  }
  if (spec->kind == ps::DeviceSpec::Kind::kSim) {
    auto profile = FindSimDevice(spec->sim_device, sim_catalog);
    if (!profile.ok()) {
      ps::log::Error("--device " + spec->ToString() + ": " + profile.status().message());
      return 2;
    }
    options.sim_profile = *profile;
  } else if (!sim_catalog.empty()) {
    ps::log::Error("--sim-catalog needs --device sim:NAME");
    return 2;
  }
  options.device = *spec;
  if (tls.any()) {
    auto security = ps::LinkSecurity::Load(tls);
    ps::Status named = security.ok() ? ps::tls::CheckCertificateName(options.name, "--name") : security.status();
    if (named.ok() && (*security)->identity() != ps::tls::WorkerIdentity(options.name)) {
      named = ps::Status::InvalidArgument("--tls-cert " + tls.cert + " is for '" + (*security)->identity() +
                                          "', but --name '" + options.name + "' needs a certificate for '" +
                                          ps::tls::WorkerIdentity(options.name) + "' (pipeshard certs issue worker " +
                                          options.name + ")");
    }
    if (!named.ok()) {
      ps::log::Error(named.message());
      return named.IsBadInput() ? 2 : 1;
    }
    options.security = *security;
  }
  if (const ps::Status exposed =
          ps::CheckExposure(options.listen, insecure, options.security->tls() ? "" : "TLS (--tls-ca, --tls-cert, --tls-key)",
                            "LoadShard, FreeSequence and the frame stream");
      !exposed.ok()) {
    ps::log::Error(exposed.message());
    return 2;
  }

  // Signals are taken by sigwait below; block them before any thread starts so none gets them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = ps::WorkerServer::Start(options);
  if (!server.ok()) {
    ps::log::Error(server.status().message());
    return server.status().IsBadInput() ? 2 : 1;
  }
  std::cout << "listening on " << (*server)->address() << std::endl;
  int signal = 0;
  sigwait(&signals, &signal);
  ps::log::Info("shutting down");
  (*server)->Shutdown();
  return 0;
}
