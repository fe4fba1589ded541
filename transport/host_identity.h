// Which machine a worker runs on, as the transport choice compares it: two workers with the same
// host id may use CUDA IPC. The kernel's boot id is shared by every process (and container) of one
// boot of one machine; the host name is added so that containers, which may not share the IPC
// namespace CUDA IPC needs, only match when they also share the host name.
// Thread-safety: pure function.
#pragma once

#include <string>

namespace ps {

// "<hostname>/<boot id>", or "" when /proc/sys/kernel/random/boot_id is unreadable (then the
// worker is never taken to share a machine with another).
std::string HostId();

}  // namespace ps
