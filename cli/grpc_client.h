// How the client commands (generate, status, bench --server) reach a coordinator: a channel
// (plain, or TLS verified against --ca) that must connect within a timeout, and gRPC failures
// turned into one ps::Status that names the server.
// Thread-safety: free functions; a returned channel is safe to share between threads.
#pragma once

#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "common/util/status.h"
#include "transport/grpc_status.h"

namespace ps::cli {

// Opens a channel to `server` (HOST:PORT) and waits until it is connected. With `ca_file` (a
// PEM file, --ca) the channel is TLS and the server's certificate must come from that CA and name
// the host dialled. Unavailable, naming the server, when it is not connected after
// `timeout_seconds`; the calls made on the channel afterwards carry no deadline of their own.
// `max_receive_bytes` > 0 raises gRPC's 4 MiB limit on answers (a trace).
Result<std::shared_ptr<grpc::Channel>> ConnectToServer(const std::string& server, double timeout_seconds,
                                                       const std::string& ca_file, int max_receive_bytes = 0);

// The API key to send: `flag` (--api-key) when given, else $PIPESHARD_API_KEY, else none.
std::string ApiKey(const std::string& flag);
// Adds `authorization: Bearer KEY` to a call when the key is not empty.
void AddApiKey(grpc::ClientContext* context, const std::string& key);
// --api-key (the environment variable keeps it out of `ps`) and --ca on a client command.
void AddServerAccessOptions(CLI::App& cmd, std::string& key, std::string& ca_file);

// A failed call's Status comes from ps::FromGrpcStatus (transport/grpc_status.h), the one mapping
// every edge shares: bad-input codes exit 2, the others 1.

}  // namespace ps::cli
