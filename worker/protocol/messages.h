// The control messages between the orchestrator (rank 0) and the worker groups: plain structs with
// a JSON wire form (EncodeMessage / Decode*), so that a transport only moves bytes. This is the
// worker's side of the contract: the orchestrator includes it (orchestrator/schedule/transport.h), the
// worker never includes anything from orchestrator/. Needs nothing but nlohmann::json and
// apen/status.h. The protocol is described in docs/scheduler.md and docs/design.md.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

#include "apen/status.h"

namespace perflaw::protocol {

// Why an attempt ended without a result. The wire names are the strings of FailureReasonName.
enum class FailureReason {
  kFailed,         // the worker reported an error (exception, bad input, ...)
  kDiverged,       // the worker reported a NaN/Inf loss
  kTimeout,        // the attempt ran longer than SchedulerOptions::point_timeout
  kHeartbeatLost,  // the group was silent for heartbeat_interval * heartbeat_grace
  kGroupLost,      // the transport reported the group's ranks dead (or a send to it failed)
  kPreempted,      // stopped on request (SIGTERM); a checkpoint may exist; not the point's fault
  kInterrupted,    // the orchestrator could not go on (transport error); not the point's fault
  kStorage,        // the worker could not read or write its files (full disk, read-only, removed):
                   // not the point's fault, and every other point would meet it too: the run stops
};

inline const char* FailureReasonName(FailureReason reason) {
  switch (reason) {
    case FailureReason::kFailed:
      return "failed";
    case FailureReason::kDiverged:
      return "diverged";
    case FailureReason::kTimeout:
      return "timeout";
    case FailureReason::kHeartbeatLost:
      return "heartbeat_lost";
    case FailureReason::kGroupLost:
      return "group_lost";
    case FailureReason::kPreempted:
      return "preempted";
    case FailureReason::kInterrupted:
      return "interrupted";
    case FailureReason::kStorage:
      return "storage";
  }
  return "unknown";
}

inline std::optional<FailureReason> FailureReasonFromName(std::string_view name) {
  for (FailureReason r :
       {FailureReason::kFailed, FailureReason::kDiverged, FailureReason::kTimeout,
        FailureReason::kHeartbeatLost, FailureReason::kGroupLost, FailureReason::kPreempted,
        FailureReason::kInterrupted, FailureReason::kStorage}) {
    if (name == FailureReasonName(r)) return r;
  }
  return std::nullopt;
}

// Failures that say nothing about the point itself: they never use up one of its max_attempts.
inline bool CountsAgainstPoint(FailureReason reason) {
  return reason != FailureReason::kPreempted && reason != FailureReason::kInterrupted &&
         reason != FailureReason::kStorage;
}

// ---- Orchestrator -> group (to the group's rank 0, which broadcasts inside the group) ----

// Train and evaluate one point. `attempt` numbers the point's attempts from 1 across runs and
// resumes; every reply about this work carries (point, attempt) so that late replies from an
// earlier attempt can be told apart.
struct RunPoint {
  std::string point;
  uint32_t attempt = 0;
  nlohmann::json config;          // the worker's PointConfig JSON
  std::string checkpoint_dir;     // where to resume from and checkpoint to ("" = none)
  double heartbeat_interval = 0;  // seconds between the Heartbeats the group must send
};

// Write a checkpoint and stop this attempt (SIGTERM/preemption, or a timed-out attempt). The group
// answers with PointFailed{preempted} (or PointDone if it had just finished).
struct StopPoint {
  std::string point;
  uint32_t attempt = 0;
};

// No more work: the group leaves its loop and its ranks exit.
struct Shutdown {};

using ToGroup = std::variant<RunPoint, StopPoint, Shutdown>;

// ---- Group -> orchestrator ----

// The group is idle and wants work: once at start-up, and (recommended) after every point. A group
// the scheduler gave up on (timeout, heartbeat lost) is used again only after it says Ready.
struct Ready {};

// The group is alive and working on (point, attempt).
struct Heartbeat {
  std::string point;
  uint32_t attempt = 0;
  uint64_t step = 0;   // optimizer steps done
  uint32_t epoch = 0;  // epochs done
};

// One finished epoch (worker::EpochRecordToJson); also counts as a heartbeat.
struct EpochMetrics {
  std::string point;
  uint32_t attempt = 0;
  uint32_t epoch = 0;
  nlohmann::json metrics;
};

// The attempt finished with a result (worker::PointResultToJson).
struct PointDone {
  std::string point;
  uint32_t attempt = 0;
  nlohmann::json result;
};

// The attempt ended without a result. `retryable = false` (e.g. a user error in the point's input)
// fails the point at once instead of retrying it.
struct PointFailed {
  std::string point;
  uint32_t attempt = 0;
  FailureReason reason = FailureReason::kFailed;
  std::string message;
  bool retryable = true;
};

// Produced by the transport itself, never sent by a worker: the group's ranks are gone.
struct GroupLost {
  std::string message;
};

using FromGroup = std::variant<Ready, Heartbeat, EpochMetrics, PointDone, PointFailed, GroupLost>;

// ---- Wire form: one JSON object per message, {"type": "...", ...fields} ----

namespace wire {

inline bool HasType(const nlohmann::json& v, const std::string*) { return v.is_string(); }
inline bool HasType(const nlohmann::json& v, const bool*) { return v.is_boolean(); }
inline bool HasType(const nlohmann::json& v, const double*) { return v.is_number(); }
inline bool HasType(const nlohmann::json& v, const uint32_t*) {
  return v.is_number_unsigned() && v.get<uint64_t>() <= UINT32_MAX;
}
inline bool HasType(const nlohmann::json& v, const uint64_t*) { return v.is_number_unsigned(); }
inline bool HasType(const nlohmann::json&, const nlohmann::json*) { return true; }

// The value of `key`, or std::invalid_argument naming the key (no silent conversions: a negative
// attempt number is an error, not 4294967295).
template <typename T>
inline T Field(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end()) throw std::invalid_argument(std::string("missing key '") + key + "'");
  if (!HasType(*it, static_cast<const T*>(nullptr))) {
    throw std::invalid_argument(std::string("key '") + key + "' has the wrong type");
  }
  return it->template get<T>();
}

inline nlohmann::json Encode(const RunPoint& m) {
  return {{"type", "run_point"},
          {"point", m.point},
          {"attempt", m.attempt},
          {"config", m.config},
          {"checkpoint_dir", m.checkpoint_dir},
          {"heartbeat_interval", m.heartbeat_interval}};
}
inline nlohmann::json Encode(const StopPoint& m) {
  return {{"type", "stop_point"}, {"point", m.point}, {"attempt", m.attempt}};
}
inline nlohmann::json Encode(const Shutdown&) { return {{"type", "shutdown"}}; }
inline nlohmann::json Encode(const Ready&) { return {{"type", "ready"}}; }
inline nlohmann::json Encode(const Heartbeat& m) {
  return {{"type", "heartbeat"},
          {"point", m.point},
          {"attempt", m.attempt},
          {"step", m.step},
          {"epoch", m.epoch}};
}
inline nlohmann::json Encode(const EpochMetrics& m) {
  return {{"type", "epoch_metrics"},
          {"point", m.point},
          {"attempt", m.attempt},
          {"epoch", m.epoch},
          {"metrics", m.metrics}};
}
inline nlohmann::json Encode(const PointDone& m) {
  return {{"type", "point_done"}, {"point", m.point}, {"attempt", m.attempt}, {"result", m.result}};
}
inline nlohmann::json Encode(const PointFailed& m) {
  return {{"type", "point_failed"}, {"point", m.point},
          {"attempt", m.attempt},   {"reason", FailureReasonName(m.reason)},
          {"message", m.message},   {"retryable", m.retryable}};
}
inline nlohmann::json Encode(const GroupLost& m) {
  return {{"type", "group_lost"}, {"message", m.message}};
}

inline ToGroup DecodeToGroupJson(const nlohmann::json& j) {
  const auto type = Field<std::string>(j, "type");
  if (type == "run_point") {
    return RunPoint{Field<std::string>(j, "point"), Field<uint32_t>(j, "attempt"),
                    Field<nlohmann::json>(j, "config"), Field<std::string>(j, "checkpoint_dir"),
                    Field<double>(j, "heartbeat_interval")};
  }
  if (type == "stop_point") {
    return StopPoint{Field<std::string>(j, "point"), Field<uint32_t>(j, "attempt")};
  }
  if (type == "shutdown") return Shutdown{};
  throw std::invalid_argument("unknown message type '" + type + "' for a worker group");
}

inline FromGroup DecodeFromGroupJson(const nlohmann::json& j) {
  const auto type = Field<std::string>(j, "type");
  if (type == "ready") return Ready{};
  if (type == "heartbeat") {
    return Heartbeat{Field<std::string>(j, "point"), Field<uint32_t>(j, "attempt"),
                     Field<uint64_t>(j, "step"), Field<uint32_t>(j, "epoch")};
  }
  if (type == "epoch_metrics") {
    return EpochMetrics{Field<std::string>(j, "point"), Field<uint32_t>(j, "attempt"),
                        Field<uint32_t>(j, "epoch"), Field<nlohmann::json>(j, "metrics")};
  }
  if (type == "point_done") {
    return PointDone{Field<std::string>(j, "point"), Field<uint32_t>(j, "attempt"),
                     Field<nlohmann::json>(j, "result")};
  }
  if (type == "point_failed") {
    const auto name = Field<std::string>(j, "reason");
    const auto reason = FailureReasonFromName(name);
    if (!reason) throw std::invalid_argument("unknown failure reason '" + name + "'");
    return PointFailed{Field<std::string>(j, "point"), Field<uint32_t>(j, "attempt"), *reason,
                       Field<std::string>(j, "message"), Field<bool>(j, "retryable")};
  }
  if (type == "group_lost") return GroupLost{Field<std::string>(j, "message")};
  throw std::invalid_argument("unknown message type '" + type + "' from a worker group");
}

template <typename Message, typename DecodeJson>
inline StatusOr<Message> Decode(std::string_view bytes, DecodeJson decode_json) {
  try {
    const auto j = nlohmann::json::parse(bytes.begin(), bytes.end());
    if (!j.is_object()) return Status::InvalidArgument("control message: not a JSON object");
    return decode_json(j);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("control message: ") + e.what());
  } catch (const std::invalid_argument& e) {
    return Status::InvalidArgument(std::string("control message: ") + e.what());
  }
}

}  // namespace wire

// The bytes a transport sends for a message (compact JSON).
inline std::string EncodeMessage(const ToGroup& message) {
  return std::visit([](const auto& m) { return wire::Encode(m).dump(); }, message);
}
inline std::string EncodeMessage(const FromGroup& message) {
  return std::visit([](const auto& m) { return wire::Encode(m).dump(); }, message);
}

// Parses bytes from EncodeMessage; InvalidArgument names the missing/ill-typed key or bad type.
inline StatusOr<ToGroup> DecodeToGroup(std::string_view bytes) {
  return wire::Decode<ToGroup>(bytes, wire::DecodeToGroupJson);
}
inline StatusOr<FromGroup> DecodeFromGroup(std::string_view bytes) {
  return wire::Decode<FromGroup>(bytes, wire::DecodeFromGroupJson);
}

}  // namespace perflaw::protocol
