// Who is who on a cluster's TLS links: the certificate identity of the coordinator and of each
// worker. Authorisation compares these strings with the verified peer certificate's CN: a worker
// takes control calls only from kCoordinator, a stage takes frames only from the identity the
// current plan puts before it, and the coordinator takes a worker's registration only from the
// certificate of that worker's name.
// Thread-safety: constants and pure functions.
#pragma once

#include <string>

namespace ps::tls {

inline constexpr const char* kCoordinatorIdentity = "pipeshard-coordinator";

inline std::string WorkerIdentity(const std::string& worker_name) {
  std::string identity = "pipeshard-worker-";
  identity += worker_name;
  return identity;
}

}  // namespace ps::tls
