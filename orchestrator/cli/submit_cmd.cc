// `perflaw submit SWEEP.yaml --slurm [...]`: renders the batch script of
// scripts/slurm/perflaw.sbatch.in (built in; --template overrides) and runs
// sbatch on it.
//
// No shell ever sees user text: the rendered script gets only #SBATCH lines
// built from validated values (integers, a strict time format, conservative
// names), and the paths (sweep, database, executables, log folder) travel as
// sbatch's argv, started with posix_spawnp, never through sh -c. Everything is
// validated before anything is written; --dry-run prints the script and the
// sbatch argv and writes nothing. Docs: docs/cluster.md.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "apen/text.h"
#include "orchestrator/cli/cli.h"
#include "orchestrator/slurm_template.h"  // generated: kSbatchTemplate
#include "orchestrator/sweep/sweep.h"

extern char** environ;

namespace perflaw::cli {
namespace {

namespace fs = std::filesystem;

// The Slurm resources of one submission. Zero means "not set" where noted.
struct SlurmJobOptions {
  uint32_t nodes = 1;            // --nodes (>= 1)
  uint32_t ntasks_per_node = 0;  // worker ranks per node; 0: gpus_per_node, else resources.workers
  uint32_t gpus_per_node = 0;    // 0: no GPUs; G: one worker rank per GPU (ntasks <= G)
  uint32_t cpus_per_task = 0;    // 0: Slurm's default
  std::string time;              // "" or Slurm's [D-]HH:MM:SS forms, e.g. 30, 1:00:00, 2-12
  std::string partition;         // "" or name[,name...]
  std::string account;           // "" or a name
  std::string launcher = "mpirun";  // mpirun (MPMD inside the allocation) or srun (--mpi=pmix)
  bool requeue = false;             // #SBATCH --requeue: Slurm may requeue (then rank 0 resumes)
  uint32_t signal_seconds = 0;      // 0: none; S: SIGTERM to the job S s before its time limit
  bool IsValid(std::string* why) const;
};

constexpr uint32_t kMaxCount = 100000;  // nodes, tasks, GPUs, CPUs: anything above is a typo

// A Slurm name (partition, account): conservative, so it can never carry shell
// or #SBATCH syntax.
bool IsSlurmName(const std::string& s) {
  static const std::regex kName("[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}");
  return std::regex_match(s, kName);
}

// Slurm's time forms: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S (minutes and seconds
// below 60).
bool IsSlurmTime(const std::string& s) {
  static const std::regex kTime(
      "([0-9]{1,6}|[0-9]{1,6}:[0-5]?[0-9]|[0-9]{1,5}:[0-5]?[0-9]:[0-5]?[0-9]|"
      "[0-9]{1,4}-[0-9]{1,2}(:[0-5]?[0-9](:[0-5]?[0-9])?)?)");
  if (!std::regex_match(s, kTime)) return false;
  return s.find_first_of("123456789") != std::string::npos;  // all zeros would mean no limit
}

bool SlurmJobOptions::IsValid(std::string* why) const {
  auto fail = [why](const std::string& m) {
    *why = m;
    return false;
  };
  if (nodes < 1 || nodes > kMaxCount)
    return fail("--nodes must be 1.." + std::to_string(kMaxCount));
  if (ntasks_per_node > kMaxCount || gpus_per_node > kMaxCount || cpus_per_task > kMaxCount)
    return fail(
        "--ntasks-per-node, --gpus-per-node and --cpus-per-task must "
        "be at most " +
        std::to_string(kMaxCount));
  if (gpus_per_node > 0 && ntasks_per_node > gpus_per_node)
    return fail("--ntasks-per-node (" + std::to_string(ntasks_per_node) +
                ") must not exceed --gpus-per-node (" + std::to_string(gpus_per_node) +
                "): one worker rank per GPU");
  if (!time.empty() && !IsSlurmTime(time))
    return fail(
        "--time must be a Slurm time limit > 0 (MINUTES, H:MM:SS, D-HH "
        "or D-HH:MM:SS), got \"" +
        time + "\"");
  if (!partition.empty()) {
    std::stringstream list(partition);
    std::string part;
    while (std::getline(list, part, ','))
      if (!IsSlurmName(part))
        return fail(
            "--partition must be names of [A-Za-z0-9_.-] separated by "
            "commas, got \"" +
            partition + "\"");
    if (partition.back() == ',')
      return fail("--partition ends with a comma: \"" + partition + "\"");
  }
  if (!account.empty() && !IsSlurmName(account))
    return fail("--account must be a name of [A-Za-z0-9_.-] (up to 64), got \"" + account + "\"");
  if (launcher != "mpirun" && launcher != "srun")
    return fail("--launcher must be mpirun or srun, got \"" + launcher + "\"");
  if (signal_seconds > 65535) return fail("--signal-before must be at most 65535 seconds");
  return true;
}

// The command line as given: numbers are strings here because CLI11 2.1.2 wraps
// "-1" into an unsigned option; ParseCount rejects anything but digits.
struct SubmitArgs {
  std::string sweep_path;
  bool slurm = false;
  std::string nodes = "1", ntasks_per_node, gpus_per_node, cpus_per_task, signal_before;
  SlurmJobOptions job;        // the string fields (time, partition, account, launcher)
                              // land here directly
  std::string db;             // "" = the sweep's db
  std::string output;         // "" = WORK_DIR/slurm
  std::string template_path;  // "" = the built-in scripts/slurm/perflaw.sbatch.in
  std::string worker_bin;     // "" = perflaw-worker beside this executable
  bool dry_run = false;
};

Status ParseCount(const std::string& option, const std::string& text, uint32_t* out) {
  if (text.empty()) return Status::Ok();  // not given: keep the default
  static const std::regex kDigits("[0-9]{1,9}");
  if (!std::regex_match(text, kDigits))
    return Status::InvalidArgument(apen::NotNonNegativeIntegerMessage(option, "\"" + text + "\""));
  *out = static_cast<uint32_t>(std::stoul(text));
  return Status::Ok();
}

// A path that goes into sbatch's --output pattern or the log line: no Slurm
// pattern characters
// (%, \) and no control characters.
Status CheckPlainPath(const std::string& what, const std::string& path) {
  for (unsigned char c : path)
    if (c < 0x20 || c == 0x7f || c == '%' || c == '\\')
      return Status::InvalidArgument(
          what + " must not contain '%', '\\' or control characters: \"" + path + "\"");
  return Status::Ok();
}

std::string JobName(const std::string& sweep_name) {
  std::string name = "perflaw-" + sweep_name;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') c = '_';
  return name.substr(0, 64);
}

struct Submission {
  std::string script;             // rendered batch script
  std::string script_path;        // where it is (or would be) written
  std::string output_dir;         // the script and the job's log
  std::vector<std::string> argv;  // sbatch's argv
  std::string db;
  std::string log_pattern;  // the job's log, %j = job id
  uint64_t workers = 0;
  std::string warning;  // shown on stderr; the submission goes ahead
};

// With several nodes both launchers place the orchestrator and T workers on the first node and T
// on each other node (scripts/slurm/perflaw.sbatch.in), so a worker group of consecutive ranks
// stays on one node exactly when T is a multiple of ranks_per_point.
std::string PlacementWarning(const SlurmJobOptions& job, uint32_t ranks_per_point) {
  if (job.nodes < 2 || ranks_per_point < 2) return "";
  if (job.ntasks_per_node % ranks_per_point == 0) return "";
  return "with --nodes " + std::to_string(job.nodes) + ", --ntasks-per-node " +
         std::to_string(job.ntasks_per_node) + " and ranks_per_point " +
         std::to_string(ranks_per_point) + ", worker groups straddle nodes; " +
         "--ntasks-per-node a multiple of " + std::to_string(ranks_per_point) +
         " keeps each group on one node (docs/cluster.md)";
}

std::string SbatchLines(const SlurmJobOptions& o, const std::string& job_name) {
  std::ostringstream s;
  s << "#SBATCH --job-name=" << job_name << "\n";
  s << "#SBATCH --nodes=" << o.nodes << "\n";
  s << "#SBATCH --ntasks-per-node=" << o.ntasks_per_node << "\n";
  if (o.gpus_per_node > 0) s << "#SBATCH --gpus-per-node=" << o.gpus_per_node << "\n";
  if (o.cpus_per_task > 0) s << "#SBATCH --cpus-per-task=" << o.cpus_per_task << "\n";
  if (!o.time.empty()) s << "#SBATCH --time=" << o.time << "\n";
  if (!o.partition.empty()) s << "#SBATCH --partition=" << o.partition << "\n";
  if (!o.account.empty()) s << "#SBATCH --account=" << o.account << "\n";
  s << (o.requeue ? "#SBATCH --requeue\n" : "#SBATCH --no-requeue\n");
  s << "#SBATCH --open-mode=append\n";  // a requeued job's log keeps the earlier
                                        // runs
  // B: the batch shell gets the signal and forwards it to the launcher (see the
  // template).
  if (o.signal_seconds > 0) s << "#SBATCH --signal=B:TERM@" << o.signal_seconds << "\n";
  std::string lines = s.str();
  lines.pop_back();  // the template's line supplies the last newline
  return lines;
}

StatusOr<std::string> ReadTemplate(const std::string& path) {
  std::string text = kSbatchTemplate;
  if (!path.empty()) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::NotFound("--template: cannot read " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  const std::string kMark = "\n@SBATCH_LINES@\n";
  size_t at = text.find(kMark);
  if (at == std::string::npos || text.find(kMark, at + 1) != std::string::npos)
    return Status::InvalidArgument((path.empty() ? std::string("built-in template") : path) +
                                   ": needs exactly one line \"@SBATCH_LINES@\"");
  return text;
}

std::string SelfExe() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("perflaw") : p.string();
}

StatusOr<std::string> WorkerBinary(const std::string& given, const std::string& perflaw) {
  std::string path =
      given.empty() ? (fs::path(perflaw).parent_path() / "perflaw-worker").string() : given;
  path = fs::absolute(path).lexically_normal().string();
  if (::access(path.c_str(), X_OK) != 0)
    return Status::NotFound("perflaw-worker not found or not executable at " + path +
                            (given.empty() ? " (pass --worker-bin)" : ""));
  return path;
}

std::string Timestamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", &tm);
  return buf;
}

// The numeric options (strings on the command line) into `a->job`, then the
// whole job validated.
Status ParseJobOptions(SubmitArgs* a) {
  if (!a->slurm)
    return Status::InvalidArgument("perflaw submit needs --slurm (the only scheduler supported)");
  SlurmJobOptions& job = a->job;
  PERFLAW_RETURN_IF_ERROR(ParseCount("--nodes", a->nodes, &job.nodes));
  PERFLAW_RETURN_IF_ERROR(
      ParseCount("--ntasks-per-node", a->ntasks_per_node, &job.ntasks_per_node));
  PERFLAW_RETURN_IF_ERROR(ParseCount("--gpus-per-node", a->gpus_per_node, &job.gpus_per_node));
  PERFLAW_RETURN_IF_ERROR(ParseCount("--cpus-per-task", a->cpus_per_task, &job.cpus_per_task));
  PERFLAW_RETURN_IF_ERROR(ParseCount("--signal-before", a->signal_before, &job.signal_seconds));
  if (!a->ntasks_per_node.empty() && job.ntasks_per_node == 0)
    return Status::InvalidArgument("--ntasks-per-node must be >= 1");
  std::string why;
  if (!job.IsValid(&why)) return Status::InvalidArgument(why);
  return Status::Ok();
}

// Fills the defaults that come from the sweep and checks the worker count
// against its groups.
Status ApplySweep(const orchestrator::Sweep& sweep, SlurmJobOptions* job, uint64_t* workers) {
  if (job->ntasks_per_node == 0)
    job->ntasks_per_node = job->gpus_per_node > 0 ? job->gpus_per_node : sweep.resources.workers;
  *workers = uint64_t{job->nodes} * job->ntasks_per_node;
  const uint32_t rpp = sweep.resources.ranks_per_point;
  if (*workers % rpp != 0)
    return Status::InvalidArgument("--nodes x --ntasks-per-node = " + std::to_string(*workers) +
                                   " worker ranks, not a multiple of the sweep's "
                                   "resources.ranks_per_point (" +
                                   std::to_string(rpp) + ")");
  return Status::Ok();
}

// Validates everything and builds the submission; touches no file but the
// sweep's inputs.
StatusOr<Submission> Prepare(SubmitArgs a) {
  PERFLAW_RETURN_IF_ERROR(ParseJobOptions(&a));
  StatusOr<orchestrator::Sweep> sweep = orchestrator::LoadSweep(a.sweep_path);
  if (!sweep.ok()) return sweep.status();
  Submission s;
  PERFLAW_RETURN_IF_ERROR(ApplySweep(*sweep, &a.job, &s.workers));
  s.warning = PlacementWarning(a.job, sweep->resources.ranks_per_point);

  s.db = fs::absolute(a.db.empty() ? sweep->db_path : a.db).lexically_normal().string();
  s.output_dir =
      fs::absolute(a.output.empty() ? fs::path(sweep->work_dir) / "slurm" : fs::path(a.output))
          .lexically_normal()
          .string();
  PERFLAW_RETURN_IF_ERROR(CheckPlainPath("--out", s.output_dir));
  const std::string perflaw = SelfExe();
  StatusOr<std::string> worker = WorkerBinary(a.worker_bin, perflaw);
  if (!worker.ok()) return worker.status();
  StatusOr<std::string> tmpl = ReadTemplate(a.template_path);
  if (!tmpl.ok()) return tmpl.status();

  const std::string job_name = JobName(sweep->name);
  const std::string mark = "@SBATCH_LINES@";
  s.script = *tmpl;
  s.script.replace(s.script.find("\n" + mark + "\n") + 1, mark.size(),
                   SbatchLines(a.job, job_name));
  s.script_path = (fs::path(s.output_dir) / (job_name + "-" + Timestamp() + ".sbatch")).string();
  s.log_pattern = (fs::path(s.output_dir) / (job_name + "-%j.out")).string();
  // The template's arguments: PERFLAW PERFLAW_WORKER SWEEP DB LAUNCHER
  // WORKERS_PER_NODE GPUS.
  s.argv = {"sbatch",
            "--parsable",
            "--chdir=" + s.output_dir,
            "--output=" + s.log_pattern,
            s.script_path,
            perflaw,
            *worker,
            fs::absolute(a.sweep_path).lexically_normal().string(),
            s.db,
            a.job.launcher,
            std::to_string(a.job.ntasks_per_node),
            std::to_string(a.job.gpus_per_node)};
  return s;
}

// For display only: the argv as one shell-quoted line (nothing runs it through
// a shell).
std::string Quoted(const std::vector<std::string>& argv) {
  std::string line;
  for (const std::string& a : argv) {
    if (!line.empty()) line += ' ';
    bool plain = !a.empty() && a.find_first_not_of(
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                                   "vwxyz0123456789_-./=:,@%+") == std::string::npos;
    if (plain) {
      line += a;
      continue;
    }
    line += '\'';
    for (char c : a) line += (c == '\'') ? std::string("'\\''") : std::string(1, c);
    line += '\'';
  }
  return line;
}

Status WriteScript(const Submission& s) {
  std::error_code ec;
  fs::create_directories(s.output_dir, ec);
  if (ec) return Status::IoError("cannot create " + s.output_dir + ": " + ec.message());
  const std::string tmp = s.script_path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << s.script;
    if (!out.flush()) return Status::IoError("cannot write " + tmp);
  }
  fs::permissions(tmp,
                  fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                      fs::perms::others_read | fs::perms::others_exec,
                  ec);
  fs::rename(tmp, s.script_path, ec);
  if (ec) return Status::IoError("cannot write " + s.script_path + ": " + ec.message());
  return Status::Ok();
}

// Runs argv (PATH lookup, no shell), returning its exit code and stdout; stderr
// stays the user's.
StatusOr<std::pair<int, std::string>> Spawn(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::IoError(std::string("pipe: ") + strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = 0;
  int err = ::posix_spawnp(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (err != 0) {
    ::close(fds[0]);
    return Status::FailedPrecondition("cannot run " + argv[0] + ": " + strerror(err) +
                                      " (is Slurm installed and on PATH?)");
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  return std::make_pair(code, out);
}

Status RunSubmit(const SubmitArgs& args) {
  StatusOr<Submission> s = Prepare(args);
  if (!s.ok()) return s.status();
  if (!s->warning.empty()) std::cerr << "perflaw: warning: " << s->warning << std::endl;
  if (args.dry_run) {
    std::cout << "# perflaw submit --dry-run: batch script " << s->script_path << " (not written)\n"
              << s->script << "# sbatch argv (not run): " << Quoted(s->argv) << std::endl;
    return Status::Ok();
  }
  PERFLAW_RETURN_IF_ERROR(WriteScript(*s));
  StatusOr<std::pair<int, std::string>> r = Spawn(s->argv);
  if (!r.ok()) return r.status();
  std::string id = r->second.substr(0, r->second.find_first_of(";\n"));
  if (r->first != 0 || id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
    return Status::FailedPrecondition("sbatch failed (exit code " + std::to_string(r->first) +
                                      ", output \"" + r->second + "\"); script: " + s->script_path);
  std::cout << "submitted Slurm job " << id << ": 1 orchestrator + " << s->workers
            << " worker ranks\nscript: " << s->script_path
            << "\nlog: " << s->log_pattern.replace(s->log_pattern.rfind("%j"), 2, id)
            << "\nwatch: perflaw status " << s->db << std::endl;
  return Status::Ok();
}

}  // namespace

void RegisterSubmitCommands(CLI::App& app, Action* action) {
  auto a = std::make_shared<SubmitArgs>();
  CLI::App* cmd =
      app.add_subcommand("submit", "Submit a sweep as one batch job to Slurm (docs/cluster.md)");
  cmd->add_option("SWEEP", a->sweep_path, "sweep YAML file")->required();
  cmd->add_flag("--slurm", a->slurm, "submit to Slurm with sbatch (required)");
  cmd->add_option("--nodes", a->nodes, "nodes (default 1)");
  cmd->add_option("--ntasks-per-node", a->ntasks_per_node,
                  "worker ranks per node (default: --gpus-per-node, else "
                  "resources.workers); the "
                  "orchestrator runs beside them on the first node");
  cmd->add_option("--gpus-per-node", a->gpus_per_node,
                  "GPUs per node; each worker rank gets one (default 0)");
  cmd->add_option("--cpus-per-task", a->cpus_per_task, "CPUs per rank (sets OMP_NUM_THREADS)");
  cmd->add_option("--time", a->job.time, "time limit: MINUTES, H:MM:SS or D-HH:MM:SS");
  cmd->add_option("--partition", a->job.partition, "partition (name[,name...])");
  cmd->add_option("--account", a->job.account, "account to charge");
  cmd->add_option("--launcher", a->job.launcher,
                  "mpirun (default: MPMD inside the allocation) or srun (srun --mpi=pmix)");
  cmd->add_flag("--requeue", a->job.requeue,
                "let Slurm requeue the job (preemption, node failure); the "
                "requeued job resumes");
  cmd->add_option("--signal-before", a->signal_before,
                  "SIGTERM the job this many seconds before its time limit "
                  "(workers checkpoint)");
  cmd->add_option("--db", a->db, "results database (default: the sweep's db)");
  cmd->add_option("--out", a->output,
                  "folder for the batch script and the job log "
                  "(default: WORK_DIR/slurm)");
  // --out names an output location in every command; --output, its old name, stays hidden.
  cmd->add_option("--output", a->output)->group("");
  cmd->add_option("--template", a->template_path,
                  "batch-script template (default: built-in "
                  "scripts/slurm/perflaw.sbatch.in)");
  cmd->add_option("--worker-bin", a->worker_bin,
                  "perflaw-worker executable (default: the one beside perflaw)");
  cmd->add_flag("--dry-run", a->dry_run,
                "print the batch script and the sbatch command; submit nothing");
  cmd->callback([a, action] { *action = [a] { return RunSubmit(*a); }; });
}

}  // namespace perflaw::cli
