// The data-quality measures of a sweep's datasets, stored with its results.
#pragma once

#include <iosfwd>

#include "apen/status.h"
#include "orchestrator/store/results_db.h"
#include "orchestrator/sweep/schema.h"

namespace perflaw::orchestrator {

// Stores the data-quality measures of every (dataset, preprocessing, max_seq_len) the sweep trains
// on (apen's defaults: ApEn/SampEn with m = 2, r = 0.2, LZ entropy, Shannon, zlib; whole
// preprocessed sequences truncated to their last L items), so that the results database carries the
// data term of the law next to the results. Cheap next to training: one load per dataset
// configuration.
// Prints one line per measured (dataset, max_seq_len) to `err`.
Status RecordDatasetStats(const Sweep& sweep, ResultsDb* db, std::ostream& err);

}  // namespace perflaw::orchestrator
