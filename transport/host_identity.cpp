#include "transport/host_identity.h"

#include <unistd.h>

#include <climits>
#include <fstream>

namespace ps {

std::string HostId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string boot_id;
  if (!(in >> boot_id) || boot_id.empty()) return "";
  char host[HOST_NAME_MAX + 1] = {};
  if (gethostname(host, sizeof host - 1) != 0) return "";
  return std::string(host) + "/" + boot_id;
}

}  // namespace ps
