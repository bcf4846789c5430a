// perflaw-worker: trains and evaluates grid points.
//   perflaw-worker train --point POINT.json --out RESULT.json [--checkpoint-dir DIR]
//   perflaw-worker serve [--cache-dir DIR]   (a worker rank of a sweep's MPI job; worker/serve.h)
// Exit codes: 0 ok; 1 the point failed or diverged (the result file says why); 2 bad input (a
// malformed point file: nothing written; a bad dataset: a failed result is written); 3 interrupted
// by SIGTERM or SIGUSR1 (a checkpoint is written when --checkpoint-dir is given; rerun the same
// command to resume).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "worker/collective.h"
#include "worker/heap.h"
#include "worker/point_config.h"
#include "worker/result.h"
#include "worker/trainer.h"
#ifdef PERFLAW_WITH_MPI
#include "worker/collective_mpi.h"
#include "worker/serve.h"
#endif
#ifdef PERFLAW_WITH_NCCL
#include "worker/collective_nccl.h"
#endif

namespace perflaw::worker {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop.store(true); }

int Fail(const std::string& msg, int code) {
  std::cerr << "perflaw-worker: error: " << msg << "\n";
  return code;
}

// Under an MPI launcher every rank trains the point data-parallel; rank 0 writes the result.
// Whether the result can be written to `out_path`, tried before any training: its temporary file
// (RESULT.json.tmp, as WriteResultFile writes it) is created and removed again.
Status CheckWritable(const std::string& out_path) {
  std::error_code ec;
  if (std::filesystem::is_directory(out_path, ec))
    return Status::InvalidArgument("--out " + out_path + " is a directory; name the result file");
  const std::string probe = out_path + ".tmp";
  const bool existed = std::filesystem::exists(probe, ec);
  std::ofstream out(probe, std::ios::app);
  if (!out)
    return Status::InvalidArgument("--out " + out_path + ": cannot write there (" +
                                   std::strerror(errno) + ")");
  out.close();
  if (!existed) std::filesystem::remove(probe, ec);
  return Status::Ok();
}

int Train(const std::string& point_path, const std::string& out_path, TrainOptions options) {
  StatusOr<PointConfig> config = LoadPointConfig(point_path);
  if (!config.ok()) return Fail(config.status().message(), 2);
  // Every rank checks, so that none starts training for a result that could not be kept.
  if (Status out = CheckWritable(out_path); !out.ok()) return Fail(out.message(), 2);
  std::signal(SIGTERM, OnStopSignal);
  std::signal(SIGUSR1, OnStopSignal);
  options.stop = &g_stop;
  PointResult result = TrainPoint(*config, options);
  const int rank = options.collective ? options.collective->rank() : 0;
  if (rank == 0) {
    Status written = WriteResultFile(result, out_path);
    if (!written.ok()) return Fail(written.message(), 1);
  }
  switch (result.status) {
    case RunStatus::kOk:
      if (rank == 0) std::cout << SummaryLine(result) << std::endl;
      return 0;
    case RunStatus::kInterrupted:
      return Fail(result.message, 3);
    default:
      return Fail(std::string(RunStatusName(result.status)) + ": " + result.message,
                  result.user_error ? 2 : 1);
  }
}

#ifdef PERFLAW_WITH_MPI
int ServeSweep(int* argc, char*** argv, ServeOptions options) {
  if (!LaunchedByMpi())
    return Fail("serve runs as a worker rank of an MPI job (perflaw run / perflaw orchestrate)", 2);
  std::signal(SIGTERM, OnStopSignal);
  std::signal(SIGUSR1, OnStopSignal);  // what mpirun passes on at once (perflaw run --hostfile)
  options.terminate = &g_stop;
  MpiSession mpi(argc, argv, MPI_THREAD_MULTIPLE);
  return Serve(options);
}
#endif

}  // namespace
}  // namespace perflaw::worker

namespace {

// `path` with every "%h" replaced by this host's name (the node's, on a cluster): a node-local
// cache given once on mpirun's command line (perflaw run --node-cache-dir).
std::string ExpandHostName(std::string path) {
  const size_t at = path.find("%h");
  if (at == std::string::npos) return path;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown-host");
  for (size_t i = at; i != std::string::npos; i = path.find("%h", i + std::strlen(host)))
    path.replace(i, 2, host);
  return path;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"perflaw-worker: trains and evaluates one grid point (a model on a dataset)"};
  app.require_subcommand(1);
  CLI::App* train =
      app.add_subcommand("train", "Run one point standalone and write its result JSON");
  std::string point, out, heap = "tuned";
  perflaw::worker::TrainOptions options;
  app.add_option("--heap", heap,
                 "The allocator's set-up: tuned (default), or glibc's defaults (for benchmarks: "
                 "scripts/bench/heap.sh)");
  train->add_option("--point", point, "The point configuration (JSON)")->required();
  train->add_option("--out", out, "Where to write the result JSON")->required();
  train->add_option(
      "--checkpoint-dir", options.checkpoint_dir,
      "Checkpoint at epoch ends and on SIGTERM/SIGUSR1; resume from a checkpoint found there");
  train->add_option("--cache-dir", options.cache_dir, "Dataset cache directory (default: apen's)");
#ifdef PERFLAW_WITH_MPI
  CLI::App* serve = app.add_subcommand(
      "serve", "Be a worker rank of a sweep's MPI job: train the points rank 0 sends");
  perflaw::worker::ServeOptions serve_options;
  serve->add_option("--cache-dir", serve_options.cache_dir,
                    "Dataset cache directory (default: apen's); %h becomes this node's host name, "
                    "so one path names a directory per node");
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "perflaw-worker: error: " << e.what() << "\n";
    return 2;
  }
  perflaw::StatusOr<perflaw::worker::HeapMode> mode = perflaw::worker::ParseHeapMode(heap);
  if (!mode.ok()) return perflaw::worker::Fail(mode.status().message(), 2);
  perflaw::worker::HeapOptions heap_options;
  heap_options.mode = *mode;
  if (perflaw::Status st = perflaw::worker::ConfigureHeap(heap_options); !st.ok())
    return perflaw::worker::Fail(st.message(), 1);
#ifdef PERFLAW_WITH_MPI
  if (serve->parsed()) {
    serve_options.cache_dir = ExpandHostName(serve_options.cache_dir);
    return perflaw::worker::ServeSweep(&argc, &argv, serve_options);
  }
  if (perflaw::worker::LaunchedByMpi()) {
    perflaw::worker::MpiSession mpi(&argc, &argv);
    perflaw::worker::MpiCollective world(MPI_COMM_WORLD);
    options.collective = &world;
    options.local_rank = perflaw::worker::LocalRank();
#ifdef PERFLAW_WITH_NCCL
    perflaw::worker::NcclGroup nccl(MPI_COMM_WORLD);  // freed before MPI is finalised
    options.cuda_collective = [&nccl](int device) { return nccl.Get(device); };
#endif
    return perflaw::worker::Train(point, out, options);
  }
#endif
  return perflaw::worker::Train(point, out, options);
}
