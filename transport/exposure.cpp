#include "transport/exposure.h"

#include <cstdio>

namespace ps {

bool IsLoopbackListen(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost" || host == "::1") return true;
  if (host.rfind("127.", 0) != 0) return false;
  // 127.a.b.c with numbers only: "127.example.com" is a name, not loopback.
  for (char c : host.substr(4)) {
    if (c != '.' && (c < '0' || c > '9')) return false;
  }
  return true;
}

Status CheckExposure(const std::string& listen, bool insecure, const std::string& program, const std::string& exposed) {
  if (IsLoopbackListen(listen)) return Status::Ok();
  if (!insecure) {
    return Status::InvalidArgument(
        "--listen " + listen + " can be reached from other hosts, and this build has no TLS yet: " + exposed +
        " would be open to anyone who reaches it. Listen on 127.0.0.1, or pass --insecure on a network you trust");
  }
  std::fprintf(stderr,
               "%s: WARNING: --insecure: %s on %s, without TLS, open to anyone who can reach that address\n",
               program.c_str(), exposed.c_str(), listen.c_str());
  return Status::Ok();
}

}  // namespace ps
