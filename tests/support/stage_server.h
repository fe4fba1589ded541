// Test support: serves a GrpcStageService on 127.0.0.1 with a kernel-chosen port.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "transport/grpc_stage_service.h"

namespace ps::test {

// Starts a server for `service`; `*address` receives "127.0.0.1:PORT".
inline std::unique_ptr<grpc::Server> StartStageServer(GrpcStageService& service, std::string* address) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  AllowLargeFrames(builder);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  *address = "127.0.0.1:" + std::to_string(port);
  return server;
}

}  // namespace ps::test
