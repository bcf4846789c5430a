#include "worker/serve.h"

#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "worker/collective_mpi.h"
#include "worker/group_server.h"
#include "worker/mpi_link.h"
#include "worker/protocol/mpi_protocol.h"
#include "worker/protocol/mpi_util.h"
#include "worker/trainer.h"
#ifdef PERFLAW_WITH_NCCL
#include "worker/collective_nccl.h"
#endif

namespace perflaw::worker {
namespace {

namespace proto = protocol;

int Complain(const std::string& what) {
  std::cerr << "perflaw-worker serve: error: " << what << std::endl;
  return 1;
}

// Trains the group's points on this rank: every rank of the group runs it in step (data-parallel
// over the group's communicator; NCCL for CUDA points when built with it).
class GroupTrainer {
 public:
  GroupTrainer(const ServeOptions& options, MPI_Comm group)
      : options_(options), group_(group), collective_(group) {}

  PointResult operator()(const AttemptContext& attempt) {
    TrainOptions options;
    options.checkpoint_dir = attempt.order->checkpoint_dir;
    options.collective = &collective_;
    options.local_rank = LocalRank();
#ifdef PERFLAW_WITH_NCCL
    options.cuda_collective = [this](int device) { return nccl_.Get(device); };
#endif
    options.cache_dir = options_.cache_dir;
    options.live = attempt.live;
    options.stop = attempt.stop;
    options.on_epoch = attempt.on_epoch;
    return TrainPoint(*attempt.config, options);
  }

 private:
  const ServeOptions& options_;
  MPI_Comm group_;
  MpiCollective collective_;
#ifdef PERFLAW_WITH_NCCL
  NcclGroup nccl_{group_};  // GPU gradients of the group's points (made on the first CUDA point)
#endif
};

}  // namespace

int Serve(const ServeOptions& options) {
  int rank = 0, size = 0, provided = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Query_thread(&provided);
  if (rank == 0) return Complain("world rank 0 is the orchestrator's (perflaw orchestrate)");
  if (provided < MPI_THREAD_MULTIPLE) return Complain("MPI does not provide MPI_THREAD_MULTIPLE");

  int handshake[proto::kHandshakeInts] = {0, 0};
  if (MPI_Bcast(handshake, proto::kHandshakeInts, MPI_INT, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
    return Complain("start-up handshake failed");
  if (handshake[0] != proto::kVersion) {
    Complain("protocol version " + std::to_string(handshake[0]) + " from the orchestrator, " +
             std::to_string(proto::kVersion) +
             " here: use perflaw and perflaw-worker of one build");
    return 2;
  }
  const int ranks_per_point = handshake[1];
  if (ranks_per_point <= 0) return 2;  // the orchestrator explains

  MpiComm group, control;
  if (MPI_Comm_split(MPI_COMM_WORLD, (rank - 1) / ranks_per_point, rank, group.out()) !=
          MPI_SUCCESS ||
      MPI_Comm_dup(MPI_COMM_WORLD, control.out()) != MPI_SUCCESS)
    return Complain("creating the worker group's communicators failed");
  MPI_Comm_set_errhandler(group.get(), MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(control.get(), MPI_ERRORS_RETURN);
  std::vector<char> host(proto::kHostNameBytes, '\0');
  int len = 0;
  MPI_Get_processor_name(host.data(), &len);
  if (MPI_Gather(host.data(), proto::kHostNameBytes, MPI_CHAR, nullptr, 0, MPI_CHAR, 0,
                 control.get()) != MPI_SUCCESS)
    return Complain("host name gather failed");

  GroupTrainer trainer(options, group.get());
  MpiGroupChannel channel(group.get());
  std::optional<MpiControlLink> link;
  if (channel.rank() == 0) link.emplace(control.get());
  GroupServerOptions server_options;
  server_options.terminate = options.terminate;
  GroupServer server(server_options, &channel, link ? &*link : nullptr,
                     [&trainer](const AttemptContext& attempt) { return trainer(attempt); });
  StatusOr<GroupServerSummary> summary = server.Run();
  if (!summary.ok()) return Complain(summary.status().message());
  if (summary->end != ServeEnd::kShutdown) return Complain(summary->message);
  return 0;
}

}  // namespace perflaw::worker
