// Time as the scheduler sees it: steady seconds from an arbitrary origin. The real clock reads
// std::chrono::steady_clock; tests use a fake one (tests/orchestrator/schedule/fakes.h) that only moves when
// told, so that timeouts and heartbeat deadlines are exact and every run of a test is identical.
#pragma once

#include <chrono>

namespace perflaw::orchestrator {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds on a monotonic clock; only differences are meaningful.
  virtual double Now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  double Now() const override {
    using Seconds = std::chrono::duration<double>;
    return std::chrono::duration_cast<Seconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace perflaw::orchestrator
