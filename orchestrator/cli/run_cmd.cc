// perflaw run / resume / orchestrate: running a sweep as one MPI job (docs/running.md).
//
//   perflaw run SWEEP.yaml [--np N] [--db DB]     validate, then start on this machine or, with
//   perflaw resume DB [--np N] [--retry-failed]     --hostfile F, on F's nodes (both through
//                                                    mpirun, MPMD):
//       mpirun -np 1 perflaw orchestrate ... : -np N perflaw-worker serve
//   perflaw orchestrate SWEEP.yaml [--db DB]      rank 0 inside a launch the user made
//   perflaw orchestrate --resume DB [--retry-failed]
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "orchestrator/cli/cli.h"
#include "orchestrator/run/hostfile.h"
#include "orchestrator/run/launch.h"
#include "orchestrator/schedule/mpi_transport.h"
#include "orchestrator/run/runner.h"

extern char** environ;

namespace perflaw::cli {

namespace {
int g_exit_code = 0;
}  // namespace

void SetExitCode(int code) { g_exit_code = code; }
int RequestedExitCode() { return g_exit_code; }

namespace {

namespace fs = std::filesystem;
using orchestrator::RunPlan;

struct RunArgs {
  std::string sweep;   // run / orchestrate
  std::string db;      // run / orchestrate: --db; resume: the positional DB
  std::string resume;  // orchestrate --resume DB
  bool retry_failed = false;
  long long np = 0;  // signed: CLI11 2.1.2 would wrap "-1" into a huge unsigned value
  std::string progress = "auto";
  std::string exit_code_socket;  // orchestrate: report the exit code there, exit 0 (perflaw run)
  std::string hostfile;          // run / resume: the nodes (docs/cluster.md)
  bool span_nodes = false;       // run / resume: a worker group may straddle nodes
  std::string node_cache_dir;    // run / resume: the workers' dataset cache ("%h": the node's name)
};

// ---- signals ----

std::atomic<bool> g_stop{false};
std::atomic<int> g_signals{0};
static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free,
              "used from signal handlers");

extern "C" void OnStopSignal(int) {
  g_stop.store(true);
  g_signals.fetch_add(1);
}

void InstallHandlers(void (*handler)(int)) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  // SIGUSR1: what mpirun forwards to every rank at once (a job on a hostfile's nodes, below).
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaction(sig, &sa, nullptr);
}

// ---- orchestrate ----

StatusOr<orchestrator::ProgressMode> ProgressModeOf(const std::string& name) {
  if (name == "auto") {
    return isatty(STDERR_FILENO) ? orchestrator::ProgressMode::kTty
                                 : orchestrator::ProgressMode::kLines;
  }
  std::optional<orchestrator::ProgressMode> mode = orchestrator::ParseProgressMode(name);
  if (!mode) return Status::InvalidArgument("--progress: expected auto, tty, lines or none");
  return *mode;
}

Status CheckOrchestrateArgs(const RunArgs& a) {
  if (a.sweep.empty() == a.resume.empty())
    return Status::InvalidArgument(a.sweep.empty() ? "give SWEEP.yaml or --resume DB"
                                                   : "give SWEEP.yaml or --resume DB, not both");
  if (!a.resume.empty() && !a.db.empty())
    return Status::InvalidArgument("--db goes with SWEEP.yaml; --resume names the database");
  if (a.retry_failed && a.resume.empty())
    return Status::InvalidArgument("--retry-failed goes with --resume DB");
  return Status::Ok();
}

// Groups that never answered again (a rank stopped or hung): MPI_Finalize would wait for them
// forever, so the job must be ended with MPI_Abort instead.
int HungGroups(const orchestrator::RunOutcome& outcome) {
  int hung = 0;
  for (const orchestrator::GroupSummary& g : outcome.scheduler.groups)
    hung += g.state == orchestrator::GroupState::kUnresponsive;
  return hung;
}

// Runs rank 0's side of the job. Sets *hung when groups did not answer at the end; MPI is then left
// initialized for the caller's MPI_Abort.
Status OrchestrateJob(const RunArgs& a, int* hung) {
  PERFLAW_RETURN_IF_ERROR(CheckOrchestrateArgs(a));
  StatusOr<orchestrator::ProgressMode> mode = ProgressModeOf(a.progress);
  if (!mode.ok()) return mode.status();
  StatusOr<std::unique_ptr<orchestrator::MpiRuntime>> mpi =
      orchestrator::MpiRuntime::Init(nullptr, nullptr);
  if (!mpi.ok()) return mpi.status();
  if ((*mpi)->world_rank() != 0)
    return Status::InvalidArgument("perflaw orchestrate must be world rank 0 of the MPI job");
  StatusOr<RunPlan> plan = a.resume.empty() ? orchestrator::PlanRun(a.sweep, a.db)
                                            : orchestrator::PlanResume(a.resume, a.retry_failed);
  if (!plan.ok()) {
    // The handshake with 0 ranks per point tells the waiting workers to exit.
    (void)orchestrator::MpiTransport::Create(0);
    return plan.status();
  }
  StatusOr<std::unique_ptr<orchestrator::MpiTransport>> transport =
      orchestrator::MpiTransport::Create(static_cast<int>(plan->sweep.resources.ranks_per_point));
  if (!transport.ok()) return transport.status();
  orchestrator::MpiTransport* t = transport->get();
  InstallHandlers(OnStopSignal);

  orchestrator::RunOptions options;
  options.progress = *mode;
  options.stop = &g_stop;
  options.placement.hosts = [t](int g) { return t->GroupHosts(g); };
  options.placement.ranks = [t](int g) { return t->GroupRanks(g); };
  options.scheduler.progress_interval = 1.0;  // the progress line's clock, and stop polling
  const orchestrator::SteadyClock clock;
  StatusOr<orchestrator::RunOutcome> outcome =
      orchestrator::ExecuteRun(*plan, t, clock, options, std::cout, std::cerr);
  *hung = outcome.ok() ? HungGroups(*outcome) : 0;
  Status flushed = *hung > 0 ? Status::Ok() : t->Flush(10.0);
  transport->reset();
  if (*hung > 0) {
    (void)mpi->release();  // not finalized: the caller aborts the job
  } else {
    mpi->reset();  // MPI_Finalize: the workers have their Shutdown
  }
  if (!outcome.ok()) return outcome.status();
  if (!flushed.ok()) std::cerr << "perflaw: warning: " << flushed.message() << std::endl;
  SetExitCode(outcome->exit_code);
  return Status::Ok();
}

// With --exit-code-socket (how `perflaw run` starts rank 0) the outcome goes to `perflaw run` and
// rank 0 exits 0: to mpirun a non-zero rank is a crashed job, and it says so in a large box even
// for a sweep that ended as designed with a FAILED point (1) or was stopped (3). A user's own
// launch (srun, a batch script) gets the real code, which its scheduler records.
Status Orchestrate(const RunArgs& a) {
  int hung = 0;
  Status st = OrchestrateJob(a, &hung);
  const int code = st.ok() ? RequestedExitCode() : ExitCodeFor(st);
  if (!a.exit_code_socket.empty()) {
    if (!st.ok()) PrintError(st.message());
    PERFLAW_RETURN_IF_ERROR(orchestrator::ReportExitCode(a.exit_code_socket, code));
    SetExitCode(0);
    st = Status::Ok();
  }
  if (hung > 0) {
    std::cerr << "perflaw: " << hung
              << " worker group(s) stopped answering and were not waited for: ending the MPI "
                 "job (mpirun reports the abort below)"
              << std::endl;
    MPI_Abort(MPI_COMM_WORLD, code);
  }
  return st;
}

// ---- run / resume: start mpirun ----

StatusOr<std::string> SelfDir() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return Status::Internal("cannot find this executable: " + ec.message());
  return self.parent_path().string();
}

// The first executable `name` on PATH, or "".
std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string rest = path ? path : "";
  size_t start = 0;
  while (start <= rest.size()) {
    const size_t end = rest.find(':', start);
    const std::string dir = rest.substr(start, end == std::string::npos ? end : end - start);
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return "";
}

StatusOr<long long> WorkerRanks(const RunArgs& a, bool np_given, const RunPlan& plan) {
  if (a.span_nodes && a.hostfile.empty())
    return Status::InvalidArgument("--span-nodes goes with --hostfile");
  const long long per_point = plan.sweep.resources.ranks_per_point;
  const long long np = np_given ? a.np : static_cast<long long>(plan.sweep.resources.workers);
  const std::string what = np_given ? "--np" : "resources.workers";
  if (np < 1 || np % per_point != 0) {
    return Status::InvalidArgument(what + " must be a positive multiple of " +
                                   "resources.ranks_per_point (" + std::to_string(per_point) +
                                   "), got " + std::to_string(np));
  }
  if (!a.hostfile.empty()) return np;  // the hostfile's slots bound it (PlaceRanks)
  const orchestrator::RankCapacity capacity = orchestrator::RankCapacityHere();
  if (np >= capacity.max_ranks) {
    return Status::InvalidArgument(
        what + " " + std::to_string(np) + ": a job of " + std::to_string(np) +
        " worker ranks + the orchestrator does not fit here (at most " +
        std::to_string(capacity.max_ranks) + " ranks: " + capacity.basis + ")");
  }
  return np;
}

std::vector<std::string> ChildEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  if (::geteuid() == 0) {  // Open MPI refuses root unless told twice
    env.emplace_back("OMPI_ALLOW_RUN_AS_ROOT=1");
    env.emplace_back("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1");
  }
  return env;
}

// The first SIGINT/SIGTERM/SIGHUP is passed on as SIGTERM (and SIGCONT, for a stopped rank) to the
// ranks themselves once they all run: mpirun's own SIGTERM handling sends them SIGCONT at once but
// SIGTERM only odls_base_sigkill_timeout seconds later (and SIGKILL as long again after that;
// measured with Open MPI 4.1), which is no time to checkpoint at its default of 1 s. Before all
// ranks run nothing can need a checkpoint, and mpirun may still be starting more: the whole process
// group gets SIGTERM. A second signal kills everything at once (resume closes the attempts as
// interrupted). On a hostfile's nodes the ranks are not ours to signal (mpirun's children are the
// agents that reach the nodes): mpirun gets SIGUSR1, which it forwards to every rank at once, and
// the ranks stop on it as on SIGTERM.
void SignalJob(pid_t mpirun, long long ranks, bool first, bool on_nodes) {
  const std::vector<pid_t> started = orchestrator::ChildrenOf(mpirun);
  if (!first) {
    for (pid_t rank : started) ::kill(rank, SIGKILL);
    ::kill(-mpirun, SIGKILL);
    return;
  }
  if (on_nodes) {
    ::kill(mpirun, SIGUSR1);
    return;
  }
  if (static_cast<long long>(started.size()) < ranks) {
    ::kill(-mpirun, SIGTERM);
    return;
  }
  for (pid_t rank : started) {
    ::kill(rank, SIGTERM);
    ::kill(rank, SIGCONT);
  }
}

// Waits for mpirun (which runs `ranks` ranks) and returns its exit code, passing signals on.
StatusOr<int> WaitForChild(pid_t pid, long long ranks, bool on_nodes) {
  int handled = 0;
  while (true) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return Status::Internal("mpirun ended by signal " + std::to_string(WTERMSIG(status)));
    }
    if (r < 0 && errno != EINTR) {
      return Status::Internal(std::string("waiting for mpirun: ") + std::strerror(errno));
    }
    const int signals = g_signals.load();
    if (signals > handled) {
      if (handled == 0) {
        std::cerr << "\nperflaw: stopping: the workers checkpoint their points and the sweep is "
                     "closed (a second signal kills the job at once)"
                  << std::endl;
      }
      SignalJob(pid, ranks, handled == 0, on_nodes);
      handled = signals;
    }
    ::usleep(50 * 1000);
  }
}

// With --hostfile: how many ranks each node gets, after checking that the nodes hold the job
// (empty without a hostfile). Nothing is written.
StatusOr<std::vector<orchestrator::HostSlots>> PlanPlacement(const RunArgs& a, const RunPlan& plan,
                                                             long long workers) {
  if (a.hostfile.empty()) return std::vector<orchestrator::HostSlots>{};
  StatusOr<std::vector<orchestrator::HostSlots>> nodes = orchestrator::ReadHostfile(a.hostfile);
  if (!nodes.ok()) return nodes.status();
  StatusOr<std::vector<orchestrator::HostSlots>> placed =
      orchestrator::PlaceRanks(*nodes, workers, plan.sweep.resources.ranks_per_point, a.span_nodes);
  if (!placed.ok())
    return Status::InvalidArgument("--hostfile " + a.hostfile + ": " + placed.status().message());
  return placed;
}

// mpirun's placement options. On nodes: their list with each node's rank count, written to
// WORK_DIR/mpirun-hosts, which --map-by slot fills in rank order. On this machine alone: any
// number of ranks (--oversubscribe).
StatusOr<std::vector<std::string>> PlacementArgs(
    const RunPlan& plan, const std::vector<orchestrator::HostSlots>& placed) {
  if (placed.empty()) return std::vector<std::string>{"--oversubscribe"};
  std::error_code ec;
  fs::create_directories(plan.sweep.work_dir, ec);
  const std::string path = plan.sweep.work_dir + "/mpirun-hosts";
  std::ofstream out(path, std::ios::trunc);
  out << orchestrator::RenderHostfile(placed);
  out.close();
  if (!out) return Status::IoError("cannot write " + path);
  return std::vector<std::string>{"--hostfile", path, "--map-by", "slot", "--bind-to", "none"};
}

// perflaw run / resume: the plan was validated (nothing written); start the job and wait.
Status LaunchJob(const RunArgs& a, const RunPlan& plan, long long workers,
                 const std::vector<orchestrator::HostSlots>& placed,
                 const std::vector<std::string>& orchestrate) {
  PERFLAW_RETURN_IF_ERROR(orchestrator::WriterLock::CheckFree(plan.db_path));
  StatusOr<std::string> dir = SelfDir();
  if (!dir.ok()) return dir.status();
  const std::string self = *dir + "/perflaw", worker = *dir + "/perflaw-worker";
  if (::access(worker.c_str(), X_OK) != 0)
    return Status::NotFound(worker +
                            " not found: build the worker (target perflaw-worker) next "
                            "to perflaw");
  const std::string mpirun = FindOnPath("mpirun");
  if (mpirun.empty()) return Status::NotFound("mpirun not found on PATH (install openmpi-bin)");
  std::string mode = a.progress;
  if (mode == "auto") mode = isatty(STDERR_FILENO) ? "tty" : "lines";

  StatusOr<std::vector<std::string>> placement = PlacementArgs(plan, placed);
  if (!placement.ok()) return placement.status();

  StatusOr<orchestrator::ExitCodeChannel> channel = orchestrator::ExitCodeChannel::Create();
  if (!channel.ok()) return channel.status();
  std::vector<std::string> argv = {mpirun};
  argv.insert(argv.end(), placement->begin(), placement->end());
  argv.insert(argv.end(), {"-np", "1", self, "orchestrate"});
  argv.insert(argv.end(), orchestrate.begin(), orchestrate.end());
  const std::string cache =
      a.node_cache_dir.empty() ? plan.sweep.work_dir + "/cache" : a.node_cache_dir;
  argv.insert(argv.end(), {"--progress", mode, "--exit-code-socket", channel->name(), ":", "-np",
                           std::to_string(workers), worker, "serve", "--cache-dir", cache});
  // No rank of a job on this work_dir runs before or after ours (the writer lock): a checkpoint's
  // temporary file then is what a rank killed mid-write (kill -9, or the end of an aborted job)
  // left behind.
  orchestrator::RemoveStaleCheckpointTemporaries(plan.sweep.work_dir);
  InstallHandlers(OnStopSignal);
  StatusOr<pid_t> pid = orchestrator::SpawnTied(argv, ChildEnvironment());
  if (!pid.ok()) return pid.status();
  StatusOr<int> code = WaitForChild(*pid, workers + 1, !placed.empty());
  orchestrator::RemoveStaleCheckpointTemporaries(plan.sweep.work_dir);
  if (!code.ok()) return code.status();
  // The orchestrator's: 0 done, 1 failed points or error, 2 input, 3 left pending. It wins over
  // mpirun's own code (non-zero when a rank died or the job was aborted for a hung group); without
  // it rank 0 never got to the end, and mpirun's code is all there is.
  if (std::optional<int> reported = channel->Read()) {
    SetExitCode(*reported);
  } else if (*code != 0) {
    if (!a.hostfile.empty()) {
      std::cerr << "perflaw: the MPI job ended before the orchestrator could report (mpirun exit "
                   "code "
                << *code
                << "): a rank or a node was lost (mpirun names it above); completed points are "
                   "kept: continue with perflaw resume "
                << plan.db_path << " --hostfile FILE naming the nodes left" << std::endl;
    }
    SetExitCode(*code);
  } else {
    return Status::Internal("mpirun ended without the orchestrator's exit code");
  }
  return Status::Ok();
}

Status Run(const RunArgs& a, bool np_given) {
  StatusOr<orchestrator::ProgressMode> mode = ProgressModeOf(a.progress);
  if (!mode.ok()) return mode.status();
  StatusOr<RunPlan> plan = orchestrator::PlanRun(a.sweep, a.db);
  if (!plan.ok()) return plan.status();
  StatusOr<long long> np = WorkerRanks(a, np_given, *plan);
  if (!np.ok()) return np.status();
  StatusOr<std::vector<orchestrator::HostSlots>> placed = PlanPlacement(a, *plan, *np);
  if (!placed.ok()) return placed.status();
  const std::string sweep = fs::absolute(a.sweep).string();
  return LaunchJob(a, *plan, *np, *placed, {sweep, "--db", plan->db_path});
}

Status Resume(const RunArgs& a, bool np_given) {
  StatusOr<orchestrator::ProgressMode> mode = ProgressModeOf(a.progress);
  if (!mode.ok()) return mode.status();
  StatusOr<RunPlan> plan = orchestrator::PlanResume(a.db, a.retry_failed);
  if (!plan.ok()) return plan.status();
  StatusOr<long long> np = WorkerRanks(a, np_given, *plan);
  if (!np.ok()) return np.status();
  StatusOr<std::vector<orchestrator::HostSlots>> placed = PlanPlacement(a, *plan, *np);
  if (!placed.ok()) return placed.status();
  std::vector<std::string> args = {"--resume", plan->db_path};
  if (a.retry_failed) args.push_back("--retry-failed");
  return LaunchJob(a, *plan, *np, *placed, args);
}

void AddProgressOption(CLI::App* sub, RunArgs* a) {
  sub->add_option("--progress", a->progress,
                  "progress line: auto (tty on a terminal, else lines) | tty | lines | none")
      ->capture_default_str();
}

// run / resume: where the job's ranks go (docs/cluster.md, "Multi-node with a hostfile").
void AddNodeOptions(CLI::App* sub, RunArgs* a) {
  sub->add_option("--hostfile", a->hostfile,
                  "run on these nodes (lines 'HOST slots=N'): the orchestrator on the first, "
                  "worker groups filling the nodes in order");
  sub->add_flag("--span-nodes", a->span_nodes,
                "with --hostfile: let a worker group straddle nodes (default: whole groups per "
                "node)");
  sub->add_option("--node-cache-dir", a->node_cache_dir,
                  "the workers' dataset cache, a node-local path; %h becomes the node's host name "
                  "(default: WORK_DIR/cache)");
}

}  // namespace

void RegisterRunCommands(CLI::App& app, Action* action) {
  auto run_args = std::make_shared<RunArgs>();
  CLI::App* run = app.add_subcommand(
      "run", "run a sweep on this machine: mpirun with 1 orchestrator + N worker ranks");
  run->add_option("SWEEP", run_args->sweep, "sweep YAML (docs/sweep.md)")->required();
  CLI::Option* run_np = run->add_option("--np", run_args->np,
                                        "worker ranks (default: the sweep's resources.workers)");
  run->add_option("--db", run_args->db, "results database (default: the sweep's db:)");
  AddProgressOption(run, run_args.get());
  AddNodeOptions(run, run_args.get());
  run->callback([action, run_args, run_np] {
    *action = [run_args, run_np] { return Run(*run_args, run_np->count() > 0); };
  });

  auto resume_args = std::make_shared<RunArgs>();
  CLI::App* resume = app.add_subcommand(
      "resume", "continue the latest sweep of a results database (pending and interrupted points)");
  resume->add_option("DB", resume_args->db, "results database")->required();
  CLI::Option* resume_np = resume->add_option(
      "--np", resume_args->np, "worker ranks (default: the sweep's resources.workers)");
  resume->add_flag("--retry-failed", resume_args->retry_failed,
                   "also rerun FAILED points, with a fresh attempt budget");
  AddProgressOption(resume, resume_args.get());
  AddNodeOptions(resume, resume_args.get());
  resume->callback([action, resume_args, resume_np] {
    *action = [resume_args, resume_np] { return Resume(*resume_args, resume_np->count() > 0); };
  });

  auto orch_args = std::make_shared<RunArgs>();
  CLI::App* orch = app.add_subcommand(
      "orchestrate",
      "rank 0 of a sweep's MPI job (mpirun -np 1 perflaw orchestrate SWEEP.yaml : "
      "-np N perflaw-worker serve)");
  orch->add_option("SWEEP", orch_args->sweep, "sweep YAML (or --resume DB)");
  orch->add_option("--db", orch_args->db, "results database (default: the sweep's db:)");
  orch->add_option("--resume", orch_args->resume, "continue the latest sweep of this database");
  orch->add_flag("--retry-failed", orch_args->retry_failed, "with --resume: rerun FAILED points");
  orch->add_option("--exit-code-socket", orch_args->exit_code_socket,
                   "send the exit code to this abstract Unix socket and exit 0 (how perflaw run "
                   "starts rank 0: mpirun reports any non-zero rank as a crashed job)");
  AddProgressOption(orch, orch_args.get());
  orch->callback(
      [action, orch_args] { *action = [orch_args] { return Orchestrate(*orch_args); }; });
}

}  // namespace perflaw::cli
