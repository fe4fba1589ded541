// Who can reach a listening port. There is no TLS yet (issue 13), so every service on a port
// that other hosts can reach is open to them: the servers refuse such an address unless the
// operator passes --insecure, and then say loudly what is exposed.
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "common/util/status.h"

namespace ps {

// True for 127.0.0.0/8, ::1 and "localhost" (HOST:PORT or [HOST]:PORT).
bool IsLoopbackListen(const std::string& listen);

// Ok for a loopback address, or with `insecure` (then prints `program: WARNING ...` naming what
// is open to anyone who can reach the port). InvalidArgument naming the flag otherwise.
Status CheckExposure(const std::string& listen, bool insecure, const std::string& program, const std::string& exposed);

}  // namespace ps
