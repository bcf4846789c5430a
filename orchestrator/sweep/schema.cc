#include "orchestrator/sweep/schema.h"

#include <cmath>

#include "apen/text.h"

namespace perflaw::orchestrator {
namespace {

bool Fail(std::string* why, const std::string& msg) {
  if (why) *why = msg;
  return false;
}

}  // namespace

bool Resources::IsValid(std::string* why) const {
  if (ranks_per_point < 1) return Fail(why, "resources.ranks_per_point must be >= 1");
  if (workers < 1) return Fail(why, "resources.workers must be >= 1");
  if (workers % ranks_per_point != 0)
    return Fail(why, "resources.workers (" + std::to_string(workers) +
                         ") must be a multiple of resources.ranks_per_point (" +
                         std::to_string(ranks_per_point) + ")");
  return true;
}

bool Policy::IsValid(std::string* why) const {
  if (max_attempts < 1) return Fail(why, "policy.max_attempts must be >= 1, got 0");
  if (!(point_timeout >= 0 && std::isfinite(point_timeout)))
    return Fail(why, "policy.point_timeout must be >= 0 seconds (0: no limit), got " +
                         apen::ShortNum(point_timeout));
  if (!(heartbeat_interval > 0 && std::isfinite(heartbeat_interval)))
    return Fail(why, "policy.heartbeat_interval must be > 0 seconds, got " +
                         apen::ShortNum(heartbeat_interval));
  if (!(heartbeat_timeout > heartbeat_interval && std::isfinite(heartbeat_timeout)))
    return Fail(why, "policy.heartbeat_timeout must exceed policy.heartbeat_interval (" +
                         apen::ShortNum(heartbeat_interval) + " s), got " +
                         apen::ShortNum(heartbeat_timeout));
  if (!(dispatch_ahead >= 0 && std::isfinite(dispatch_ahead)))
    return Fail(why, "policy.dispatch_ahead must be >= 0 seconds (0: off), got " +
                         apen::ShortNum(dispatch_ahead));
  if (max_points < 1) return Fail(why, "policy.max_points must be >= 1, got 0");
  return adaptive.IsValid(why);
}

bool AdaptivePolicy::IsValid(std::string* why) const {
  if (points_per_round < 1 || points_per_round > 1000)
    return Fail(why, "policy.adaptive.points_per_round must be 1 to 1000, got " +
                         std::to_string(points_per_round));
  if (stop_when != "identified" && stop_when != "all_axes")
    return Fail(
        why, "policy.adaptive.stop_when must be identified or all_axes, got \"" + stop_when + "\"");
  if (!(max_interval_ratio > 1 && std::isfinite(max_interval_ratio)))
    return Fail(why, "policy.adaptive.max_interval_ratio must be a number > 1, got " +
                         apen::ShortNum(max_interval_ratio));
  return true;
}

}  // namespace perflaw::orchestrator
