// free_memory.cpp - the usual freeMemory() idiom of the SAMD boards: the
// heap ends at the program break, sbrk(0), and grows up towards the stack,
// which grows down from the top of RAM; a local variable's address is (near
// enough) the stack pointer.
#include <stddef.h>
#include <stdint.h>

#include "free_memory.h"

// newlib's declaration, repeated: <unistd.h> hides it outside the GNU dialects.
extern "C" void* sbrk(ptrdiff_t increment);

uint32_t free_memory() {
  char top;
  const uintptr_t stack = reinterpret_cast<uintptr_t>(&top);
  const uintptr_t heap_end = reinterpret_cast<uintptr_t>(sbrk(0));
  return stack > heap_end ? static_cast<uint32_t>(stack - heap_end) : 0;  // 0: they have met
}
