// perflaw submit --slurm through the real executable, without Slurm: --dry-run rendering (the
// #SBATCH lines, paths only in sbatch's argv) and the rejection of bad flags and names, which must
// exit 2 and write nothing. The real submission is tests/slurm/submit_slurm_test.sh (label slurm).
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace perflaw::testing {
namespace {

namespace fs = std::filesystem;

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A tiny synthetic sweep (4 points, 2 workers) in its own folder; `name` is the sweep's name.
class SubmitTest : public ::testing::Test {
 protected:
  std::string WriteSweep(const std::string& name = "tiny", const std::string& extra = "") {
    std::string yaml = "name: " + name +
                       "\n"
                       "data:\n"
                       "  synthetic: {users: 40, items: 30, mean_length: 8, seed: 3}\n"
                       "model: {type: sasrec, heads: 1}\n"
                       "train: {epochs: 1}\n"
                       "grid:\n"
                       "  model.layers: [1, 2]\n"
                       "  model.d_model: [8, 16]\n"
                       "resources: {ranks_per_point: 1, workers: 2}\n" +
                       extra;
    dir_.Write("sweep.yaml", yaml);
    return dir_.File("sweep.yaml");
  }
  // perflaw submit with the sweep and extra arguments; the worker binary is any executable here
  // (the unit build may not have perflaw-worker).
  CommandResult Submit(const std::string& sweep, const std::string& args) {
    return RunCommand(Bin("perflaw") + " submit " + Quote(sweep) + " --worker-bin /bin/true " +
                      args);
  }
  // Every file under the test folder except the sweeps.
  std::vector<std::string> Written() const {
    std::vector<std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(dir_.path()))
      if (e.path().extension() != ".yaml") files.push_back(e.path().string());
    return files;
  }
  std::vector<std::string> SbatchLines(const std::string& script) const {
    std::vector<std::string> lines;
    std::stringstream in(script);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("#SBATCH", 0) == 0) lines.push_back(line);
    return lines;
  }
  TempDir dir_;
};

TEST_F(SubmitTest, DryRunRendersSbatchLinesAndArgv) {
  std::string sweep = WriteSweep();
  CommandResult r = Submit(sweep,
                           "--slurm --dry-run --nodes 2 --ntasks-per-node 2 --cpus-per-task 3 "
                           "--time 1-02:30:00 --partition gpu,debug --account proj_1 --requeue "
                           "--signal-before 120 --launcher srun");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(SbatchLines(r.out), (std::vector<std::string>{
                                    "#SBATCH --job-name=perflaw-tiny", "#SBATCH --nodes=2",
                                    "#SBATCH --ntasks-per-node=2", "#SBATCH --cpus-per-task=3",
                                    "#SBATCH --time=1-02:30:00", "#SBATCH --partition=gpu,debug",
                                    "#SBATCH --account=proj_1", "#SBATCH --requeue",
                                    "#SBATCH --open-mode=append", "#SBATCH --signal=B:TERM@120"}));
  // One header line, then the script from its first line.
  EXPECT_EQ(r.out.find("\n#!/usr/bin/env bash\n"), r.out.find('\n')) << r.out;
  EXPECT_EQ(r.out.find("@SBATCH_LINES@"), std::string::npos);
  // The paths are sbatch's arguments: script, perflaw, worker, sweep, db, launcher, tasks, GPUs.
  const std::string work = (dir_.path() / "tiny-work" / "slurm").string();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      r.out, m,
      std::regex("# sbatch argv \\(not run\\): sbatch --parsable --chdir=(\\S+) "
                 "--output=(\\S+) (\\S+) (\\S+) /bin/true (\\S+) (\\S+) srun 2 0\n")))
      << r.out;
  EXPECT_EQ(m[1].str(), work);
  EXPECT_EQ(m[2].str(), work + "/perflaw-tiny-%j.out");
  EXPECT_EQ(m[3].str().rfind(work + "/perflaw-tiny-", 0), 0u) << m[3];
  EXPECT_EQ(m[4].str(), Bin("perflaw"));
  EXPECT_EQ(m[5].str(), sweep);
  EXPECT_EQ(m[6].str(), (dir_.path() / "tiny.db").string());
  EXPECT_TRUE(Written().empty()) << "dry run wrote " << Written()[0];
}

TEST_F(SubmitTest, GroupsThatStraddleNodesAreWarnedAbout) {
  std::string yaml =
      "name: pairs\ndata:\n  synthetic: {users: 40, items: 30, seed: 3}\n"
      "model: {type: sasrec, heads: 1}\nresources: {ranks_per_point: 2, workers: 2}\n";
  dir_.Write("pairs.yaml", yaml);
  const std::string sweep = dir_.File("pairs.yaml");
  const std::string warning = "worker groups straddle nodes; --ntasks-per-node a multiple of 2";
  for (const char* launcher : {"mpirun", "srun"}) {
    SCOPED_TRACE(launcher);
    const std::string common = std::string("--slurm --dry-run --launcher ") + launcher;
    CommandResult r = Submit(sweep, common + " --nodes 2 --ntasks-per-node 3");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("perflaw: warning: with --nodes 2, --ntasks-per-node 3 and "
                         "ranks_per_point 2, " +
                         warning),
              std::string::npos)
        << r.err;
    r = Submit(sweep, common + " --nodes 2 --ntasks-per-node 2");  // both layouts: whole groups
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err.find("straddle"), std::string::npos) << r.err;
    r = Submit(sweep, common + " --nodes 1 --ntasks-per-node 3");
    EXPECT_EQ(r.err.find("straddle"), std::string::npos) << r.err;
  }
}

TEST_F(SubmitTest, DefaultsComeFromTheSweepAndGpus) {
  std::string sweep = WriteSweep();
  CommandResult r = Submit(sweep, "--slurm --dry-run --db " + Quote(dir_.File("x.db")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(SbatchLines(r.out),
            (std::vector<std::string>{"#SBATCH --job-name=perflaw-tiny", "#SBATCH --nodes=1",
                                      "#SBATCH --ntasks-per-node=2", "#SBATCH --no-requeue",
                                      "#SBATCH --open-mode=append"}));
  EXPECT_NE(r.out.find(" " + dir_.File("x.db") + " mpirun 2 0\n"), std::string::npos) << r.out;

  r = Submit(sweep, "--slurm --dry-run --gpus-per-node 4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(SbatchLines(r.out)[2], "#SBATCH --ntasks-per-node=4");
  EXPECT_EQ(SbatchLines(r.out)[3], "#SBATCH --gpus-per-node=4");
  EXPECT_NE(r.out.find(" mpirun 4 4\n"), std::string::npos) << r.out;
}

// Hostile text in the sweep name, the partition or a path never becomes script text: names are
// rejected, paths appear only in sbatch's argv (quoted here for display).
TEST_F(SubmitTest, HostileTextCannotReachTheShell) {
  std::string sweep = WriteSweep("'a; rm -rf /'");
  CommandResult r = Submit(sweep, "--slurm --dry-run");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("sweep.yaml:1:7: name must be"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;

  sweep = WriteSweep();
  r = Submit(sweep, "--slurm --dry-run --out " + Quote(dir_.File("o $(id) `x`;y")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The script: after the header line (which names its path), before the argv line.
  const size_t begin = r.out.find('\n') + 1;
  std::string script = r.out.substr(begin, r.out.find("# sbatch argv") - begin);
  EXPECT_EQ(script.find("$(id)"), std::string::npos) << script;
  EXPECT_NE(r.out.find("'--chdir=" + dir_.File("o $(id) `x`;y") + "'"), std::string::npos) << r.out;
  EXPECT_TRUE(Written().empty());

  for (const std::string& bad : std::vector<std::string>{
           "--partition 'a; rm -rf /'", "--partition 'a\n#SBATCH --uid=0'", "--account '$(id)'",
           "--partition 'gpu,'", "--time '1:00;reboot'", "--time 0", "--time 1:60",
           "--out " + Quote(dir_.File("o%j")), "--output " + Quote(dir_.File("o\nx"))}) {
    r = Submit(sweep, "--slurm " + bad);
    EXPECT_EQ(r.exit_code, 2) << bad << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find("perflaw: error: --"), std::string::npos) << bad << ": " << r.err;
    EXPECT_TRUE(Written().empty()) << bad;
  }
}

TEST_F(SubmitTest, BadFlagsExit2AndWriteNothing) {
  std::string sweep = WriteSweep();
  struct Case {
    std::string args, message;
  };
  // 2 workers are not a multiple of ranks_per_point 3.
  dir_.Write("rpp.yaml",
             "name: rpp\ndata:\n  synthetic: {users: 40, items: 30, mean_length: 8, seed: 3}\n"
             "model: {type: sasrec, heads: 1}\nresources: {ranks_per_point: 3, workers: 3}\n");
  for (const Case& c : std::vector<Case>{
           {"", "needs --slurm"},
           {"--slurm --nodes=-1", "--nodes must be a non-negative integer, got \"-1\""},
           {"--slurm --nodes 0", "--nodes must be 1..100000"},
           {"--slurm --nodes 1.5", "--nodes must be a non-negative integer"},
           {"--slurm --ntasks-per-node=-2", "--ntasks-per-node must be a non-negative integer"},
           {"--slurm --ntasks-per-node 0", "--ntasks-per-node must be >= 1"},
           {"--slurm --gpus-per-node=-1", "--gpus-per-node must be a non-negative integer"},
           {"--slurm --cpus-per-task x", "--cpus-per-task must be a non-negative integer"},
           {"--slurm --gpus-per-node 2 --ntasks-per-node 3", "must not exceed --gpus-per-node"},
           {"--slurm --ntasks-per-node 2 RPP",
            "not a multiple of the sweep's resources.ranks_per_point (3)"},
           {"--slurm --launcher ssh", "--launcher must be mpirun or srun"},
           {"--slurm --signal-before 99999", "--signal-before must be at most 65535"},
           {"--slurm --template /nonexistent", "--template: cannot read /nonexistent"},
           {"--slurm --bogus", "--bogus"},
       }) {
    std::string args = c.args;
    std::string sweep_file = sweep;
    if (size_t at = args.find(" RPP"); at != std::string::npos) {
      args.erase(at);
      sweep_file = dir_.File("rpp.yaml");
    }
    CommandResult r = Submit(sweep_file, args + " --dry-run");
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << args << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << args << ": " << r.out;
    // Without --dry-run nothing is written either (validation comes first).
    r = Submit(sweep_file, args);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_TRUE(Written().empty()) << args << " wrote " << Written()[0];
  }
}

TEST_F(SubmitTest, BadSweepExit2WithItsLocation) {
  dir_.Write("sweep.yaml", "name: t\ndata:\n  synthetic: {users: 40, itmes: 3}\n");
  CommandResult r = Submit(dir_.File("sweep.yaml"), "--slurm");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("sweep.yaml:3:"), std::string::npos) << r.err;
  EXPECT_TRUE(Written().empty());
  r = Submit(dir_.File("missing.yaml"), "--slurm --dry-run");
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

TEST_F(SubmitTest, MissingWorkerOrSbatchIsAUserError) {
  std::string sweep = WriteSweep();
  CommandResult r = RunCommand(Bin("perflaw") + " submit " + Quote(sweep) +
                               " --slurm --dry-run --worker-bin " + Quote(dir_.File("nope")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("perflaw-worker not found or not executable at " + dir_.File("nope")),
            std::string::npos)
      << r.err;
  // No sbatch on PATH: the script is written (it is the submission's record), sbatch is reported.
  r = RunCommand("PATH=/nonexistent " + Bin("perflaw") + " submit " + Quote(sweep) +
                 " --slurm --worker-bin /bin/true");
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot run sbatch"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace perflaw::testing
