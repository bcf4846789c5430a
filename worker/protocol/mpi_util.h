// <mpi.h> with the C API only (Open MPI's / MPICH's deprecated C++ bindings are a separate
// library), and the text of an MPI error code for the one-line errors of both executables (rank 0's
// transport, the workers' control link and collectives use MPI_ERRORS_RETURN).
#pragma once

#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <chrono>
#include <list>
#include <string>
#include <thread>

#include "worker/protocol/mpi_protocol.h"

namespace perflaw::protocol {

inline std::string MpiErrorText(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
  return std::string(text, static_cast<size_t>(len));
}

// Non-blocking sends of byte strings, each buffer kept in place until MPI is done with it. Rank 0's
// transport and the workers' control thread use it so that neither blocks on the other: a blocking
// MPI_Send returns only once the receiver has taken the message.
class SendQueue {
 public:
  SendQueue() = default;
  SendQueue(const SendQueue&) = delete;
  SendQueue& operator=(const SendQueue&) = delete;
  ~SendQueue() { Abandon(); }

  // MPI_SUCCESS, or MPI_Isend's code (then nothing is queued). The caller checks that the size
  // fits an int count.
  int Start(std::string bytes, int dest, int tag, MPI_Comm comm) {
    pending_.push_back(Pending{std::move(bytes), MPI_REQUEST_NULL});
    Pending& p = pending_.back();
    const int rc = MPI_Isend(p.bytes.data(), static_cast<int>(p.bytes.size()), MPI_CHAR, dest, tag,
                             comm, &p.request);
    if (rc != MPI_SUCCESS) pending_.pop_back();
    return rc;
  }

  // Forgets the sends that completed; MPI_SUCCESS or the first MPI_Test error.
  int Reap() {
    for (auto it = pending_.begin(); it != pending_.end();) {
      int done = 0;
      const int rc = MPI_Test(&it->request, &done, MPI_STATUS_IGNORE);
      if (rc != MPI_SUCCESS) return rc;
      it = done ? pending_.erase(it) : std::next(it);
    }
    return MPI_SUCCESS;
  }

  // Reaps, napping in between, until nothing is pending or `limit` has passed; MPI_SUCCESS or the
  // first error. What is still pending then: size().
  int Drain(std::chrono::duration<double> limit) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(limit);
    PollBackoff backoff;
    while (true) {
      const int rc = Reap();
      if (rc != MPI_SUCCESS || pending_.empty() || Clock::now() >= deadline) return rc;
      std::this_thread::sleep_for(backoff.Next());
    }
  }

  size_t size() const { return pending_.size(); }
  bool empty() const { return pending_.empty(); }

  // The job is ending: frees the requests still pending (unless MPI is finalised) and keeps their
  // buffers for the rest of the process, since MPI may still read them.
  void Abandon() {
    if (pending_.empty()) return;
    int finalized = 0;
    MPI_Finalized(&finalized);
    for (Pending& p : pending_) {
      if (!finalized && p.request != MPI_REQUEST_NULL) MPI_Request_free(&p.request);
    }
    static auto* kept = new std::list<Pending>();
    kept->splice(kept->end(), pending_);
  }

 private:
  struct Pending {
    std::string bytes;
    MPI_Request request;
  };
  std::list<Pending> pending_;
};

}  // namespace perflaw::protocol
