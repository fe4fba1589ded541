#include "coordinator/cluster/worker_client.h"

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "transport/grpc_status.h"
#include "transport/tls/identities.h"

namespace ps::coord {

namespace {
std::chrono::system_clock::time_point DeadlineIn(double seconds) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(seconds));
}
}  // namespace

WorkerClient::WorkerClient(const std::string& address, const std::string& worker_name,
                           const std::shared_ptr<const LinkSecurity>& security)
    : address_(address),
      stub_(pipeshard::v1::Worker::NewStub(security->Connect(address, tls::WorkerIdentity(worker_name)))) {}

Result<pipeshard::v1::LoadShardResponse> WorkerClient::LoadShard(const pipeshard::v1::LoadShardRequest& request,
                                                                 double timeout_seconds,
                                                                 const std::function<std::string()>& give_up) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(timeout_seconds));
  pipeshard::v1::LoadShardResponse response;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  stub_->async()->LoadShard(&context, &request, &response, [&](grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    status = std::move(s);
    done = true;
    cv.notify_all();
  });
  std::string abandoned;
  std::unique_lock<std::mutex> lock(mu);
  while (!cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return done; })) {
    if (give_up && abandoned.empty()) {
      lock.unlock();
      abandoned = give_up();
      lock.lock();
      if (!abandoned.empty()) context.TryCancel();  // the callback still comes, then we return
    }
  }
  if (!abandoned.empty() && !status.ok()) return Status::Unavailable("LoadShard on " + address_ + " abandoned: " + abandoned);
  if (!status.ok()) return FromGrpcStatus(status, "LoadShard on " + address_);
  return response;
}

void WorkerClient::FreeSequenceAsync(std::vector<int32_t> seq_ids, uint64_t epoch, double timeout_seconds,
                                     std::function<void(Status)> done) {
  struct Call {
    grpc::ClientContext context;
    pipeshard::v1::FreeSequenceRequest request;
    pipeshard::v1::FreeSequenceResponse response;
  };
  auto call = std::make_shared<Call>();
  call->context.set_deadline(DeadlineIn(timeout_seconds));
  for (int32_t s : seq_ids) call->request.add_seq_ids(s);
  call->request.set_epoch(epoch);
  const std::string context = "FreeSequence on " + address_;
  stub_->async()->FreeSequence(&call->context, &call->request, &call->response,
                               [call, context, done = std::move(done)](grpc::Status status) {
                                 done(FromGrpcStatus(status, context));
                               });
}

}  // namespace ps::coord
