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

}  // namespace mmsr
