#include "mmsr/allocator.h"

#include <malloc.h>

namespace mmsr {

void keep_large_allocations_in_heap() {
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  // Never trim (mallopt(3): -1 disables it): a step frees more than any fixed threshold (ODMT's, above 1 GB),
  // and trimming it made the next step fault it all in again.
  mallopt(M_TRIM_THRESHOLD, -1);
  mallopt(M_TOP_PAD, 64 << 20);
}

}  // namespace mmsr
