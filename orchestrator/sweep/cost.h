// The cost estimate of a sweep's points: non-embedding parameters x training tokens, the order of
// largest-first dispatch (and the x axis of the run's duration model).
#pragma once

#include "apen/cache.h"
#include "apen/status.h"
#include "law/params.h"
#include "orchestrator/sweep/schema.h"
#include "worker/point_config.h"

namespace perflaw::orchestrator {

// The model shape of a point configuration (model.type, layers, d_model, ffn_multiplier,
// data.max_seq_len), for law::NonEmbeddingParams: the count `sweep check` shows and the worker
// reports.
law::ModelShape ModelShapeOf(const worker::PointConfig& config);

// Fills every point's non_embedding_params, tokens and cost. Tokens: epochs x the sum over the
// training users a point keeps (data.user_fraction) of min(train length, max_seq_len), from the
// lengths of its dataset's sequences (loaded once per dataset and preprocessing, through `cache`;
// synthetic data is generated in memory, without preprocessing: an estimate).
Status EstimateCosts(Sweep* sweep, const apen::CacheOptions& cache);

}  // namespace perflaw::orchestrator
