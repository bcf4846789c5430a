// Data parallelism under mpirun -np 2: two ranks that each take half of every global batch end with
// the same parameters as one rank that takes the whole batch (dropout off, same seeds).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "apen/synth.h"
#include "tests/test_util.h"
#include "worker/collective_mpi.h"
#include "worker/trainer.h"

namespace perflaw::worker {
namespace {

apen::Dataset Synthetic() {
  apen::SynthOptions o;
  o.users = 300;
  o.items = 60;
  o.mean_length = 10;
  o.predictability = 0.8;
  o.seed = 5;
  o.threads = 1;
  return apen::GenerateSynthetic(o);
}

PointConfig Point() {
  PointConfig c;
  c.data.path = "synthetic";
  c.data.max_seq_len = 16;
  c.model.d_model = 16;
  c.model.heads = 2;
  c.model.dropout = 0.0;
  c.train.epochs = 2;
  c.train.batch_size = 64;  // global: 32 per rank with 2 ranks
  c.train.lr = 0.003;
  c.train.clip_norm = 1.0;
  // The key part of the attention input bias has a mathematically zero gradient (softmax ignores a
  // constant shift); with eps 1e-8 Adam turns its rounding noise (~1e-10) into lr-sized steps that
  // differ between any two summation orders. A larger eps keeps the comparison about real
  // gradients.
  c.train.eps = 1e-4;
  c.eval.ks = {10};
  c.device = Device::kCpu;
  c.threads = 1;
  return c;
}

// The parameters stored in DIR/checkpoint.pt.
std::vector<torch::Tensor> Params(const std::string& dir) {
  torch::serialize::InputArchive archive;
  archive.load_from(dir + "/checkpoint.pt");
  std::vector<torch::Tensor> out;
  for (int i = 0;; ++i) {
    torch::Tensor t;
    if (!archive.try_read("param/" + std::to_string(i), t)) break;
    out.push_back(t);
  }
  return out;
}

// A directory name every rank agrees on (rank 0 makes it).
std::string SharedTempDir(MpiCollective& world) {
  char buf[512] = {0};
  if (world.rank() == 0) {
    std::string p =
        (std::filesystem::temp_directory_path() / ("perflaw_mpi_" + std::to_string(::getpid())))
            .string();
    std::filesystem::create_directories(p);
    std::snprintf(buf, sizeof(buf), "%s", p.c_str());
  }
  MPI_Bcast(buf, sizeof(buf), MPI_CHAR, 0, MPI_COMM_WORLD);
  return buf;
}

TEST(DataParallelTest, TwoRanksWithHalfBatchesEqualOneRankWithTheWholeBatch) {
  MpiCollective world(MPI_COMM_WORLD);
  ASSERT_EQ(world.size(), 2) << "run with mpirun -np 2";
  const apen::Dataset data = Synthetic();
  const PointConfig c = Point();
  const std::string dir = SharedTempDir(world);

  TrainOptions two;
  two.collective = &world;
  two.checkpoint_dir = dir + "/two";
  PointResult parallel = TrainPointOnDataset(c, data, two);
  ASSERT_EQ(parallel.status, RunStatus::kOk) << parallel.message;
  EXPECT_EQ(parallel.world_size, 2);

  if (world.rank() == 0) {
    TrainOptions one;
    one.checkpoint_dir = dir + "/one";
    PointResult single = TrainPointOnDataset(c, data, one);
    ASSERT_EQ(single.status, RunStatus::kOk) << single.message;
    EXPECT_EQ(single.steps, parallel.steps);
    EXPECT_EQ(single.tokens_seen, parallel.tokens_seen);
    for (size_t e = 0; e < single.epochs.size(); ++e)
      EXPECT_NEAR(single.epochs[e].train_loss, parallel.epochs[e].train_loss, 1e-5)
          << "epoch " << e + 1;
    std::vector<torch::Tensor> a = Params(dir + "/one"), b = Params(dir + "/two");
    ASSERT_EQ(a.size(), b.size());
    ASSERT_FALSE(a.empty());
    for (size_t i = 0; i < a.size(); ++i) {
      const double diff = (a[i] - b[i]).abs().max().item<double>();
      EXPECT_LT(diff, 2e-5) << "parameter " << i << " differs by " << diff;
    }
    EXPECT_NEAR(single.test->Ndcg(10), parallel.test->Ndcg(10), 1e-3);
    std::filesystem::remove_all(dir);
  }
  ASSERT_TRUE(world.Barrier().ok());
}

// Rank 0 writes the checkpoints; when it cannot, every rank of the group must end the attempt
// with an error (before, the other ranks waited forever at a barrier rank 0 never reached).
TEST(DataParallelTest, ACheckpointRankZeroCannotWriteEndsTheAttemptOnEveryRank) {
  MpiCollective world(MPI_COMM_WORLD);
  ASSERT_EQ(world.size(), 2) << "run with mpirun -np 2";
  const std::string dir = SharedTempDir(world);
  if (world.rank() == 0) std::ofstream(dir + "/file") << "a file where a directory must go";
  ASSERT_TRUE(world.Barrier().ok());

  TrainOptions two;
  two.collective = &world;
  two.checkpoint_dir = dir + "/file/ckpt";
  PointResult r = TrainPointOnDataset(Point(), Synthetic(), two);
  EXPECT_NE(r.status, RunStatus::kOk);
  EXPECT_NE(r.message.find("checkpoint"), std::string::npos) << r.message;

  ASSERT_TRUE(world.Barrier().ok());
  if (world.rank() == 0) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace perflaw::worker

int main(int argc, char** argv) {
  perflaw::worker::MpiSession mpi(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {  // one report, from rank 0; other ranks' failures still fail the exit code
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  return RUN_ALL_TESTS();
}
