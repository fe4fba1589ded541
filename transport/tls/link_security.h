// How one process's gRPC links are secured: plain TCP (loopback clusters), or mutual TLS with the
// cluster CA, where this process proves its identity (its certificate's CN) and learns the
// verified identity of each peer. Every server and channel between the coordinator and the
// workers is made here, so no link can be left plain by accident.
// A channel names the identity it expects of the server (gRPC checks the server certificate's
// DNS names against it), so an address that now belongs to someone else is refused at the
// handshake. A server asks the caller's identity through PeerIdentity and decides itself.
// Thread-safety: immutable after Load; every method may be called from any thread.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "common/util/status.h"

namespace ps {

struct TlsFiles {
  std::string ca;    // PEM of the cluster CA: the only issuer this process trusts
  std::string cert;  // PEM certificate of this process
  std::string key;   // its private key
  bool any() const { return !ca.empty() || !cert.empty() || !key.empty(); }
};

class LinkSecurity {
 public:
  // Plain TCP: no identities, every caller is let in (only for loopback clusters).
  static std::shared_ptr<const LinkSecurity> Plain();
  // Mutual TLS with these files: all three must be given and agree (CheckIdentityFiles); the
  // error names the flag or file at fault.
  static Result<std::shared_ptr<const LinkSecurity>> Load(const TlsFiles& files);

  bool tls() const { return tls_; }
  // This process's certificate identity ("" when plain).
  const std::string& identity() const { return identity_; }

  // Server side. `require_client_certificate`: callers without a certificate of this CA fail the
  // handshake (workers: every caller is a cluster process); otherwise a certificate is optional
  // but verified when shown (the coordinator: API clients have none).
  std::shared_ptr<grpc::ServerCredentials> ServerCredentials(bool require_client_certificate) const;

  // A channel to `address` whose server must prove `peer_identity` (ignored when plain). `args`
  // carries the caller's own settings (message sizes).
  std::shared_ptr<grpc::Channel> Connect(const std::string& address, const std::string& peer_identity,
                                         grpc::ChannelArguments args = {}) const;

  // The caller's verified certificate identity; "" on a plain link or when it showed none.
  static std::string PeerIdentity(const grpc::ServerContextBase& context);

  // Ok when plain, or when the caller proved `expected`; else PermissionDenied naming what the
  // caller tried (`action`), who it is and who may.
  Status Authorize(const grpc::ServerContextBase& context, const std::string& expected,
                   const std::string& action) const;

 private:
  LinkSecurity() = default;
  bool tls_ = false;
  std::string identity_;
  std::string ca_pem_;
  std::string cert_pem_;
  std::string key_pem_;
};

}  // namespace ps
