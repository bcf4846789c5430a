#include "orchestrator/runner.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "apen/quality.h"
#include "orchestrator/cli.h"
#include "worker/point_config.h"

namespace perflaw::orchestrator {
namespace {

namespace fs = std::filesystem;

// The stored YAML ends with this comment, so that resume resolves relative paths as the run did.
constexpr const char kBaseDirComment[] = "# perflaw: base_dir ";

std::string Errno(const std::string& what, int err) { return what + ": " + std::strerror(err); }

// The pid written into a lock file by its holder ("" if unreadable).
std::string LockHolder(int fd) {
  char buf[64] = {0};
  const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return "";
  std::string s(buf, static_cast<size_t>(n));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Status LockedError(const std::string& db_path, int fd) {
  const std::string holder = LockHolder(fd);
  return Status::FailedPrecondition(db_path + " is being written by another perflaw run" +
                                    (holder.empty() ? "" : " (" + holder + ")") +
                                    "; wait for it to end, or give another --db");
}

std::string YamlForRecord(const Sweep& sweep) {
  std::string yaml = sweep.yaml_text;
  if (!yaml.empty() && yaml.back() != '\n') yaml += '\n';
  return yaml + kBaseDirComment + sweep.base_dir + "\n";
}

// The base_dir recorded by YamlForRecord, or "" when the YAML was stored by something else.
std::string RecordedBaseDir(const std::string& yaml) {
  const size_t at = yaml.rfind(std::string("\n") + kBaseDirComment);
  if (at == std::string::npos) return "";
  const size_t begin = at + 1 + std::strlen(kBaseDirComment);
  const size_t end = yaml.find('\n', begin);
  return yaml.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

// Prints the live progress line and the events between its updates.
class ProgressPrinter {
 public:
  ProgressPrinter(const RunOptions& options, const Clock& clock, std::ostream& err,
                  int64_t reused_completed, int64_t prior_failed)
      : options_(options),
        clock_(clock),
        err_(err),
        reused_(reused_completed),
        prior_failed_(prior_failed) {}

  void Update(const Progress& progress) {
    line_ = "perflaw: " + ProgressLine(progress, reused_, prior_failed_);
    if (options_.progress == ProgressMode::kTty) {
      err_ << "\r\033[K" << line_ << std::flush;
      drawn_ = true;
    } else if (options_.progress == ProgressMode::kLines) {
      const double now = clock_.Now();
      if (printed_ && now - last_ < options_.progress_line_seconds) return;
      Print();
      last_ = now;
    }
  }

  void Event(const std::string& text) {
    if (drawn_) err_ << "\r\033[K";
    err_ << "perflaw: " << text << "\n";
    if (drawn_) err_ << line_;
    err_ << std::flush;
  }

  // Leaves the last state on screen / in the log.
  void Finish() {
    if (drawn_) {
      err_ << "\n" << std::flush;
    } else if (options_.progress == ProgressMode::kLines && line_ != printed_line_) {
      Print();
    }
    drawn_ = false;
  }

 private:
  void Print() {
    err_ << line_ << std::endl;
    printed_ = true;
    printed_line_ = line_;
  }

  const RunOptions& options_;
  const Clock& clock_;
  std::ostream& err_;
  int64_t reused_, prior_failed_;
  std::string line_, printed_line_;
  bool drawn_ = false, printed_ = false;
  double last_ = 0;
};

std::vector<PendingPoint> ToPending(const std::vector<PointRecord>& records,
                                    const std::string& work_dir, Status* error) {
  std::vector<PendingPoint> points;
  for (const PointRecord& r : records) {
    PendingPoint p;
    p.id = r.id;
    p.config = nlohmann::json::parse(r.config_json, nullptr, /*allow_exceptions=*/false);
    if (p.config.is_discarded()) {
      *error = Status::Corruption("point " + r.id + ": stored configuration is not JSON");
      return {};
    }
    p.cost = r.cost;
    p.checkpoint_dir = (fs::path(work_dir) / "checkpoints" / r.id).string();
    p.attempts = static_cast<uint32_t>(r.attempts);
    p.failures = static_cast<uint32_t>(r.failures);
    points.push_back(std::move(p));
  }
  return points;
}

// The sweep's points, recorded (run) or looked up (resume); fills the outcome's bookkeeping.
StatusOr<int64_t> RecordOrFindSweep(const RunPlan& plan, ResultsDb* db, RunOutcome* outcome) {
  if (plan.resume) {
    StatusOr<std::optional<int64_t>> latest = db->LatestSweep();
    if (!latest.ok()) return latest.status();
    if (!*latest) return Status::NotFound(plan.db_path + ": no sweep to resume");
    if (plan.retry_failed) {
      StatusOr<int64_t> reset = db->ResetFailed(**latest);
      if (!reset.ok()) return reset.status();
      outcome->failed_reset = *reset;
    }
    StatusOr<StateCounts> counts = db->Counts(**latest);
    if (!counts.ok()) return counts.status();
    outcome->reused_completed = counts->completed;
    return **latest;
  }
  // One transaction: a point that conflicts with a stored one leaves no sweep row behind (a
  // failed run writes nothing).
  StatusOr<Transaction> batch = db->BeginBatch();
  if (!batch.ok()) return batch.status();
  StatusOr<int64_t> sweep = db->RecordSweep(YamlForRecord(plan.sweep), plan.sweep.name);
  if (!sweep.ok()) return sweep.status();
  std::vector<NewPoint> points;
  for (const GridPoint& p : plan.sweep.points) points.push_back({p.id, p.config.dump(), p.cost});
  StatusOr<AddPointsResult> added = db->AddPoints(*sweep, points);
  if (!added.ok()) return added.status();
  PERFLAW_RETURN_IF_ERROR(batch->Commit());
  outcome->reused_completed = added->existing_completed;
  outcome->relocated = added->relocated;
  return *sweep;
}

// The ETA of eta.h for what a stopped run left, were it resumed on `groups` groups: the sweep's
// completed attempts fit the durations, its PENDING points wait. Empty when unknown.
std::optional<double> RemainingAfterStop(const ResultsDb& db, int64_t sweep, int groups) {
  StatusOr<DurationModel> model = db.FitDurations(sweep);
  StatusOr<std::vector<double>> waiting = db.PendingCosts(sweep);
  if (!model.ok() || !waiting.ok()) return std::nullopt;
  return EstimateEta(*model, *waiting, {}, groups);
}

void PrintSummary(const RunPlan& plan, const RunOutcome& o, std::ostream& out) {
  const SchedulerSummary& s = o.scheduler;
  const StateCounts& c = o.counts;
  out << "\nsweep " << plan.sweep.name << " (id " << o.sweep_id << " in " << plan.db_path
      << "): " << (c.pending + c.running == 0 ? "COMPLETED" : "INTERRUPTED") << "\n";
  out << "  points: " << c.total() << " total, " << c.completed << " completed ("
      << o.reused_completed << " from earlier runs, not rerun), " << c.failed << " failed, "
      << c.pending + c.running << " pending";
  if (c.pending + c.running > 0) {
    out << "; to finish them: "
        << (o.remaining_seconds ? "about " + FormatDuration(*o.remaining_seconds) + " on " +
                                      std::to_string(o.scheduler.groups.size()) +
                                      " worker group(s) (perflaw resume " + plan.db_path + ")"
                                : std::string("unknown until a point completes"));
  }
  out << "\n";
  if (o.relocated > 0) {
    out << "  " << o.relocated
        << " stored points had other locations (dataset path, work_dir, device or threads): "
           "reused as the same experiments\n";
  }
  out << "  this run: " << s.completed << " completed, " << s.failed << " failed, "
      << s.attempts_started << " attempts started (" << s.sent_ahead
      << " sent ahead to busy groups), " << s.attempts_failed
      << " attempts failed (any reason), elapsed " << FormatDuration(s.elapsed_seconds)
      << ", makespan " << FormatDuration(s.makespan_seconds) << "\n";
  if (o.interrupted_attempts_closed > 0)
    out << "  attempts left running by an earlier job, closed as interrupted: "
        << o.interrupted_attempts_closed << "\n";
  if (o.failed_reset > 0)
    out << "  FAILED points retried (--retry-failed): " << o.failed_reset << "\n";
  out << "  scheduler: " << s.message << "\n";
  // What orchestrating cost this process (start-up and sweep parsing included).
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    const double cpu = usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
                       1e-6 * (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
    char line[160];
    std::snprintf(line, sizeof line, "  orchestrator: %.2f s CPU (user + sys, this process)", cpu);
    out << line;
    if (s.attempts_started > 0) {
      std::snprintf(line, sizeof line, ", %.2f ms per attempt started",
                    1e3 * cpu / s.attempts_started);
      out << line;
    }
    out << "\n";
  }
  for (size_t g = 0; g < s.groups.size(); ++g) {
    const GroupSummary& gs = s.groups[g];
    out << "  worker group " << g << ": " << gs.attempts << " attempts, " << gs.completed
        << " completed, busy " << FormatDuration(gs.busy_seconds) << ", "
        << GroupStateName(gs.state) << " at the end\n";
  }
  const AdaptiveSummary& a = o.adaptive;
  if (a.enabled)
    out << "  adaptive: " << a.rounds << " round(s), " << a.points_added << " point(s) added; "
        << (a.ended ? "ended: " + a.end : std::string("not ended (perflaw resume continues)"))
        << "\n";
  if (c.failed > 0)
    out << "  failed points: perflaw status " << plan.db_path << " lists them; perflaw resume "
        << plan.db_path << " --retry-failed reruns them\n";
  if (c.pending + c.running > 0) out << "  to finish: perflaw resume " << plan.db_path << "\n";
}

// The end-of-run law fit: one fit per form and metric of the sweep's law: section.
std::string FitLaw(const RunPlan& plan, std::ostream& out) {
  const LawSpec& law = plan.sweep.law;
  int failed = 0, fitted = 0;
  // The verdicts close the output: of the forms with an optimum (the scaling baseline's say only
  // that it has none), or of the baseline when it is the only form.
  std::vector<std::string> verdicts;
  const bool only_scaling = std::all_of(law.forms.begin(), law.forms.end(),
                                        [](const std::string& f) { return f == "scaling"; });
  for (const std::string& form : law.forms) {
    for (const std::string& metric : law.metrics) {
      out << "\n==== law fit: form " << form << ", metric " << metric << ", groups "
          << plan.law_group_by << " ====\n";
      Status st = cli::FitLawFromDb(plan.db_path, form, metric, plan.law_group_by, out,
                                    form != "scaling" || only_scaling ? &verdicts : nullptr);
      if (st.ok()) {
        ++fitted;
      } else {
        ++failed;
        out << "law fit failed (form " << form << ", metric " << metric << "): " << st.message()
            << "\n";
      }
    }
  }
  if (!verdicts.empty()) {
    out << "\n==== verdict ====\n";
    for (const std::string& v : verdicts) out << v << "\n";
  }
  if (failed == 0) return "fitted (" + std::to_string(fitted) + " fits)";
  return "failed: " + std::to_string(failed) + " of " + std::to_string(failed + fitted) +
         " fits failed";
}

int ExitCodeOf(const StateCounts& c) {
  if (c.pending + c.running > 0) return 3;
  return c.failed > 0 ? 1 : 0;
}

}  // namespace

// ---- EtaListener ----

void EtaListener::CostSums::Reset(size_t n) { tree_.assign(n + 1, {0.0, 0.0}); }

void EtaListener::CostSums::Add(size_t slot, double count, double cost) {
  for (size_t i = slot + 1; i < tree_.size(); i += i & (~i + 1)) {
    tree_[i].first += count;
    tree_[i].second += cost;
  }
}

std::pair<double, double> EtaListener::CostSums::From(size_t slot) const {
  std::pair<double, double> all{0, 0}, below{0, 0};
  for (size_t i = tree_.size() - 1; i > 0; i -= i & (~i + 1)) {
    all.first += tree_[i].first;
    all.second += tree_[i].second;
  }
  for (size_t i = slot; i > 0; i -= i & (~i + 1)) {
    below.first += tree_[i].first;
    below.second += tree_[i].second;
  }
  return {all.first - below.first, all.second - below.second};
}

EtaListener::EtaListener(SchedulerListener* inner, const Clock& clock,
                         const std::vector<PendingPoint>& points)
    : inner_(inner), clock_(clock) {
  AddPoints(points);
}

void EtaListener::Place(State& s, bool add) {
  const double sign = add ? 1.0 : -1.0;
  if (s.done) return;
  if (s.started >= 0) {
    if (add) {
      running_.insert(&s);
    } else {
      running_.erase(&s);
    }
  } else {
    sums_.Add(s.slot, sign, sign * s.cost);
  }
}

void EtaListener::Rebuild() {
  std::vector<State*> order;
  for (auto& [id, s] : points_) order.push_back(&s);
  std::stable_sort(order.begin(), order.end(),
                   [](const State* a, const State* b) { return a->cost < b->cost; });
  costs_.clear();
  sums_.Reset(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    order[i]->slot = i;
    costs_.push_back(order[i]->cost);
    if (!order[i]->done && order[i]->started < 0) sums_.Add(i, 1, order[i]->cost);
  }
}

void EtaListener::AddPoints(const std::vector<PendingPoint>& points) {
  for (const PendingPoint& p : points) {
    State& s = points_[p.id];
    running_.erase(&s);
    s = State{};
    s.cost = p.cost;
    s.epochs_max = EpochLimit(p.config);
  }
  Rebuild();
}

EtaListener::State& EtaListener::Find(const std::string& id) {
  auto it = points_.find(id);
  if (it != points_.end()) return it->second;
  State& s = points_[id];
  Rebuild();
  return s;
}

void EtaListener::OnAttemptStarted(const std::string& point, uint32_t attempt, int group) {
  State& s = Find(point);
  Place(s, false);
  s.started = clock_.Now();
  s.last_epoch = s.epochs_attempt = 0;
  Place(s, true);
  inner_->OnAttemptStarted(point, attempt, group);
}

void EtaListener::OnEpochMetrics(const std::string& point, uint32_t attempt, uint32_t epoch,
                                 const nlohmann::json& metrics) {
  State& s = Find(point);
  if (s.started >= 0) {
    s.last_epoch = std::max(s.last_epoch, epoch);
    ++s.epochs_attempt;
  }
  inner_->OnEpochMetrics(point, attempt, epoch, metrics);
}

void EtaListener::OnPointCompleted(const std::string& point, uint32_t attempt,
                                   const nlohmann::json& result) {
  State& s = Find(point);
  if (s.started >= 0) model_.Add(s.cost, clock_.Now() - s.started);
  Place(s, false);
  s.started = -1;
  s.done = true;
  inner_->OnPointCompleted(point, attempt, result);
}

void EtaListener::OnAttemptFailed(const std::string& point, uint32_t attempt, FailureReason reason,
                                  const std::string& message, bool will_retry) {
  State& s = Find(point);
  Place(s, false);
  s.started = -1;
  s.done = !will_retry;
  Place(s, true);
  inner_->OnAttemptFailed(point, attempt, reason, message, will_retry);
}

void EtaListener::OnGroupStateChanged(int group, GroupState state, const std::string& why) {
  inner_->OnGroupStateChanged(group, state, why);
}

void EtaListener::OnProgress(const Progress& progress) {
  Progress p = progress;
  p.running_epochs_done = p.running_epochs_max = 0;
  for (const State* s : running_) {
    p.running_epochs_done += std::min(s->last_epoch, s->epochs_max);
    p.running_epochs_max += s->epochs_max;
  }
  p.eta_seconds =
      p.running + p.pending == 0 ? std::optional<double>(0.0) : Eta(std::max(1, p.live_groups));
  inner_->OnProgress(p);
}

std::optional<double> EtaListener::Eta(int groups) const {
  if (!model_.Identified()) return std::nullopt;
  const double alpha = model_.alpha(), beta = model_.beta();
  // Waiting points: alpha + beta * cost where that is positive, a suffix of the cost order.
  double waiting = 0;
  if (beta > 0) {
    const size_t from = static_cast<size_t>(
        std::lower_bound(costs_.begin(), costs_.end(), -alpha / beta) - costs_.begin());
    const auto [count, cost] = sums_.From(from);
    waiting = std::max(0.0, alpha * count + beta * cost);
  } else {
    waiting = sums_.From(0).first * std::max(0.0, alpha);
  }
  const double now = clock_.Now();
  std::vector<double> left;
  for (const State* s : running_) {
    left.push_back(RemainingSeconds(
        model_, {s->cost, now - s->started, s->last_epoch, s->epochs_attempt, s->epochs_max}));
  }
  return CombineEta(waiting, left, groups);
}

// ---- WriterLock ----

std::string WriterLockPath(const std::string& db_path) {
  std::error_code ec;
  const fs::path real = fs::weakly_canonical(db_path, ec);
  return (ec ? fs::path(db_path) : real).string() + ".lock";
}

namespace {
// An exclusive flock on the database file itself, when it exists: the same inode behind every
// hard link. Returns the descriptor holding it (-1: no file), or the error.
StatusOr<int> LockDatabaseFile(const std::string& db_path) {
  const int fd = ::open(db_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return -1;
    return Status::IoError(Errno("cannot open " + db_path, errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK)
      return Status::FailedPrecondition(
          db_path +
          " is being written by another perflaw run (through another path to the same "
          "file); wait for it to end, or give another --db");
    return Status::IoError(Errno("cannot lock " + db_path, err));
  }
  return fd;
}
}  // namespace

StatusOr<std::unique_ptr<WriterLock>> WriterLock::Acquire(const std::string& db_path) {
  const std::string path = WriterLockPath(db_path);
  // A holder removes the file when it releases: if it went away between our open and our lock,
  // we locked a file nobody else will see, so try again with the new one.
  for (int tries = 0; tries < 5; ++tries) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Status::IoError(Errno("cannot open the writer lock " + path, errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      Status st = err == EWOULDBLOCK ? LockedError(db_path, fd)
                                     : Status::IoError(Errno("cannot lock " + path, err));
      ::close(fd);
      return st;
    }
    struct stat held {
    }, named{};
    if (::fstat(fd, &held) == 0 && ::stat(path.c_str(), &named) == 0 &&
        held.st_ino == named.st_ino && held.st_dev == named.st_dev) {
      StatusOr<int> db_fd = LockDatabaseFile(db_path);
      if (!db_fd.ok()) {
        ::unlink(path.c_str());
        ::close(fd);
        return db_fd.status();
      }
      const std::string holder = "pid " + std::to_string(::getpid()) + "\n";
      if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, holder.data(), holder.size(), 0) < 0) {
        // The pid only improves the message a second writer gets; the lock itself holds.
      }
      return std::unique_ptr<WriterLock>(new WriterLock(fd, *db_fd, path));
    }
    ::close(fd);
  }
  return Status::IoError("cannot take the writer lock " + path + ": it keeps being replaced");
}

Status WriterLock::CheckFree(const std::string& db_path) {
  const std::string path = WriterLockPath(db_path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    Status st;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      st = errno == EWOULDBLOCK ? LockedError(db_path, fd)
                                : Status::IoError(Errno("cannot check " + path, errno));
    }
    ::close(fd);  // releases the probe's lock at once
    PERFLAW_RETURN_IF_ERROR(st);
  }
  StatusOr<int> db_fd = LockDatabaseFile(db_path);
  if (!db_fd.ok()) return db_fd.status();
  if (*db_fd >= 0) ::close(*db_fd);
  return Status::Ok();
}

WriterLock::~WriterLock() {
  if (db_fd_ >= 0) ::close(db_fd_);
  ::unlink(path_.c_str());  // before the unlock, so that a waiter re-checks (see Acquire)
  ::close(fd_);
}

// ---- planning ----

StatusOr<std::string> LawGroupBy(const LawSpec& law) {
  std::vector<std::string> keys;
  for (const std::string& key : law.group_by) {
    if (key == "dataset") {
      keys.push_back("dataset");
    } else if (key == "data.max_seq_len") {
      keys.push_back("max_seq_len");
    } else {
      return Status::InvalidArgument("law.group_by: " + key +
                                     " cannot be fitted separately (the law groups by dataset "
                                     "and data.max_seq_len only)");
    }
  }
  if (keys.empty()) return std::string("none");
  std::string out;
  for (const std::string& k : keys) out += (out.empty() ? "" : ",") + k;
  return out;
}

namespace {
StatusOr<RunPlan> FinishPlan(Sweep sweep, const std::string& where) {
  RunPlan plan;
  StatusOr<std::string> group_by = LawGroupBy(sweep.law);
  if (!group_by.ok()) return Status::InvalidArgument(where + ": " + group_by.status().message());
  plan.law_group_by = *group_by;
  std::string why;
  if (!sweep.resources.IsValid(&why)) return Status::InvalidArgument(where + ": " + why);
  if (!sweep.policy.IsValid(&why)) return Status::InvalidArgument(where + ": " + why);
  plan.sweep = std::move(sweep);
  plan.planned = true;
  return plan;
}
}  // namespace

// The database file (when it exists) and the folder that holds its WAL and lock files must be
// writable (access(2) also reports a read-only filesystem, to root too); a folder still to be
// created is checked at its nearest existing ancestor.
namespace {
Status Unwritable(const std::string& db_path, const std::string& what, int err) {
  return Status::InvalidArgument(db_path + ": " + what + " is not writable (" + std::strerror(err) +
                                 "): make it writable or choose another database");
}

Status CheckWritablePath(const std::string& db_path) {
  std::error_code ec;
  if (fs::exists(db_path, ec) && ::access(db_path.c_str(), W_OK) != 0)
    return Unwritable(db_path, "the database file", errno);
  fs::path dir = fs::absolute(db_path, ec).parent_path();
  while (!dir.empty() && !fs::exists(dir, ec) && dir != dir.parent_path()) dir = dir.parent_path();
  if (::access(dir.c_str(), W_OK) != 0)
    return Unwritable(db_path, "its folder " + dir.string(), errno);
  for (const char* suffix : {"-wal", "-shm"}) {
    const std::string side = db_path + suffix;
    if (fs::exists(side, ec) && ::access(side.c_str(), W_OK) != 0)
      return Unwritable(db_path, side, errno);
  }
  return Status::Ok();
}
}  // namespace

// A database a run would write into must be a sound perflaw database (or not exist yet): writing
// into a corrupt file would bury what can still be recovered from it.
Status CheckWritableDatabase(const std::string& db_path) {
  std::error_code ec;
  if (fs::is_directory(db_path, ec))
    return Status::InvalidArgument(db_path + " is a directory; name the database file");
  PERFLAW_RETURN_IF_ERROR(CheckWritablePath(db_path));
  if (!fs::exists(db_path, ec)) return Status::Ok();
  StatusOr<std::unique_ptr<ResultsDb>> db = ResultsDb::OpenReadOnly(db_path);
  if (!db.ok()) return db.status();
  Status sound = (*db)->IntegrityCheck();
  if (sound.ok()) return Status::Ok();
  return Status::FailedPrecondition(
      sound.message() +
      "; perflaw will not write into it: restore a copy, or recover its rows "
      "with `sqlite3 DB .recover` into a new file");
}

StatusOr<RunPlan> PlanRun(const std::string& sweep_path, const std::string& db_override) {
  StatusOr<Sweep> sweep = LoadSweep(sweep_path);
  if (!sweep.ok()) return sweep.status();
  StatusOr<RunPlan> plan = FinishPlan(std::move(sweep).value(), sweep_path);
  if (!plan.ok()) return plan.status();
  plan->db_path = db_override.empty() ? plan->sweep.db_path
                                      : fs::absolute(db_override).lexically_normal().string();
  PERFLAW_RETURN_IF_ERROR(CheckWritableDatabase(plan->db_path));
  return plan;
}

namespace {
// Where the tree around a copied or moved database now lies: the recorded base directory with
// the database's recorded path relative to it (`db: out/r.db`) taken off the database's real
// path. Without it a copy would read the original's dataset and write into its work_dir. None when
// the database did not move or moved on its own (its recorded path is not inside the base).
std::optional<std::string> MovedBaseDir(const std::string& recorded_base,
                                        const std::string& recorded_db, const std::string& abs_db) {
  if (recorded_db == abs_db) return std::nullopt;
  const fs::path rel = fs::path(recorded_db).lexically_relative(recorded_base);
  if (rel.empty() || *rel.begin() == "..") return std::nullopt;
  fs::path base = abs_db;
  for (size_t n = std::distance(rel.begin(), rel.end()); n > 0; --n) base = base.parent_path();
  if ((base / rel).lexically_normal() != fs::path(abs_db)) return std::nullopt;
  return base.string();
}
}  // namespace

StatusOr<RunPlan> PlanResume(const std::string& db_path, bool retry_failed) {
  PERFLAW_RETURN_IF_ERROR(CheckWritableDatabase(db_path));
  StatusOr<std::unique_ptr<ResultsDb>> db = ResultsDb::OpenReadOnly(db_path);
  if (!db.ok()) return db.status();
  StatusOr<std::optional<int64_t>> latest = (*db)->LatestSweep();
  if (!latest.ok()) return latest.status();
  if (!*latest) return Status::NotFound(db_path + ": no sweep recorded; use perflaw run");
  StatusOr<SweepRecord> record = (*db)->GetSweep(**latest);
  if (!record.ok()) return record.status();
  db->reset();
  const std::string abs_db = fs::absolute(db_path).lexically_normal().string();
  SweepParseOptions parse;
  parse.base_dir = RecordedBaseDir(record->yaml);
  if (parse.base_dir.empty()) parse.base_dir = fs::path(abs_db).parent_path().string();
  if (std::optional<std::string> declared = DeclaredDbPath(record->yaml, parse.base_dir)) {
    if (std::optional<std::string> moved = MovedBaseDir(parse.base_dir, *declared, abs_db))
      parse.base_dir = *moved;
  }
  const std::string source = db_path + ":sweep " + std::to_string(**latest);
  StatusOr<Sweep> sweep = ParseSweep(record->yaml, source, parse);
  if (!sweep.ok()) return sweep.status();
  StatusOr<RunPlan> plan = FinishPlan(std::move(sweep).value(), source);
  if (!plan.ok()) return plan.status();
  plan->db_path = abs_db;
  plan->resume = true;
  plan->retry_failed = retry_failed;
  return plan;
}

std::optional<ProgressMode> ParseProgressMode(const std::string& name) {
  if (name == "tty") return ProgressMode::kTty;
  if (name == "lines") return ProgressMode::kLines;
  if (name == "none") return ProgressMode::kNone;
  return std::nullopt;
}

bool RunOptions::IsValid(std::string* why) const {
  if (!(progress_line_seconds > 0) || !std::isfinite(progress_line_seconds)) {
    *why = "progress_line_seconds must be a finite number > 0, got " +
           std::to_string(progress_line_seconds);
    return false;
  }
  if (!scheduler.IsValid(why)) return false;
  return true;
}

SchedulerOptions SchedulerOptionsFor(const Policy& policy, SchedulerOptions base) {
  base.max_attempts = policy.max_attempts;
  // policy: 0 = no limit; the scheduler wants a finite one: ten years is none in practice.
  base.point_timeout = policy.point_timeout > 0 ? policy.point_timeout : 10 * 365 * 86400.0;
  base.heartbeat_interval = policy.heartbeat_interval;
  base.heartbeat_grace = policy.heartbeat_timeout / policy.heartbeat_interval;
  base.dispatch_ahead = policy.dispatch_ahead;
  return base;
}

namespace {

// Steps 2-4 of a run (docs/running.md): interrupted attempts closed, data made, the sweep recorded
// or found, and its pending points as the scheduler takes them.
// Stores the data-quality measures of every (dataset, preprocessing, max_seq_len) the sweep trains
// on (apen's defaults: ApEn/SampEn with m = 2, r = 0.2, LZ entropy, Shannon, zlib; whole
// preprocessed sequences truncated to their last L items), so that the results database carries the
// data term of the law next to the results. Cheap next to training: one load per dataset
// configuration.
Status RecordDatasetStats(const Sweep& sweep, ResultsDb* db, std::ostream& err) {
  std::map<std::string, std::pair<apen::DataOptions, std::set<size_t>>> configs;
  // Points share a few data sections: each is parsed once (a whole point's parse costs about
  // 30 us, seconds over 100,000 points while every worker group waits for its first point).
  std::set<std::string> seen;
  for (const GridPoint& p : sweep.points) {
    if (!seen.insert(p.config.at("data").dump()).second) continue;
    StatusOr<worker::PointConfig> config =
        worker::ParsePointConfig(p.config.dump(), "point " + p.id);
    if (!config.ok()) return config.status();
    apen::DataOptions data = config->data;
    const size_t max_len = data.max_seq_len;
    data.max_seq_len = 0;
    auto& entry = configs[data.CanonicalString()];
    entry.first = data;
    entry.second.insert(max_len);
  }
  apen::CacheOptions cache;
  cache.dir = sweep.work_dir + "/cache";
  for (const auto& [canonical, entry] : configs) {
    StatusOr<apen::Dataset> data = apen::LoadDataset(entry.first, cache);
    if (!data.ok()) return data.status();
    for (size_t max_len : entry.second) {
      apen::QualityOptions q;
      q.max_seq_len = max_len;
      const apen::QualitySummary quality = apen::ComputeQuality(data->sequences, q);
      if (!quality.ok) return Status::Internal("data-quality measures: " + quality.message);
      const DatasetStatsRecord r = StatsRecordOf(entry.first, *data, quality);
      PERFLAW_RETURN_IF_ERROR(db->StoreDatasetStats(r));
      char line[256];
      std::snprintf(line, sizeof line,
                    "L %zu: %lld users, %lld tokens, ApEn(m=2, r=0.2) mean %.4g, LZ entropy %.4g "
                    "bits/item, H(next|previous) %.4g bits",
                    max_len, static_cast<long long>(r.users), static_cast<long long>(r.tokens),
                    r.apen, r.lz_entropy, r.transition_bits);
      err << "perflaw: dataset " << fs::path(entry.first.path).filename().string() << " " << line
          << " (stored in dataset_stats)" << std::endl;
    }
  }
  return Status::Ok();
}

StatusOr<std::vector<PendingPoint>> PrepareRun(const RunPlan& plan, ResultsDb* db,
                                               RunOutcome* outcome, StateCounts* before) {
  // Anything left RUNNING belongs to a job that died: we hold the only writer lock.
  StatusOr<int64_t> closed = db->CloseInterruptedAttempts();
  if (!closed.ok()) return closed.status();
  outcome->interrupted_attempts_closed = *closed;
  StatusOr<std::vector<std::string>> data = MaterializeSyntheticData(plan.sweep);
  if (!data.ok()) return data.status();
  StatusOr<int64_t> sweep = RecordOrFindSweep(plan, db, outcome);
  if (!sweep.ok()) return sweep.status();
  outcome->sweep_id = *sweep;
  StatusOr<std::vector<PointRecord>> records = db->PendingPoints(*sweep);
  if (!records.ok()) return records.status();
  StatusOr<StateCounts> counts = db->Counts(*sweep);
  if (!counts.ok()) return counts.status();
  *before = *counts;
  Status convert;
  std::vector<PendingPoint> points = ToPending(*records, plan.sweep.work_dir, &convert);
  PERFLAW_RETURN_IF_ERROR(convert);
  std::error_code ec;
  fs::create_directories(fs::path(plan.sweep.work_dir) / "checkpoints", ec);
  if (ec) {
    return Status::IoError("cannot create " + plan.sweep.work_dir +
                           "/checkpoints: " + ec.message());
  }
  return points;
}

// Step 7: the law fit when the grid is done, or why there is none.
std::string LawAtTheEnd(const RunPlan& plan, const RunOptions& options, const StateCounts& counts,
                        std::ostream& out) {
  if (!plan.sweep.law.enabled) return "skipped: the sweep's law.enabled is false";
  if (!options.fit_law) return "skipped: not asked for";
  if (counts.pending + counts.running > 0) {
    return "skipped: points are left pending (fit after perflaw resume)";
  }
  if (counts.completed == 0) return "skipped: no point completed";
  return FitLaw(plan, out);
}

}  // namespace

// ---- the run ----

StatusOr<RunOutcome> ExecuteRun(const RunPlan& plan, Transport* transport, const Clock& clock,
                                const RunOptions& options, std::ostream& out, std::ostream& err) {
  // Until the scheduler runs (it shuts the groups down itself), an early return ends the workers.
  struct ShutdownUnlessRun {
    Transport* transport;
    bool scheduler_ran = false;
    ~ShutdownUnlessRun() {
      if (scheduler_ran) return;
      for (int g = 0; g < transport->GroupCount(); ++g) (void)transport->Send(g, Shutdown{});
    }
  } shutdown_guard{transport};
  if (!plan.planned) return Status::InvalidArgument("ExecuteRun: the plan was not made");
  const SchedulerOptions sched_options = SchedulerOptionsFor(plan.sweep.policy, options.scheduler);
  std::string why;
  if (!options.IsValid(&why)) return Status::InvalidArgument("run options: " + why);
  if (!sched_options.IsValid(&why)) return Status::InvalidArgument("policy: " + why);

  std::error_code ec;
  fs::create_directories(fs::path(plan.db_path).parent_path(), ec);
  if (ec)
    return Status::IoError("cannot create the directory of " + plan.db_path + ": " + ec.message());
  StatusOr<std::unique_ptr<WriterLock>> lock = WriterLock::Acquire(plan.db_path);
  if (!lock.ok()) return lock.status();
  StatusOr<std::unique_ptr<ResultsDb>> opened = ResultsDb::OpenForWriting(plan.db_path);
  if (!opened.ok()) return opened.status();
  ResultsDb& db = **opened;

  RunOutcome outcome;
  StateCounts before;
  StatusOr<std::vector<PendingPoint>> points = PrepareRun(plan, &db, &outcome, &before);
  if (!points.ok()) return points.status();
  const int64_t sweep = outcome.sweep_id;
  PERFLAW_RETURN_IF_ERROR(RecordDatasetStats(plan.sweep, &db, err));

  err << "perflaw: sweep " << plan.sweep.name << " (id " << sweep << ") in " << plan.db_path << ": "
      << before.total() << " points, " << before.completed << " already completed (not rerun), "
      << points->size() << " to run on " << transport->GroupCount() << " worker group(s)"
      << std::endl;

  ProgressPrinter printer(options, clock, err, before.completed, before.failed);
  DbListenerOptions listen;
  listen.max_attempts = plan.sweep.policy.max_attempts;
  listen.placement = options.placement;
  listen.on_progress = [&](const Progress& p) { printer.Update(p); };
  listen.on_event = [&](const std::string& line) { printer.Event(line); };
  listen.stop_requested = [&] { return options.stop && options.stop->load(); };
  if (!listen.IsValid(&why)) return Status::InvalidArgument("policy: " + why);
  DbListener listener(&db, listen);
  EtaListener timed(&listener, clock, *points);
  Scheduler scheduler(sched_options, transport, &clock, &timed);
  listener.Attach(&scheduler);
  AdaptiveRounds rounds(plan.sweep, plan.db_path, plan.law_group_by, &db, sweep);
  PERFLAW_RETURN_IF_ERROR(rounds.Load());
  Status round_error;
  Refill refill;
  if (plan.sweep.policy.adaptive.enabled() && options.fit_law) {
    // The next round when every point so far is done; the scheduler has flushed the listener.
    refill = [&]() -> std::vector<PendingPoint> {
      if (!listener.error().ok()) return {};
      std::string event;
      StatusOr<std::vector<PendingPoint>> more = rounds.Next(&event);
      if (!more.ok()) {
        round_error = more.status();
        return {};
      }
      if (!event.empty()) printer.Event(event);
      timed.AddPoints(*more);
      return std::move(more).value();
    };
  }

  PERFLAW_RETURN_IF_ERROR(db.MarkSweepStarted(sweep));
  if (options.stop && options.stop->load()) scheduler.RequestStop();
  StatusOr<SchedulerSummary> summary = scheduler.Run(std::move(points).value(), refill);
  printer.Finish();
  shutdown_guard.scheduler_ran = summary.ok();  // an invalid input sends nothing
  if (!summary.ok()) {
    (void)db.MarkSweepFinished(sweep, "INTERRUPTED");
    return summary.status();
  }
  outcome.scheduler = *summary;
  outcome.ran = true;
  StatusOr<StateCounts> after = db.Counts(sweep);
  const bool done = after.ok() && after->pending + after->running == 0;
  Status finished = db.MarkSweepFinished(sweep, done ? "COMPLETED" : "INTERRUPTED");
  // Whatever the database said, it is not the user's input: exit code 1, not 2.
  if (!listener.error().ok())
    return Status::Internal("results database: " + listener.error().message());
  if (!summary->storage_error.empty())
    return Status::IoError(
        "a worker could not write its files, so the run stopped: " + summary->storage_error +
        " (free space or fix permissions, then run " + "perflaw resume " + plan.db_path + ")");
  if (!round_error.ok()) return Status::Internal("adaptive round: " + round_error.message());
  if (!summary->refill_error.empty())
    return Status::Internal("adaptive round: the scheduler refused its points: " +
                            summary->refill_error);
  if (!after.ok()) return after.status();
  PERFLAW_RETURN_IF_ERROR(finished);
  outcome.counts = *after;
  outcome.adaptive = rounds.summary();
  outcome.exit_code = ExitCodeOf(outcome.counts);
  if (outcome.counts.pending + outcome.counts.running > 0)
    outcome.remaining_seconds = RemainingAfterStop(db, sweep, transport->GroupCount());
  PrintSummary(plan, outcome, out);

  outcome.law = LawAtTheEnd(plan, options, outcome.counts, out);
  out << "\nlaw: " << outcome.law << std::endl;
  return outcome;
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "n/a";
  const long long s = std::llround(seconds);
  char buf[48];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm%02llds", s / 3600, s / 60 % 60, s % 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%llds", s);
  }
  return buf;
}

std::string ProgressLine(const Progress& p, int64_t reused_completed, int64_t prior_failed) {
  const int64_t done = reused_completed + p.completed;
  const int64_t failed = prior_failed + p.failed;
  const int64_t total = done + failed + p.running + p.pending;
  std::ostringstream line;
  line << "points " << done << "/" << total << " done, " << p.running << " running";
  if (p.running_epochs_max > 0)
    line << " (epochs " << p.running_epochs_done << "/" << p.running_epochs_max << ")";
  line << ", " << failed << " failed, " << p.pending << " pending | elapsed "
       << FormatDuration(p.elapsed_seconds) << " | ETA "
       << (p.running + p.pending == 0 ? std::string("0s")
           : p.eta_seconds            ? FormatDuration(*p.eta_seconds)
                                      : std::string("unknown until a point completes"))
       << " | " << p.live_groups << " worker group(s) live";
  return line.str();
}

int RemoveStaleCheckpointTemporaries(const std::string& work_dir) {
  std::error_code ec;
  int removed = 0;
  for (fs::directory_iterator it(fs::path(work_dir) / "checkpoints", ec), end; !ec && it != end;
       it.increment(ec)) {
    // The name worker/trainer.cc's WriteFileAtomically gives the checkpoint while writing it.
    std::error_code rm;
    if (fs::remove(it->path() / "checkpoint.pt.tmp", rm)) ++removed;
  }
  return removed;
}

}  // namespace perflaw::orchestrator
