#include "child.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <stdexcept>

#include <fmt/format.h>

#include "mmsr/interrupt.h"

namespace mmsr {
namespace {

constexpr size_t kKeptLines = 20;

// Splits the child's output into lines ('\r' ends a progress-line update too) and keeps the last ones.
class LastLines {
 public:
  void add(const char* data, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      if (data[i] == '\n' || data[i] == '\r') {
        push();
      } else {
        current_ += data[i];
      }
    }
  }
  std::vector<std::string> take() {
    push();
    return {lines_.begin(), lines_.end()};
  }

 private:
  void push() {
    // Progress updates start with an ANSI "clear line"; they are not worth keeping.
    if (!current_.empty() && current_.rfind("\033[K", 0) != 0) {
      lines_.push_back(current_);
      if (lines_.size() > kKeptLines) lines_.pop_front();
    }
    current_.clear();
  }
  std::deque<std::string> lines_;
  std::string current_;
};

}  // namespace

std::string ChildExit::describe() const {
  if (timed_out) return "stopped at its time limit";
  if (exited) return fmt::format("exit code {}", code);
  const char* name = strsignal(signal);
  return fmt::format("killed by signal {} ({}){}", signal, name ? name : "?",
                     signal == SIGKILL ? ": out of memory, or killed from outside" : "");
}

namespace {

// Starts argv[0] with its stdout and stderr into the pipe's write end; the child never returns from here.
pid_t start_child(const std::vector<std::string>& argv, int fds[2]) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    execv(args[0], args.data());
    const char msg[] = "mmsr: cannot start the run's process\n";
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
    _exit(127);
  }
  return pid;
}

// The child's output, passed through to ours and its last lines kept.
class OutputRelay {
 public:
  explicit OutputRelay(int fd) : fd_(fd) {}
  // Waits up to half a second for output (or sleeps a tenth once the pipe is closed).
  void relay_some() {
    if (!open_) {
      usleep(100 * 1000);
      return;
    }
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 500) <= 0) return;
    ssize_t n = read(fd_, buf_, sizeof(buf_));
    if (n > 0) pass(size_t(n));
    else if (n == 0) open_ = false;
  }
  void drain() {
    ssize_t n;
    while (open_ && (n = read(fd_, buf_, sizeof(buf_))) > 0) pass(size_t(n));
  }
  std::vector<std::string> last_lines() { return lines_.take(); }

 private:
  void pass(size_t n) {
    (void)!write(STDERR_FILENO, buf_, n);
    lines_.add(buf_, n);
  }
  int fd_;
  bool open_ = true;
  char buf_[4096];
  LastLines lines_;
};

}  // namespace

ChildExit run_child(const std::vector<std::string>& argv, double timeout_seconds) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  const pid_t pid = start_child(argv, fds);
  close(fds[1]);
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  // A run that does not stop within a grace period after SIGTERM (stuck inside a plugin) is killed.
  const double grace = std::clamp(timeout_seconds * 0.1, 2.0, 30.0);
  ChildExit result;
  OutputRelay output(fds[0]);
  bool forwarded = false;
  double term_sent_at = -1;
  for (;;) {
    output.relay_some();
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      output.drain();
      result.exited = WIFEXITED(status);
      if (result.exited) result.code = WEXITSTATUS(status);
      else if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
      break;
    }
    if (interrupt_requested() && !forwarded) {
      kill(pid, SIGTERM);  // the child records its run as interrupted and exits
      forwarded = true;
    }
    if (timeout_seconds > 0 && elapsed() > timeout_seconds && term_sent_at < 0) {
      result.timed_out = true;
      kill(pid, SIGTERM);
      term_sent_at = elapsed();
    }
    if (term_sent_at >= 0 && elapsed() - term_sent_at > grace) kill(pid, SIGKILL);
  }
  close(fds[0]);
  result.last_lines = output.last_lines();
  return result;
}

int start_helper(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);  // the parent died before the line above took effect
    execv(args[0], args.data());
    const char msg[] = "mmsr: cannot start the run's training process\n";
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
    _exit(127);
  }
  return int(pid);
}

std::string finish_helper(int pid, double seconds) {
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  for (;;) {
    pid_t w = waitpid(pid_t(pid), &status, WNOHANG);
    if (w == pid_t(pid)) break;
    if (w < 0) return "gone";
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > seconds) {
      kill(pid_t(pid), SIGKILL);
      waitpid(pid_t(pid), &status, 0);
      return "killed after its run ended";
    }
    usleep(20 * 1000);
  }
  ChildExit e;
  e.exited = WIFEXITED(status);
  e.code = e.exited ? WEXITSTATUS(status) : 0;
  e.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return e.describe();
}

}  // namespace mmsr
