// What identifies a point: its canonical configuration, derived from the typed one by one
// function, and the id that hashes the configuration's experiment part with the data's content.
// The canonical JSON is what the results database stores and what is sent to the workers.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "worker/point_config.h"

namespace perflaw::orchestrator {

// The canonical JSON of a point configuration (worker::PointConfigToJson: every default filled in,
// keys in canonical order).
nlohmann::json CanonicalJson(const worker::PointConfig& config);

// The id of a canonical point configuration: the first 128 bits, in hex, of SHA-256 over
// "perflaw-point-v1\n" + the compact key-sorted JSON of the configuration without `device` and
// `threads`, with data.path replaced by `data_identity` (DatasetSpec::identity).
std::string PointId(const nlohmann::json& canonical_config, const std::string& data_identity);
// The same for a typed configuration: PointId(CanonicalJson(config), data_identity).
std::string PointId(const worker::PointConfig& config, const std::string& data_identity);

// SHA-256 of a byte string, 64 lowercase hex digits (sha256.cc).
std::string Sha256Hex(const std::string& bytes);

}  // namespace perflaw::orchestrator
