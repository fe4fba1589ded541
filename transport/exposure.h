// Who can reach a listening port. A server on an address other hosts can reach must be secured
// (mutual TLS, and API keys for the coordinator's API); otherwise it refuses to start unless the
// operator passes --insecure, and then says loudly what is exposed.
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "common/util/status.h"

namespace ps {

// True for 127.0.0.0/8, ::1 and "localhost" (HOST:PORT or [HOST]:PORT).
bool IsLoopbackListen(const std::string& listen);

// Ok when `missing` is empty (the server is secured), for a loopback address, or with `insecure`
// (then logs a WARNING naming what is open to anyone who can reach the port).
// Otherwise InvalidArgument naming the address, what is missing ("TLS (--tls-ca, ...)") and
// what would be `exposed`.
Status CheckExposure(const std::string& listen, bool insecure, const std::string& missing, const std::string& exposed);

}  // namespace ps
