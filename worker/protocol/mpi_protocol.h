// Constants of the start-up handshake and message tags shared by the orchestrator's MPI transport
// and perflaw-worker serve. Header-only, no MPI types: both executables include it.
#pragma once

#include <algorithm>
#include <chrono>

namespace perflaw::protocol {

// Bumped when the handshake or the framing changes; a worker of another version refuses to run.
constexpr int kVersion = 3;  // 2: a dropped order sent ahead is answered (PointFailed);
                             // 3: PointFailed{storage}
// The handshake: rank 0 broadcasts int[kHandshakeInts] on MPI_COMM_WORLD:
//   {kVersion, ranks_per_point (0: no valid grouping, every worker exits with code 2)}.
constexpr int kHandshakeInts = 2;
// Then every rank calls MPI_Comm_split(MPI_COMM_WORLD, color, world rank): rank 0 with
// MPI_UNDEFINED, worker rank r with color (r - 1) / ranks_per_point; then MPI_Comm_dup of the
// world (the control communicator); then MPI_Gather of each rank's host name
// (kHostNameBytes chars, NUL-padded) to rank 0.
constexpr int kHostNameBytes = 256;
// Control messages (messages.h JSON) on the control communicator, in both directions.
constexpr int kControlTag = 17;

// The wait between two polls for control messages (both sides poll with MPI_Iprobe / MPI_Test):
// short right after traffic, so a busy sweep is served within microseconds, doubling up to a
// ceiling while nothing comes, so that idle ranks leave the cores to training ranks. The ceiling's
// latency is hidden by dispatch ahead (the next point usually waits at the worker already).
class PollBackoff {
 public:
  std::chrono::microseconds Next() {
    const auto nap = nap_;
    nap_ = std::min(nap_ * 2, kMax);
    return nap;
  }
  void Reset() { nap_ = kMin; }

 private:
  static constexpr std::chrono::microseconds kMin{20};
  static constexpr std::chrono::microseconds kMax{2000};
  std::chrono::microseconds nap_ = kMin;
};

}  // namespace perflaw::protocol
