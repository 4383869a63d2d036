/* What the portable agent needs from a board: a clock, a cycle source, stack bounds and entropy. */
#ifndef PQIOT_PLATFORM_H
#define PQIOT_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds since start (wraps); used only for reassembly timeouts. */
uint32_t plat_millis(void);
/* The measurement counter, extended to 64 bits. */
uint64_t plat_cycles(void);
/* TAP names: "dwt" / "systick" / "qemu-icount" / "host-ns". */
const char *plat_cycle_source(void);
uint32_t plat_clock_hz(void);
/* Non-zero if the board can paint its stack (REQ-TAP-019). */
int plat_has_stack_paint(void);
/* Lowest address of the stack region (only if plat_has_stack_paint()). */
uint8_t *plat_stack_limit(void);
/* Build identification for IDENTIFY. */
const char *plat_product(void);
/* Fill out with len bytes of full entropy for seeding the DRBG (rng.c): the host's getrandom(2),
 * semihosting reads of the host's /dev/urandom under QEMU, a TRNG on a real board.
 * 0, or -1 if this platform has no entropy source (then the firmware has no RNG). */
int plat_entropy(uint8_t *out, size_t len);

#endif
