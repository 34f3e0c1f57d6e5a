// free_memory.h - how much RAM is left between the heap and the stack.
#ifndef ECG_FREE_MEMORY_H
#define ECG_FREE_MEMORY_H

#include <stdint.h>

// Bytes between the top of the heap and the stack pointer: what the heap can
// still grow by before it runs into the stack.  Freed blocks inside the heap
// are not counted, so this errs on the safe side.  The host simulation has
// its own (firmware/tests/test_sketch.cpp).
uint32_t free_memory();

#endif  // ECG_FREE_MEMORY_H
