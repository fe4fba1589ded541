#include "cli/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>

namespace ps::cli {

namespace {

using Clock = std::chrono::steady_clock;

// How long the pipes may stay open after the program itself exited: a descendant still holding
// them (a script's background job) is not waited for longer than this, then killed.
constexpr auto kDrainAfterExit = std::chrono::milliseconds(500);
// The longest poll() sleep, so that the exit of the program is noticed even while a descendant
// keeps its pipes open.
constexpr int kPollSliceMs = 50;
constexpr auto kExitPollInterval = std::chrono::milliseconds(10);

std::string ErrnoText(int err) { return std::strerror(err); }

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  ~Fd() { Reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read, write;
};

Status MakePipe(Pipe* pipe) {
  int fds[2];
  // Close-on-exec: the child gets its ends through dup2 (which clears the flag on the copy), and
  // no other program started later inherits them.
  if (pipe2(fds, O_CLOEXEC) != 0) return Status::IOError("pipe: " + ErrnoText(errno));
  pipe->read.Reset(fds[0]);
  pipe->write.Reset(fds[1]);
  return Status::Ok();
}

// The child side of fork(): only async-signal-safe calls, since the parent may have other threads.
// Reports a failure before or in execv by writing errno to `report_fd`.
[[noreturn]] void ExecChild(char* const* argv, int out_fd, int err_fd, int report_fd, pid_t parent) {
  // Its own process group, so that a timeout kills everything it started; and it dies with us.
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);  // we died before prctl took effect
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &dfl, nullptr);
  const int in = open("/dev/null", O_RDONLY);
  if (in >= 0 && dup2(in, STDIN_FILENO) >= 0 && dup2(out_fd, STDOUT_FILENO) >= 0 &&
      dup2(err_fd, STDERR_FILENO) >= 0) {
    execv(argv[0], argv);
  }
  const int err = errno;
  ssize_t ignored = write(report_fd, &err, sizeof err);
  (void)ignored;
  _exit(127);
}

// True once the child has exited; leaves it unreaped (WNOWAIT), so that its pid, which is also
// its process group id, cannot be reused while we may still signal that group.
bool HasExited(pid_t pid) {
  siginfo_t info{};
  return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

void KillGroup(pid_t pid) {
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);  // in case it never got its own group
}

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

Status CheckExecutableFile(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return Status::NotFound(path + ": no such file");
    return Status::InvalidArgument(path + ": " + ErrnoText(errno));
  }
  if (S_ISDIR(st.st_mode)) return Status::InvalidArgument(path + ": is a directory, not a program");
  if (access(path.c_str(), X_OK) != 0) return Status::InvalidArgument(path + ": not executable (" + ErrnoText(errno) + ")");
  return Status::Ok();
}

}  // namespace

Result<std::string> ResolveExecutable(const std::string& name) {
  if (name.empty()) return Status::InvalidArgument("empty program path");
  if (name.find('/') != std::string::npos) {
    PS_RETURN_IF_ERROR(CheckExecutableFile(name));
    return name;
  }
  const char* path_env = std::getenv("PATH");
  const std::string path = path_env != nullptr ? path_env : "";
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = path.find(':', begin);
    if (end == std::string::npos) end = path.size();
    const std::string dir = end > begin ? path.substr(begin, end - begin) : ".";  // empty entry: cwd
    const std::string candidate = dir + "/" + name;
    if (CheckExecutableFile(candidate).ok()) return candidate;
    begin = end + 1;
  }
  return Status::NotFound(name + ": no such program in $PATH (give its path)");
}

Result<ProgramOutput> RunProgram(const std::vector<std::string>& argv, const ProgramLimits& limits) {
  if (argv.empty()) return Status::InvalidArgument("RunProgram: empty argv");
  const std::string& program = argv[0];
  Pipe out, err, report;
  PS_RETURN_IF_ERROR(MakePipe(&out));
  PS_RETURN_IF_ERROR(MakePipe(&err));
  PS_RETURN_IF_ERROR(MakePipe(&report));

  // Everything the child uses is built before fork.
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(limits.timeout_seconds));

  const pid_t pid = fork();
  if (pid < 0) return Status::IOError("fork for " + program + ": " + ErrnoText(errno));
  if (pid == 0) ExecChild(args.data(), out.write.get(), err.write.get(), report.write.get(), parent);

  setpgid(pid, pid);  // also here, so that the group exists before we might signal it
  out.write.Reset();
  err.write.Reset();
  report.write.Reset();

  // Either execv succeeded (the close-on-exec pipe closes with nothing written) or the child
  // wrote its errno.
  int exec_errno = 0;
  ssize_t got;
  do {
    got = read(report.read.get(), &exec_errno, sizeof exec_errno);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof exec_errno)) {
    int status = 0;
    waitpid(pid, &status, 0);
    return Status::InvalidArgument("cannot execute " + program + ": " + ErrnoText(exec_errno));
  }

  ProgramOutput result;
  std::string* sinks[2] = {&result.out, &result.err};
  const char* stream_names[2] = {"stdout", "stderr"};
  pollfd fds[2] = {{out.read.get(), POLLIN, 0}, {err.read.get(), POLLIN, 0}};
  std::optional<Clock::time_point> exited_at;
  Status failure;
  char buffer[1 << 16];
  while (failure.ok() && (fds[0].fd >= 0 || fds[1].fd >= 0)) {
    const auto now = Clock::now();
    if (now >= deadline) break;
    if (!exited_at && HasExited(pid)) exited_at = now;
    if (exited_at && now - *exited_at > kDrainAfterExit) break;
    const auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    const int slice = static_cast<int>(std::clamp<int64_t>(left_ms, 1, kPollSliceMs));
    if (poll(fds, 2, slice) < 0) {
      if (errno == EINTR) continue;
      failure = Status::IOError("poll on the output of " + program + ": " + ErrnoText(errno));
      break;
    }
    for (int i = 0; i < 2 && failure.ok(); ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        if (sinks[i]->size() + static_cast<size_t>(n) > limits.max_output_bytes) {
          failure = Status::Unavailable(program + " wrote more than " + std::to_string(limits.max_output_bytes) +
                                        " bytes to " + stream_names[i] + " (killed)");
          break;
        }
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        fds[i].fd = -1;  // end of stream (the Fd closes it)
      }
    }
  }
  // The output is complete (or abandoned); wait for the exit itself within the same deadline.
  while (failure.ok() && !HasExited(pid)) {
    if (Clock::now() >= deadline) {
      char limit[32];
      std::snprintf(limit, sizeof limit, "%g", limits.timeout_seconds);
      failure = Status::Unavailable(program + " did not finish within " + limit + " s (killed)");
      break;
    }
    std::this_thread::sleep_for(kExitPollInterval);
  }
  // Whether it finished or not: nothing it started outlives this call. The leader is not reaped
  // yet, so its group id still names only its own processes.
  KillGroup(pid);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!failure.ok()) return failure;
  result.exit_code = ExitCode(status);
  return result;
}

}  // namespace ps::cli
