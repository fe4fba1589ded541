#include "transport/tls/link_security.h"

#include <fstream>
#include <sstream>

#include <grpcpp/security/server_credentials.h>

#include "transport/tls/certificates.h"

namespace ps {

namespace {

Result<std::string> ReadPem(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(path + ": cannot read");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::shared_ptr<const LinkSecurity> LinkSecurity::Plain() {
  static const std::shared_ptr<const LinkSecurity> plain(new LinkSecurity());
  return plain;
}

Result<std::shared_ptr<const LinkSecurity>> LinkSecurity::Load(const TlsFiles& files) {
  if (files.ca.empty() || files.cert.empty() || files.key.empty()) {
    std::string missing;
    if (files.ca.empty()) missing += " --tls-ca";
    if (files.cert.empty()) missing += " --tls-cert";
    if (files.key.empty()) missing += " --tls-key";
    return Status::InvalidArgument("TLS needs --tls-ca, --tls-cert and --tls-key together; missing:" + missing);
  }
  PS_ASSIGN_OR_RETURN(std::string identity, tls::CheckIdentityFiles(files.ca, files.cert, files.key));
  std::shared_ptr<LinkSecurity> security(new LinkSecurity());
  security->tls_ = true;
  security->identity_ = std::move(identity);
  PS_ASSIGN_OR_RETURN(security->ca_pem_, ReadPem(files.ca));
  PS_ASSIGN_OR_RETURN(security->cert_pem_, ReadPem(files.cert));
  PS_ASSIGN_OR_RETURN(security->key_pem_, ReadPem(files.key));
  return std::shared_ptr<const LinkSecurity>(std::move(security));
}

std::shared_ptr<grpc::ServerCredentials> LinkSecurity::ServerCredentials(bool require_client_certificate) const {
  if (!tls_) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(require_client_certificate
                                                ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                                : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = ca_pem_;
  options.pem_key_cert_pairs.push_back({key_pem_, cert_pem_});
  return grpc::SslServerCredentials(options);
}

std::shared_ptr<grpc::Channel> LinkSecurity::Connect(const std::string& address, const std::string& peer_identity,
                                                     grpc::ChannelArguments args) const {
  if (!tls_) return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_pem_;
  options.pem_private_key = key_pem_;
  options.pem_cert_chain = cert_pem_;
  // The server must hold a certificate for the identity we meant to reach, whatever its address.
  args.SetSslTargetNameOverride(peer_identity);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(options), args);
}

std::string LinkSecurity::PeerIdentity(const grpc::ServerContextBase& context) {
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return "";
  const std::vector<grpc::string_ref> names = auth->FindPropertyValues("x509_common_name");
  if (names.empty()) return "";
  return std::string(names.front().data(), names.front().size());
}

Status LinkSecurity::Authorize(const grpc::ServerContextBase& context, const std::string& expected,
                               const std::string& action) const {
  if (!tls_) return Status::Ok();
  const std::string peer = PeerIdentity(context);
  if (peer == expected && !peer.empty()) return Status::Ok();
  return Status::PermissionDenied(action + " refused: the caller " +
                                  (peer.empty() ? std::string("showed no cluster certificate")
                                                : "is '" + peer + "'") +
                                  ", and only '" + expected + "' may");
}

}  // namespace ps
