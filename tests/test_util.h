// Helpers shared by the test suites: running the real executables, temp dirs, shared data paths.
#pragma once

#include <ftw.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace perflaw::testing {

inline std::string SharedData(const std::string& name) {
  return std::string(PERFLAW_SHARED_DATA_DIR) + "/" + name;
}
inline bool HaveSharedData() { return std::filesystem::exists(PERFLAW_SHARED_DATA_DIR); }
inline std::string Bin(const std::string& name) {
  return std::string(PERFLAW_BIN_DIR) + "/" + name;
}

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `cmd` through /bin/sh, capturing stdout and stderr separately.
inline CommandResult RunCommand(const std::string& cmd) {
  namespace fs = std::filesystem;
  static int counter = 0;
  fs::path dir = fs::temp_directory_path();
  std::string tag = std::to_string(::getpid()) + "_" + std::to_string(counter++);
  fs::path err_path = dir / ("perflaw_test_err_" + tag);
  CommandResult r;
  std::string full = cmd + " 2>" + err_path.string();
  FILE* pipe = ::popen(full.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream ef(err_path);
  std::stringstream ss;
  ss << ef.rdbuf();
  r.err = ss.str();
  fs::remove(err_path);
  return r;
}

// A fresh directory under the system temp dir, removed when the object goes away. POSIX calls
// (mkdtemp, nftw) rather than std::filesystem's temp_directory_path and remove_all: PyTorch's
// binary LibTorch exports its own statically linked copies of libstdc++'s directory iterators, and
// remove_all crashed in test binaries linked against it (seen with torch 2.11 on the GPU machine).
class TempDir {
 public:
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/perflaw_test_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~TempDir() {
    ::nftw(
        path_.c_str(),
        [](const char* p, const struct stat*, int, struct FTW*) {
          ::remove(p);
          return 0;
        },
        16, FTW_DEPTH | FTW_PHYS);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string File(const std::string& name) const { return (path_ / name).string(); }
  void Write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name, std::ios::binary) << content;
  }

 private:
  std::filesystem::path path_;
};

// Runs perflaw with `args` in `dir` with no input, as a user would from that folder.
inline CommandResult PerflawIn(const TempDir& dir, const std::string& args) {
  return RunCommand("cd " + dir.path().string() + " && " + Bin("perflaw") + " " + args +
                    " </dev/null");
}

}  // namespace perflaw::testing
