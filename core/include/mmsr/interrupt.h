// Graceful stop on SIGINT / SIGTERM: the handler only sets a flag; the trainer checks it between steps, the
// current run is recorded as 'interrupted', and the grid stops with the store consistent. A second signal
// while stopping ends the process at once (the run stays 'running' and is restarted next time).
#pragma once

namespace mmsr {

void install_interrupt_handlers();
void request_interrupt();  // what the handler does; also for tests
void clear_interrupt();
bool interrupt_requested();

}  // namespace mmsr
