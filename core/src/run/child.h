// Running one grid run in a child process: its output passes through to ours, its last lines are kept for the
// store's error message, interrupts are forwarded, and an optional time limit stops it (SIGTERM, then SIGKILL).
#pragma once

#include <string>
#include <vector>

namespace mmsr {

struct ChildExit {
  bool exited = false;    // exited normally with `code`
  int code = 0;
  int signal = 0;         // killed by this signal
  bool timed_out = false; // stopped for exceeding the time limit
  std::vector<std::string> last_lines;
  std::string describe() const;  // "exit code 1", "killed by signal 11 (Segmentation fault)", ...
};

// Starts argv[0] with argv (stdout and stderr into a pipe we read), waits for it, forwards SIGINT/SIGTERM
// received by this process as one SIGTERM, and stops it after timeout_seconds (0 = no limit).
ChildExit run_child(const std::vector<std::string>& argv, double timeout_seconds);

// A helper process of the current run (a data-parallel training process): started with argv, sharing our output,
// and killed by the kernel if this process dies first, so that none outlives its run.
int start_helper(const std::vector<std::string>& argv);

// Waits up to `seconds` for a helper to exit, then kills it. Returns how it ended ("exit code 0", ...).
std::string finish_helper(int pid, double seconds);

}  // namespace mmsr
