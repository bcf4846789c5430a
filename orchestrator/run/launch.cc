#include "orchestrator/run/launch.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace perflaw::orchestrator {

namespace fs = std::filesystem;

namespace {

long long UsableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? n : 1;
}

// MemAvailable in bytes, or nullopt when /proc/meminfo does not say.
std::optional<long long> AvailableMemory() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  long long kib = 0;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kib * 1024;
  }
  return std::nullopt;
}

// A positive integer environment variable, or nullopt.
std::optional<long long> PositiveEnv(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long long n = std::strtoll(v, &end, 10);
  if (errno != 0 || *end != '\0' || n < 1) return std::nullopt;
  return n;
}

}  // namespace

RankCapacity RankCapacityHere() {
  RankCapacity c;
  if (std::optional<long long> tasks = PositiveEnv("SLURM_NTASKS")) {
    c.max_ranks = kRanksPerCpu * *tasks;
    c.basis = "the Slurm allocation's SLURM_NTASKS=" + std::to_string(*tasks) + " x " +
              std::to_string(kRanksPerCpu);
    return c;
  }
  const long long cpus = UsableCpus();
  c.max_ranks = kRanksPerCpu * cpus;
  c.basis = std::to_string(cpus) + " usable CPU(s) x " + std::to_string(kRanksPerCpu);
  if (std::optional<long long> mem = AvailableMemory()) {
    const long long by_memory = std::max(1ll, *mem / kRankMemoryBytes);
    if (by_memory < c.max_ranks) {
      c.max_ranks = by_memory;
      c.basis = std::to_string(*mem >> 20) + " MiB available memory / " +
                std::to_string(kRankMemoryBytes >> 20) + " MiB per rank";
    }
  }
  return c;
}

// ---- exit code channel ----

namespace {

// The sockaddr of abstract socket `name` (a leading NUL, no terminator) and its length.
socklen_t AbstractAddress(const std::string& name, sockaddr_un* addr) {
  *addr = {};
  addr->sun_family = AF_UNIX;
  const size_t n = std::min(name.size(), sizeof(addr->sun_path) - 1);
  std::memcpy(addr->sun_path + 1, name.data(), n);
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
}

}  // namespace

StatusOr<ExitCodeChannel> ExitCodeChannel::Create() {
  ExitCodeChannel c;
  c.fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (c.fd_ < 0) return Status::IoError(std::string("socket: ") + std::strerror(errno));
  std::random_device random;
  c.name_ = "perflaw-run-" + std::to_string(::getpid()) + "-" + std::to_string(random());
  sockaddr_un addr;
  const socklen_t len = AbstractAddress(c.name_, &addr);
  if (::bind(c.fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(c.fd_, 8) != 0)
    return Status::IoError("cannot listen on @" + c.name_ + ": " + std::strerror(errno));
  return c;
}

ExitCodeChannel::ExitCodeChannel(ExitCodeChannel&& other) noexcept
    : name_(std::move(other.name_)), fd_(other.fd_) {
  other.fd_ = -1;
}

ExitCodeChannel::~ExitCodeChannel() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<int> ExitCodeChannel::Read() const {
  std::optional<int> code;
  while (true) {  // every waiting connection; the last valid report wins
    const int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) break;
    ucred peer{};
    socklen_t len = sizeof peer;
    char buf[16] = {};
    const bool ours =
        ::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0 && peer.uid == ::getuid();
    const ssize_t n = ours ? ::recv(conn, buf, sizeof buf - 1, MSG_DONTWAIT) : -1;
    ::close(conn);
    char* end = nullptr;
    const long value = n > 0 ? std::strtol(buf, &end, 10) : -1;
    if (n > 0 && end != buf && *end == '\n' && value >= 0 && value <= 255)
      code = static_cast<int>(value);
  }
  return code;
}

Status ReportExitCode(const std::string& name, int code) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IoError(std::string("socket: ") + std::strerror(errno));
  sockaddr_un addr;
  const socklen_t len = AbstractAddress(name, &addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    ::close(fd);  // nobody listens: `perflaw run` is gone
    return Status::Ok();
  }
  const std::string text = std::to_string(code) + "\n";
  const bool sent =
      ::send(fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size());
  const int err = errno;
  ::close(fd);
  if (!sent)
    return Status::IoError("cannot report the exit code: " + std::string(std::strerror(err)));
  return Status::Ok();
}

// ---- spawning ----

StatusOr<pid_t> SpawnTied(const std::vector<std::string>& argv,
                          const std::vector<std::string>& env) {
  // Everything the child needs is prepared before fork: after it only async-signal-safe calls.
  std::vector<char*> args, envp;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return Status::IoError("cannot start " + argv[0] + ": " + std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // we died before prctl took hold
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0 && null != STDIN_FILENO) {
      ::dup2(null, STDIN_FILENO);
      ::close(null);
    }
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here, so that it holds before we signal the group
  return pid;
}

std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> children;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so parse after the last ')'.
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    long long ppid = 0;
    if (rest >> state >> ppid && ppid == parent) children.push_back(std::stoi(name));
  }
  return children;
}

}  // namespace perflaw::orchestrator
