#include "orchestrator/sweep/identity.h"

namespace perflaw::orchestrator {

nlohmann::json CanonicalJson(const worker::PointConfig& config) {
  return worker::PointConfigToJson(config);
}

std::string PointId(const nlohmann::json& canonical_config, const std::string& data_identity) {
  // train.precision arrived after points were stored: leaving out its default ("auto") keeps the
  // ids of earlier points; an explicit fp32 or bf16 is part of the experiment.
  nlohmann::json identity = worker::ExperimentPart(canonical_config);
  identity["data"]["path"] = data_identity;  // the content, not where the file lies
  return Sha256Hex("perflaw-point-v1\n" + identity.dump()).substr(0, 32);
}

std::string PointId(const worker::PointConfig& config, const std::string& data_identity) {
  return PointId(CanonicalJson(config), data_identity);
}

}  // namespace perflaw::orchestrator
