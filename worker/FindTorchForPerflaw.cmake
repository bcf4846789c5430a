# find_package(Torch) for perflaw's worker and its tests (included from worker/ and tests/worker/, whose
# imported targets are directory-scoped). One fix on top: PyTorch releases up to 2.7 make their CUDA
# config link torch::nvtoolsext to CUDA::nvToolsExt when they cannot find NVTX 3 beside their sources,
# which a binary install never has, and CUDA 12.9+ no longer ships that library, so generation fails; the
# header-only NVTX 3 (CUDA::nvtx3) stands in for it.
find_package(Torch REQUIRED ${PERFLAW_TORCH_QUIET})
if(TARGET torch::nvtoolsext AND NOT TARGET CUDA::nvToolsExt AND TARGET CUDA::nvtx3)
  add_library(CUDA::nvToolsExt INTERFACE IMPORTED)
  target_link_libraries(CUDA::nvToolsExt INTERFACE CUDA::nvtx3)
  message(STATUS "perflaw-worker: CUDA::nvToolsExt is missing; NVTX 3 (CUDA::nvtx3) stands in for it")
endif()
