// The Transport interface that carries the control messages (worker/protocol/messages.h) between
// rank 0 and the worker groups. The scheduler only sees this interface; MPI is one implementation,
// a scripted fake in the tests is another (the split Horovod makes between its controller logic and
// its MPI controller).
#pragma once

#include <optional>

#include "apen/status.h"
#include "worker/protocol/messages.h"

namespace perflaw::orchestrator {

// The protocol's names, as the orchestrator has always spelled them.
using protocol::CountsAgainstPoint;
using protocol::DecodeFromGroup;
using protocol::DecodeToGroup;
using protocol::EncodeMessage;
using protocol::EpochMetrics;
using protocol::FailureReason;
using protocol::FailureReasonFromName;
using protocol::FailureReasonName;
using protocol::FromGroup;
using protocol::GroupLost;
using protocol::Heartbeat;
using protocol::PointDone;
using protocol::PointFailed;
using protocol::Ready;
using protocol::RunPoint;
using protocol::Shutdown;
using protocol::StopPoint;
using protocol::ToGroup;
namespace wire = protocol::wire;

// A message that arrived, and from which group (0 .. GroupCount() - 1).
struct Incoming {
  int group = 0;
  FromGroup message;
};

// Carries messages between rank 0 and the worker groups. Not thread-safe; one scheduler uses it.
class Transport {
 public:
  virtual ~Transport() = default;
  // Number of worker groups; fixed for the life of the transport.
  virtual int GroupCount() const = 0;
  // Hands a message to a group. An error means the group cannot be reached (treated as lost).
  virtual Status Send(int group, const ToGroup& message) = 0;
  // Waits up to `timeout_seconds` (>= 0) for the next message; nullopt if none came. An error
  // means the transport as a whole failed and the scheduler stops.
  virtual StatusOr<std::optional<Incoming>> Poll(double timeout_seconds) = 0;
};

}  // namespace perflaw::orchestrator
