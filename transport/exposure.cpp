#include "transport/exposure.h"
#include "common/log/log.h"

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

Status CheckExposure(const std::string& listen, bool insecure, const std::string& missing, const std::string& exposed) {
  if (missing.empty() || IsLoopbackListen(listen)) return Status::Ok();
  if (!insecure) {
    return Status::InvalidArgument("--listen " + listen + " can be reached from other hosts, and this server has no " +
                                   missing + ": " + exposed + " would be open to anyone who reaches it. Give " +
                                   missing + ", listen on 127.0.0.1, or pass --insecure on a network you trust");
  }
  log::Warn("WARNING: --insecure: " + exposed + " on " + listen + ", without " + missing +
            ", open to anyone who can reach that address");
  return Status::Ok();
}

}  // namespace ps
