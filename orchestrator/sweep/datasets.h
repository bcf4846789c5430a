// The sweep's synthetic datasets on disk (their parsing is the SweepParser's, datasets.cc).
#pragma once

#include <string>
#include <vector>

#include "apen/status.h"
#include "orchestrator/sweep/schema.h"

namespace perflaw::orchestrator {

// Writes every synthetic dataset of the sweep to its DatasetSpec::path (binary format, creating
// directories) unless a valid file is already there. Deterministic: the same options give the same
// bytes. Returns the paths written.
StatusOr<std::vector<std::string>> MaterializeSyntheticData(const Sweep& sweep);

}  // namespace perflaw::orchestrator
