// Running a sweep on rank 0: plain C++ given a Transport and a Clock (MPI only in run_cmd.cc).
//
//   PlanRun(SWEEP.yaml) / PlanResume(DB)   parse and validate; read-only, writes nothing (plan.h)
//   ExecuteRun(plan, transport, clock)     take the database's writer lock (writer_lock.h), record
//                                          the sweep and its points, make the synthetic data, store
//                                          the data-quality measures (dataset_stats.h), run the
//                                          Scheduler with a DbListener, print progress
//                                          (progress.h, eta_listener.h), close the sweep, print the
//                                          summary and, when the grid is done, the law (summary.h)
// What is printed, the exit codes and resume: docs/running.md.
#pragma once

#include <iosfwd>
#include <string>

#include "apen/status.h"
#include "orchestrator/schedule/clock.h"
#include "orchestrator/run/eta_listener.h"
#include "orchestrator/run/outcome.h"
#include "orchestrator/run/plan.h"
#include "orchestrator/run/progress.h"
#include "orchestrator/run/writer_lock.h"
#include "orchestrator/schedule/scheduler.h"
#include "orchestrator/schedule/transport.h"

namespace perflaw::orchestrator {

// Removes WORK_DIR/checkpoints/*/checkpoint.pt.tmp: the temporary file of a checkpoint that a rank
// killed mid-write left (the worker writes checkpoints via it and a rename). Only call it while no
// rank of a job on this work_dir runs. Returns how many were removed.
int RemoveStaleCheckpointTemporaries(const std::string& work_dir);

// Sets the scheduler's options from the sweep's policy over `base`.
SchedulerOptions SchedulerOptionsFor(const Policy& policy, SchedulerOptions base);

// Runs the plan with these workers. Progress and events go to `err`, the summary and the law fit
// to `out`. Returns an error (and writes nothing) when the database is locked by another writer
// or cannot be opened; database errors during the run stop it and are returned after the
// scheduler ended (the sweep is closed INTERRUPTED where the database still allows). Every worker
// group is sent Shutdown in the end, also when an error comes before the scheduler runs, so that
// an MPI job always ends.
StatusOr<RunOutcome> ExecuteRun(const RunPlan& plan, Transport* transport, const Clock& clock,
                                const RunOptions& options, std::ostream& out, std::ostream& err);

}  // namespace perflaw::orchestrator
