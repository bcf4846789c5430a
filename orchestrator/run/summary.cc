#include "orchestrator/run/summary.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <ostream>
#include <vector>

#include "orchestrator/cli/cli.h"

namespace perflaw::orchestrator {
namespace {

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

}  // namespace

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

}  // namespace perflaw::orchestrator
