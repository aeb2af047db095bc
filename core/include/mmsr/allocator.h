// How mmsr's processes ask glibc to allocate: once, at the start of a program (the CLI, the benchmark suite).
#pragma once

namespace mmsr {

// Training allocates and frees tensors of tens of MB every step. glibc serves those with mmap and returns them to
// the kernel on free, so every step page-faults them in again (measured: half the CPU time in the kernel on
// Beauty). This keeps them in the heap, for reuse.
void keep_large_allocations_in_heap();

}  // namespace mmsr
