// Starting a sweep's MPI job from `perflaw run` / `perflaw resume` and keeping it tied to us:
// how many ranks this machine can hold, mpirun started so that it dies with us, and the channel
// through which rank 0 reports its exit code (docs/running.md, "Failure modes").
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "apen/status.h"

namespace perflaw::orchestrator {

// How many ranks (orchestrator + workers) a job started here may have.
struct RankCapacity {
  long long max_ranks = 0;
  std::string basis;  // what bounds it, for the error message ("2 CPUs x 4", "SLURM_NTASKS=8 x 4")
};

// Ranks per CPU (or Slurm task) we accept: mpirun runs with --oversubscribe, and a rank waiting for
// work costs little CPU, but every rank loads LibTorch (about kRankMemoryBytes resident).
inline constexpr long long kRanksPerCpu = 4;
inline constexpr long long kRankMemoryBytes = 160ll << 20;

// Inside a Slurm allocation (SLURM_NTASKS set): kRanksPerCpu x its tasks. Elsewhere: kRanksPerCpu x
// the CPUs this process may use, and no more than MemAvailable / kRankMemoryBytes.
RankCapacity RankCapacityHere();

// How rank 0 tells `perflaw run` its exit code: a listening Unix socket in the abstract namespace
// (nothing on disk, so nothing is left behind by a job that dies, whoever dies first). Rank 0
// connects and writes "CODE\n"; the connection waits in the backlog until `perflaw run` reads it
// after mpirun has ended. When `perflaw run` is gone, the connect fails and nothing happens.
class ExitCodeChannel {
 public:
  static StatusOr<ExitCodeChannel> Create();
  ExitCodeChannel() = default;  // listens nowhere (StatusOr needs it)
  ExitCodeChannel(ExitCodeChannel&& other) noexcept;
  ExitCodeChannel& operator=(ExitCodeChannel&&) = delete;
  ExitCodeChannel(const ExitCodeChannel&) = delete;
  ~ExitCodeChannel();

  // The name to give rank 0 (--exit-code-socket).
  const std::string& name() const { return name_; }
  // The code rank 0 reported (from a process of this user), or nullopt when it never did.
  std::optional<int> Read() const;

 private:
  std::string name_;
  int fd_ = -1;
};

// Rank 0's side: sends `code` to the channel `name`; OK (and nothing sent) when nobody listens.
Status ReportExitCode(const std::string& name, int code);

// Starts argv[0] (an absolute path) with stdin from /dev/null, in its own process group, SIGINT,
// SIGTERM and SIGHUP at their defaults, and SIGTERM sent to it when this process dies (however it
// dies): mpirun then ends the job, which never runs on unseen.
StatusOr<pid_t> SpawnTied(const std::vector<std::string>& argv,
                          const std::vector<std::string>& env);

// The processes whose parent is `parent`.
std::vector<pid_t> ChildrenOf(pid_t parent);

}  // namespace perflaw::orchestrator
