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

ChildExit run_child(const std::vector<std::string>& argv, double timeout_seconds) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
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
  close(fds[1]);
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  ChildExit result;
  LastLines lines;
  bool forwarded = false, open = true;
  double term_sent_at = -1;
  char buf[4096];
  for (;;) {
    if (open) {
      pollfd p{fds[0], POLLIN, 0};
      int r = poll(&p, 1, 500);
      if (r > 0) {
        ssize_t n = read(fds[0], buf, sizeof(buf));
        if (n > 0) {
          (void)!write(STDERR_FILENO, buf, size_t(n));
          lines.add(buf, size_t(n));
        } else if (n == 0) {
          open = false;
        }
      }
    } else {
      usleep(100 * 1000);
    }
    int status = 0;
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      // Drain what is left in the pipe.
      ssize_t n;
      while (open && (n = read(fds[0], buf, sizeof(buf))) > 0) {
        (void)!write(STDERR_FILENO, buf, size_t(n));
        lines.add(buf, size_t(n));
      }
      if (WIFEXITED(status)) {
        result.exited = true;
        result.code = WEXITSTATUS(status);
      } else if (WIFSIGNALED(status)) {
        result.signal = WTERMSIG(status);
      }
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
    // A run that does not stop within a grace period after SIGTERM (stuck inside a plugin) is killed.
    const double grace = std::clamp(timeout_seconds * 0.1, 2.0, 30.0);
    if (term_sent_at >= 0 && elapsed() - term_sent_at > grace) kill(pid, SIGKILL);
  }
  close(fds[0]);
  result.last_lines = lines.take();
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
