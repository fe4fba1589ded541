// A cluster's certificate authority on disk, made with OpenSSL: `pipeshard certs` creates the CA
// and one certificate per process, and every process checks its files with CheckIdentityFiles
// before it serves. Keys are EC P-256, certificates X.509 v3 signed with SHA-256; each leaf
// carries its identity as the subject CN and as a DNS name (gRPC checks the latter when a client
// names the identity it expects), plus any extra host names or IP addresses for plain clients.
// Thread-safety: free functions; two processes writing the same folder race (files are created
// exclusively, so the loser fails instead of overwriting).
#pragma once

#include <string>
#include <vector>

#include "common/util/status.h"

namespace ps::tls {

// The names of a folder made by `pipeshard certs`.
std::string AuthorityCertPath(const std::string& dir);  // DIR/ca.pem
std::string AuthorityKeyPath(const std::string& dir);   // DIR/ca.key
// DIR/<file_stem>.pem and .key; file_stem is "coordinator" or "worker-NAME".
std::string LeafCertPath(const std::string& dir, const std::string& file_stem);
std::string LeafKeyPath(const std::string& dir, const std::string& file_stem);

// Creates DIR (if missing), DIR/ca.key (mode 0600) and DIR/ca.pem, valid for `days`.
// InvalidArgument when they already exist (a CA is never silently replaced).
Status MakeAuthority(const std::string& dir, int days);

// Issues DIR/<file_stem>.pem/.key for `identity`, signed by the CA in DIR. `extra_names` are
// host names or IP addresses (IPv4/IPv6 text) added to the subject alternative names, so
// clients that verify the host name they dialled accept it. Refuses to overwrite.
Status IssueCertificate(const std::string& dir, const std::string& file_stem, const std::string& identity,
                        const std::vector<std::string>& extra_names, int days);

// Checks that the three PEM files load, that `key` belongs to `cert`, that `cert` was signed by
// `ca` and is valid now; returns the certificate's subject CN. Each error names the file.
Result<std::string> CheckIdentityFiles(const std::string& ca, const std::string& cert, const std::string& key);

// Ok for a name that can be an identity or a DNS name in a certificate: 1-64 characters of
// [A-Za-z0-9.-_]. `what` names the value in the error ("--name", "--san").
Status CheckCertificateName(const std::string& name, const std::string& what);

}  // namespace ps::tls
