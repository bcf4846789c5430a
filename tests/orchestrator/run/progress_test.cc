// What a run prints: durations and the progress line.
#include "orchestrator/run/progress.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace perflaw::orchestrator {
namespace {

using nlohmann::json;

TEST(FormatTest, DurationsAndTheProgressLine) {
  EXPECT_EQ(FormatDuration(5.4), "5s");
  EXPECT_EQ(FormatDuration(65), "1m05s");
  EXPECT_EQ(FormatDuration(3723), "1h02m03s");
  EXPECT_EQ(FormatDuration(-1), "n/a");
  Progress p;
  p.completed = 2;
  p.running = 1;
  p.failed = 1;
  p.pending = 3;
  p.live_groups = 2;
  p.elapsed_seconds = 83;
  EXPECT_EQ(ProgressLine(p, 4, 0),
            "points 6/11 done, 1 running, 1 failed, 3 pending | elapsed 1m23s | ETA unknown "
            "until a point completes | 2 worker group(s) live");
  p.running_epochs_done = 3;
  p.running_epochs_max = 20;
  EXPECT_NE(ProgressLine(p, 4, 0).find("1 running (epochs 3/20), 1 failed"), std::string::npos);
  p.eta_seconds = 190;
  EXPECT_NE(ProgressLine(p, 0, 2).find("3 failed, 3 pending | elapsed 1m23s | ETA 3m10s"),
            std::string::npos);
}

// Records what reaches the database listener.
}  // namespace
}  // namespace perflaw::orchestrator
