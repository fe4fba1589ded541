#include "cli/grpc_client.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ps::cli {

Result<std::shared_ptr<grpc::Channel>> ConnectToServer(const std::string& server, double timeout_seconds,
                                                       const std::string& ca_file, int max_receive_bytes) {
  if (server.empty() || server.find(':') == std::string::npos) {
    return Status::InvalidArgument("--server '" + server + "' is not HOST:PORT");
  }
  grpc::ChannelArguments channel_args;
  if (max_receive_bytes > 0) channel_args.SetMaxReceiveMessageSize(max_receive_bytes);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!ca_file.empty()) {
    std::ifstream in(ca_file, std::ios::binary);
    std::ostringstream pem;
    if (!in || !(pem << in.rdbuf()) || pem.str().find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return Status::InvalidArgument("--ca " + ca_file + ": not a readable PEM certificate file");
    }
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = pem.str();
    credentials = grpc::SslCredentials(options);
  }
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(server, credentials, channel_args);
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
  if (!channel->WaitForConnected(deadline)) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g", timeout_seconds);
    // A TLS mismatch looks the same as no server from here: name both.
    return Status::Unavailable(server + ": cannot connect within " + seconds + " s (is the coordinator running? " +
                               (ca_file.empty() ? std::string("if it serves TLS, give --ca")
                                                : "does it serve TLS with a certificate from --ca " + ca_file +
                                                      " naming this host?") +
                               ")");
  }
  return channel;
}

std::string ApiKey(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("PIPESHARD_API_KEY");
  return env != nullptr ? env : "";
}

void AddApiKey(grpc::ClientContext* context, const std::string& key) {
  if (!key.empty()) context->AddMetadata("authorization", "Bearer " + key);
}

void AddServerAccessOptions(CLI::App& cmd, std::string& key, std::string& ca_file) {
  cmd.add_option("--api-key", key, "API key for a server started with --api-key-file (default: $PIPESHARD_API_KEY)");
  cmd.add_option("--ca", ca_file, "connect with TLS and trust the server only if its certificate comes from this CA "
                                  "(PEM: the cluster's ca.pem)");
}

}  // namespace ps::cli
