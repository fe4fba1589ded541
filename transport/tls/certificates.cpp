#include "transport/tls/certificates.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace ps::tls {

namespace {

struct BioFree { void operator()(BIO* b) const { BIO_free(b); } };
struct KeyFree { void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); } };
struct CertFree { void operator()(X509* c) const { X509_free(c); } };
struct StoreFree { void operator()(X509_STORE* s) const { X509_STORE_free(s); } };
struct StoreCtxFree { void operator()(X509_STORE_CTX* s) const { X509_STORE_CTX_free(s); } };
struct ExtFree { void operator()(X509_EXTENSION* e) const { X509_EXTENSION_free(e); } };
using Bio = std::unique_ptr<BIO, BioFree>;
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

// OpenSSL's queued error, as one line (and the queue emptied for the next call).
std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

// Writes `pem` to a new file with `mode`; never replaces an existing one.
Status WriteNewFile(const std::string& path, const std::string& pem, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return Status::InvalidArgument(path + " already exists (not replaced; remove it first)");
    return Status::IOError(path + ": " + std::strerror(errno));
  }
  size_t done = 0;
  while (done < pem.size()) {
    const ssize_t n = ::write(fd, pem.data() + done, pem.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(path.c_str());
      return Status::IOError(path + ": " + why);
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return Status::IOError(path + ": " + std::strerror(errno));
  return Status::Ok();
}

Result<std::string> KeyPem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Status::Internal("cannot encode a private key: " + OpenSslError());
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

Result<std::string> CertPem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return Status::Internal("cannot encode a certificate: " + OpenSslError());
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

Result<Key> LoadKey(const std::string& path) {
  Bio bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) return Status::NotFound(path + ": cannot open the key file (" + std::strerror(errno) + ")");
  Key key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return Status::InvalidArgument(path + ": not a PEM private key (" + OpenSslError() + ")");
  return key;
}

Result<Cert> LoadCert(const std::string& path) {
  Bio bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    return Status::NotFound(path + ": cannot open the certificate file (" + std::strerror(errno) + ")");
  }
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return Status::InvalidArgument(path + ": not a PEM certificate (" + OpenSslError() + ")");
  return cert;
}

Result<Key> NewKey() {
  Key key(EVP_EC_gen("P-256"));
  if (!key) return Status::Internal("cannot make an EC P-256 key: " + OpenSslError());
  return key;
}

std::string CommonName(X509* cert) {
  X509_NAME* subject = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) return "";
  std::string name(reinterpret_cast<char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  return name;
}

Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, ExtFree> extension(X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str()));
  if (!extension || X509_add_ext(cert, extension.get(), -1) != 1) {
    return Status::InvalidArgument("certificate extension '" + value + "': " + OpenSslError());
  }
  return Status::Ok();
}

// A certificate for `key` named `identity`, valid from an hour ago (clock skew) for `days`;
// self-signed when `issuer` is null.
Result<Cert> NewCertificate(EVP_PKEY* key, const std::string& identity, int days, X509* issuer) {
  Cert cert(X509_new());
  if (!cert) return Status::Internal("X509_new: " + OpenSslError());
  X509_set_version(cert.get(), 2);  // v3
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return Status::Internal("RAND_bytes: " + OpenSslError());
  serial[0] &= 0x7f;  // positive
  BIGNUM* number = BN_bin2bn(serial, sizeof serial, nullptr);
  ASN1_INTEGER* asn1_serial = number ? BN_to_ASN1_INTEGER(number, X509_get_serialNumber(cert.get())) : nullptr;
  BN_free(number);
  if (asn1_serial == nullptr) return Status::Internal("serial number: " + OpenSslError());
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("pipeshard"), -1, -1, 0);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(identity.c_str()),
                                 -1, -1, 0) != 1) {
    return Status::InvalidArgument("certificate name '" + identity + "': " + OpenSslError());
  }
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509_set_pubkey(cert.get(), key);
  return cert;
}

Status Sign(X509* cert, EVP_PKEY* key) {
  if (X509_sign(cert, key, EVP_sha256()) == 0) return Status::Internal("cannot sign the certificate: " + OpenSslError());
  return Status::Ok();
}

bool LooksLikeIp(const std::string& name) {
  ASN1_OCTET_STRING* ip = a2i_IPADDRESS(name.c_str());
  if (ip == nullptr) {
    ERR_clear_error();
    return false;
  }
  ASN1_OCTET_STRING_free(ip);
  return true;
}

}  // namespace

std::string AuthorityCertPath(const std::string& dir) { return dir + "/ca.pem"; }
std::string AuthorityKeyPath(const std::string& dir) { return dir + "/ca.key"; }
std::string LeafCertPath(const std::string& dir, const std::string& file_stem) { return dir + "/" + file_stem + ".pem"; }
std::string LeafKeyPath(const std::string& dir, const std::string& file_stem) { return dir + "/" + file_stem + ".key"; }

Status CheckCertificateName(const std::string& name, const std::string& what) {
  if (name.empty() || name.size() > 64) {
    return Status::InvalidArgument(what + " '" + name + "' must be 1 to 64 characters long");
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_' || c == ':';
    if (!ok) {
      return Status::InvalidArgument(what + " '" + name + "' may hold only letters, digits, '.', '-', '_' and ':' " +
                                     "(it goes into a certificate)");
    }
  }
  return Status::Ok();
}

Status MakeAuthority(const std::string& dir, int days) {
  if (days < 1) return Status::InvalidArgument("--days " + std::to_string(days) + " must be at least 1");
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return Status::IOError(dir + ": " + error.message());
  for (const std::string& path : {AuthorityCertPath(dir), AuthorityKeyPath(dir)}) {
    if (std::filesystem::exists(path)) {
      return Status::InvalidArgument(path + " already exists: this folder has a CA (remove it to make a new one)");
    }
  }
  PS_ASSIGN_OR_RETURN(Key key, NewKey());
  PS_ASSIGN_OR_RETURN(Cert cert, NewCertificate(key.get(), "pipeshard cluster CA", days, nullptr));
  PS_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  PS_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  PS_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  PS_RETURN_IF_ERROR(Sign(cert.get(), key.get()));
  PS_ASSIGN_OR_RETURN(std::string key_pem, KeyPem(key.get()));
  PS_ASSIGN_OR_RETURN(std::string cert_pem, CertPem(cert.get()));
  PS_RETURN_IF_ERROR(WriteNewFile(AuthorityKeyPath(dir), key_pem, 0600));
  return WriteNewFile(AuthorityCertPath(dir), cert_pem, 0644);
}

Status IssueCertificate(const std::string& dir, const std::string& file_stem, const std::string& identity,
                        const std::vector<std::string>& extra_names, int days) {
  if (days < 1) return Status::InvalidArgument("--days " + std::to_string(days) + " must be at least 1");
  PS_RETURN_IF_ERROR(CheckCertificateName(identity, "identity"));
  for (const std::string& name : extra_names) PS_RETURN_IF_ERROR(CheckCertificateName(name, "--san"));
  for (const std::string& path : {LeafCertPath(dir, file_stem), LeafKeyPath(dir, file_stem)}) {
    if (std::filesystem::exists(path)) return Status::InvalidArgument(path + " already exists (not replaced)");
  }
  PS_ASSIGN_OR_RETURN(Cert ca, LoadCert(AuthorityCertPath(dir)));
  PS_ASSIGN_OR_RETURN(Key ca_key, LoadKey(AuthorityKeyPath(dir)));
  if (X509_check_private_key(ca.get(), ca_key.get()) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument(AuthorityKeyPath(dir) + " is not the key of " + AuthorityCertPath(dir));
  }
  PS_ASSIGN_OR_RETURN(Key key, NewKey());
  PS_ASSIGN_OR_RETURN(Cert cert, NewCertificate(key.get(), identity, days, ca.get()));
  std::string names = "DNS:" + identity;
  for (const std::string& name : extra_names) {
    names += LooksLikeIp(name) ? ",IP:" : ",DNS:";
    names += name;
  }
  PS_RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE"));
  PS_RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_key_usage, "critical,digitalSignature,keyAgreement"));
  // Every process is both a server (its own port) and a client (the next hop, registration).
  PS_RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_ext_key_usage, "serverAuth,clientAuth"));
  PS_RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_subject_alt_name, names));
  PS_RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_authority_key_identifier, "keyid:always"));
  PS_RETURN_IF_ERROR(Sign(cert.get(), ca_key.get()));
  PS_ASSIGN_OR_RETURN(std::string key_pem, KeyPem(key.get()));
  PS_ASSIGN_OR_RETURN(std::string cert_pem, CertPem(cert.get()));
  PS_RETURN_IF_ERROR(WriteNewFile(LeafKeyPath(dir, file_stem), key_pem, 0600));
  return WriteNewFile(LeafCertPath(dir, file_stem), cert_pem, 0644);
}

Result<std::string> CheckIdentityFiles(const std::string& ca_path, const std::string& cert_path,
                                       const std::string& key_path) {
  PS_ASSIGN_OR_RETURN(Cert ca, LoadCert(ca_path));
  PS_ASSIGN_OR_RETURN(Cert cert, LoadCert(cert_path));
  PS_ASSIGN_OR_RETURN(Key key, LoadKey(key_path));
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument(key_path + " is not the private key of " + cert_path);
  }
  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> context(X509_STORE_CTX_new());
  if (!store || !context || X509_STORE_add_cert(store.get(), ca.get()) != 1 ||
      X509_STORE_CTX_init(context.get(), store.get(), cert.get(), nullptr) != 1) {
    return Status::Internal("cannot check " + cert_path + ": " + OpenSslError());
  }
  if (X509_verify_cert(context.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(context.get());
    ERR_clear_error();
    return Status::InvalidArgument(cert_path + " does not verify against the CA " + ca_path + ": " +
                                   X509_verify_cert_error_string(error));
  }
  const std::string name = CommonName(cert.get());
  if (name.empty()) return Status::InvalidArgument(cert_path + " has no subject CN (its identity)");
  return name;
}

}  // namespace ps::tls
