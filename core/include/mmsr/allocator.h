// How mmsr's processes ask glibc to allocate: once, at the start of a program (the CLI, the benchmark suite).
#pragma once

namespace mmsr {

// Training allocates and frees tensors of tens of MB every step. glibc serves those with mmap and returns them to
// the kernel on free, and trims the heap once more than a threshold is free, so every step page-faults them in
// again (measured: half the CPU time in the kernel on Beauty; 236k faults an ODMT step with a 1 GB threshold, 46k
// without trimming). This keeps them in the heap and never trims it: a process keeps its peak memory until it ends.
void keep_large_allocations_in_heap();

}  // namespace mmsr
