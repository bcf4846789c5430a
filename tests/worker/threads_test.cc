// The point's CPU threads and the two thread pools (worker/threads.h).
#include "worker/threads.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace perflaw::worker {
namespace {

using GetFn = int (*)();

TEST(ThreadsTest, OneSpinningPoolGetsThePointsThreads) {
  SetComputeThreads(2);
  EXPECT_EQ(ComputeThreads(), 2u);
  auto blas_threads = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (blas_threads) {  // OpenBLAS has its own pool: it gets the threads, LibTorch's runs on 1
    EXPECT_EQ(blas_threads(), 2);
    EXPECT_EQ(at::get_num_threads(), 1);
  } else {
    EXPECT_EQ(at::get_num_threads(), 2);
  }
  SetComputeThreads(0);  // one per core
  EXPECT_EQ(ComputeThreads(), ResolveThreads(0));
  EXPECT_GE(ComputeThreads(), 1u);
  SetComputeThreads(1);
  EXPECT_EQ(at::get_num_threads(), 1);
  if (blas_threads) EXPECT_EQ(blas_threads(), 1);
}

}  // namespace
}  // namespace perflaw::worker
