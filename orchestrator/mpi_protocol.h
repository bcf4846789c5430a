// Constants of the start-up handshake and message tags shared by the orchestrator's MPI transport
// and perflaw-worker serve. Header-only, no MPI types: both executables include it.
#pragma once

namespace perflaw::orchestrator::mpi_protocol {

// Bumped when the handshake or the framing changes; a worker of another version refuses to run.
constexpr int kVersion = 1;
// The handshake: rank 0 broadcasts int[kHandshakeInts] on MPI_COMM_WORLD:
//   {kVersion, ranks_per_point (0: no valid grouping, every worker exits with code 2)}.
constexpr int kHandshakeInts = 2;
// Then every rank calls MPI_Comm_split(MPI_COMM_WORLD, color, world rank): rank 0 with
// MPI_UNDEFINED, worker rank r with color (r - 1) / ranks_per_point; then MPI_Comm_dup of the
// world (the control communicator); then MPI_Gather of each rank's host name
// (kHostNameBytes chars, NUL-padded) to rank 0.
constexpr int kHostNameBytes = 256;
// Control messages (transport.h JSON) on the control communicator, in both directions.
constexpr int kControlTag = 17;

}  // namespace perflaw::orchestrator::mpi_protocol
