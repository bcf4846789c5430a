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

#include <string>

namespace perflaw::orchestrator::mpi_protocol {

inline std::string MpiErrorText(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
  return std::string(text, static_cast<size_t>(len));
}

}  // namespace perflaw::orchestrator::mpi_protocol
