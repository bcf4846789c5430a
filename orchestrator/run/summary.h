// The end of a run: its summary and the law fit when the grid is done.
#pragma once

#include <iosfwd>
#include <string>

#include "orchestrator/run/outcome.h"
#include "orchestrator/run/plan.h"

namespace perflaw::orchestrator {

// The summary printed when a run ends (docs/running.md).
void PrintSummary(const RunPlan& plan, const RunOutcome& o, std::ostream& out);

// Step 7: the law fit when the grid is done, or why there is none.
std::string LawAtTheEnd(const RunPlan& plan, const RunOptions& options, const StateCounts& counts,
                        std::ostream& out);

}  // namespace perflaw::orchestrator
