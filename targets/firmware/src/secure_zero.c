#include "secure_zero.h"

#include <stdint.h>
#include <string.h>

/* memset is reached through a volatile function pointer: the compiler must load the pointer
 * at run time and cannot prove the call is memset, so it cannot treat the stores as dead. The
 * empty asm that takes p and clobbers memory additionally tells it the zeros may be read. */
static void *(*volatile const zero_bytes)(void *, int, size_t) = memset;

void secure_zero(void *p, size_t len)
{
    if (p == NULL || len == 0) {
        return;
    }
    zero_bytes(p, 0, len);
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

__attribute__((noinline)) void secure_stack_burn(size_t len)
{
    uint8_t below[len]; /* C99 variable-length array: exactly len bytes of this frame */
    secure_zero(below, len);
}
